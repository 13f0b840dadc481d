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
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/san/%: $(call sanobjs,tests/unit/%.c $(UNIT_LIB_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD-SAN,$@)$(CC) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# The daemon with the test KEK, for integration tests that need no HSM.
HSMFS_TEST_SRC := $(COMMON_SRC) $(CRYPTO_SRC) $(HSMCLIENT_SRC) \
	tests/lib/testkek.c $(FS_SRC)
TEST_BINS += $(B)/tests/hsmfs-test
$(B)/tests/hsmfs-test: $(call objs,$(HSMFS_TEST_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# The daemon with the test KEK under ASan+UBSan and under TSan, for the
# sanitizer integration run (tests/integration/sanitizers.sh).
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
TSAN_CFLAGS = $(filter-out -D_FORTIFY_SOURCE=2,$(ALL_CFLAGS)) $(TSAN_FLAGS) -O1
tsanobjs = $(patsubst %.c,$(B)/tsan/%.o,$(1))

$(B)/tsan/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC-TSAN,$<)$(CC) $(TSAN_CFLAGS) -c -o $@ $<

TEST_BINS += $(B)/tests/hsmfs-test-san $(B)/tests/hsmfs-test-tsan
$(B)/tests/hsmfs-test-san: $(call sanobjs,$(HSMFS_TEST_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD-SAN,$@)$(CC) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/hsmfs-test-tsan: $(call tsanobjs,$(HSMFS_TEST_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD-TSAN,$@)$(CC) $(TSAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# Unit tests of the volume layer link fs/vol too, and the helper for
# temporary directories.
VOL_TESTS := bname_test mnt_test vol_opts_test vol_test
VOL_TEST_SRC := tests/unit/tmpdir.c $(UNIT_LIB_SRC) $(FS_VOL_SRC)

$(patsubst %,$(B)/tests/unit/%,$(VOL_TESTS)): $(B)/tests/unit/%: \
		$(call objs,tests/unit/%.c $(VOL_TEST_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(patsubst %,$(B)/tests/san/%,$(VOL_TESTS)): $(B)/tests/san/%: \
		$(call sanobjs,tests/unit/%.c $(VOL_TEST_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD-SAN,$@)$(CC) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)
