# Unit tests: each tests/unit/*_test.c is a program, built plainly and with
# ASan+UBSan. Tests of common/ and crypto/ link those alone (no hsmclient,
# no libcurl); the tests listed in UNIT_HSM_TESTS link the HSM client and
# the software test KEK, never the shipped provider table; those in
# VOL_TESTS link fs/vol too, and those in OFFLINE_TESTS the walk of the
# offline tools besides.
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/*_test.c))
UNIT_HSM_TESTS := kek_test dekcache_test retry_test failover_test
VOL_TESTS := bname_test mnt_test vol_opts_test vol_test
OFFLINE_TESTS := walk_test
UNIT_CRYPTO_TESTS := $(filter-out $(UNIT_HSM_TESTS) $(VOL_TESTS) \
	$(OFFLINE_TESTS),$(UNIT_TESTS))
UNIT_CRYPTO_SRC := tests/unit/check.c tests/unit/fixtures.c $(COMMON_SRC) \
	$(CRYPTO_SRC)
UNIT_HSM_SRC := tests/unit/check.c tests/lib/testkek.c $(COMMON_SRC) \
	$(CRYPTO_SRC) $(HSMCLIENT_SRC)

TEST_BINS += $(patsubst %,$(B)/tests/unit/%,$(UNIT_TESTS)) \
	$(patsubst %,$(B)/tests/san/%,$(UNIT_TESTS))

$(patsubst %,$(B)/tests/unit/%,$(UNIT_CRYPTO_TESTS)): $(B)/tests/unit/%: \
		$(call objs,tests/unit/%.c $(UNIT_CRYPTO_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CRYPTO_LIBS)

$(patsubst %,$(B)/tests/san/%,$(UNIT_CRYPTO_TESTS)): $(B)/tests/san/%: \
		$(call sanobjs,tests/unit/%.c $(UNIT_CRYPTO_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD-SAN,$@)$(CC) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ \
		$(CRYPTO_LIBS)

$(patsubst %,$(B)/tests/unit/%,$(UNIT_HSM_TESTS)): $(B)/tests/unit/%: \
		$(call objs,tests/unit/%.c $(UNIT_HSM_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(patsubst %,$(B)/tests/san/%,$(UNIT_HSM_TESTS)): $(B)/tests/san/%: \
		$(call sanobjs,tests/unit/%.c $(UNIT_HSM_SRC))
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

# Unit tests of the volume layer, with the helper for temporary
# directories.
VOL_TEST_SRC := tests/unit/tmpdir.c $(UNIT_HSM_SRC) $(FS_VOL_SRC)

$(patsubst %,$(B)/tests/unit/%,$(VOL_TESTS)): $(B)/tests/unit/%: \
		$(call objs,tests/unit/%.c $(VOL_TEST_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(patsubst %,$(B)/tests/san/%,$(VOL_TESTS)): $(B)/tests/san/%: \
		$(call sanobjs,tests/unit/%.c $(VOL_TEST_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD-SAN,$@)$(CC) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# Unit tests of the offline tools' walk.
OFFLINE_TEST_SRC := $(VOL_TEST_SRC) fs/offline/walk.c

$(patsubst %,$(B)/tests/unit/%,$(OFFLINE_TESTS)): $(B)/tests/unit/%: \
		$(call objs,tests/unit/%.c $(OFFLINE_TEST_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(patsubst %,$(B)/tests/san/%,$(OFFLINE_TESTS)): $(B)/tests/san/%: \
		$(call sanobjs,tests/unit/%.c $(OFFLINE_TEST_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD-SAN,$@)$(CC) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)
