# Test programs that integration tests run; never installed.
# keydump prints a backing file's keys (tests/integration/secrets.sh looks
# for them in the daemon's memory): the volume layer with the shipped
# provider table, so that it reaches the HSM as a mount does.
KEYDUMP_SRC := tests/tools/keydump.c $(COMMON_SRC) $(CRYPTO_SRC) \
	$(HSMCLIENT_SRC) $(HSMCLIENT_PROD_SRC) $(FS_VOL_SRC)
TEST_BINS += $(B)/tests/keydump
$(B)/tests/keydump: $(call objs,$(KEYDUMP_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)
