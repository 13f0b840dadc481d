# tools/hsm-emulator: local Managed HSM emulator (HTTPS, token endpoint,
# local RBAC, audit log, fault injection). Links only OpenSSL, cJSON and
# libmicrohttpd.
EMU_SRC := $(wildcard tools/hsm-emulator/*.c) $(COMMON_SRC)
BINS += $(B)/hsm-emulator
$(B)/hsm-emulator: $(call objs,$(EMU_SRC))
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(EMU_LIBS)

# Same binary with ASan+UBSan, for checking the emulator itself.
$(B)/hsm-emulator-san: $(call sanobjs,$(EMU_SRC))
	$(call say,LD,$@)$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(EMU_LIBS)
