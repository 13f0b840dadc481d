# Unit tests: each tests/unit/*_test.c is a program, built plainly and with
# ASan+UBSan. Test programs link the software test KEK, never the shipped
# provider table.
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/*_test.c))
UNIT_LIB_SRC := tests/unit/check.c tests/lib/testkek.c $(COMMON_SRC) \
	$(CRYPTO_SRC) $(HSMCLIENT_SRC)

TEST_BINS += $(patsubst %,$(B)/tests/unit/%,$(UNIT_TESTS)) \
	$(patsubst %,$(B)/tests/san/%,$(UNIT_TESTS))

$(B)/tests/unit/%: $(call objs,tests/unit/%.c $(UNIT_LIB_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/san/%: $(call sanobjs,tests/unit/%.c $(UNIT_LIB_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD-SAN,$@)$(CC) $(SAN_FLAGS) -o $@ $^ $(LIBS)

# The daemon with the test KEK, for integration tests that need no HSM.
HSMFS_TEST_SRC := $(COMMON_SRC) $(CRYPTO_SRC) $(HSMCLIENT_SRC) \
	tests/lib/testkek.c $(FS_SRC)
TEST_BINS += $(B)/tests/hsmfs-test
$(B)/tests/hsmfs-test: $(call objs,$(HSMFS_TEST_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) -o $@ $^ $(LIBS)
