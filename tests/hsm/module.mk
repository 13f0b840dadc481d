# tests/hsm: the Azure KEK provider against a real HSM emulator (and a
# tiny canned-bytes TLS server for faults the emulator cannot produce).
HSMCLIENT_TEST_SRC := tests/hsm/hsmclient_test.c tests/hsm/fakesrv.c \
	tests/unit/check.c hsmclient/kek.c $(HSMCLIENT_AZURE_SRC) \
	$(HSMCLIENT_PKCS11_SRC) \
	$(HSMCLIENT_PROD_SRC) $(COMMON_SRC)
TEST_BINS += $(B)/tests/hsmclient_test
$(B)/tests/hsmclient_test: $(call objs,$(HSMCLIENT_TEST_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)
# Same test with ASan+UBSan.
TEST_BINS += $(B)/tests/hsmclient_test-san
$(B)/tests/hsmclient_test-san: $(call sanobjs,$(HSMCLIENT_TEST_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)
# The PKCS#11 KEK provider against SoftHSM2 (a token in a temporary
# directory; the module registered with p11-kit).
PKCS11_TEST_SRC := tests/hsm/pkcs11_test.c tests/unit/check.c \
	hsmclient/kek.c $(HSMCLIENT_AZURE_SRC) $(HSMCLIENT_PKCS11_SRC) \
	$(HSMCLIENT_PROD_SRC) $(COMMON_SRC)
TEST_BINS += $(B)/tests/pkcs11_test
$(B)/tests/pkcs11_test: $(call objs,$(PKCS11_TEST_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)
# Same test with ASan+UBSan.
TEST_BINS += $(B)/tests/pkcs11_test-san
$(B)/tests/pkcs11_test-san: $(call sanobjs,$(PKCS11_TEST_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)
