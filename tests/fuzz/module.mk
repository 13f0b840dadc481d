# Fuzz targets (libFuzzer, clang): one per parser of untrusted bytes.
#   make fuzz                  build them into $(B)/fuzz/
#   make fuzz-smoke            run each for FUZZ_SECONDS on a copy of its
#                              corpus; fails on any crash
#   make fuzz-seeds            regenerate tests/fuzz/corpus from the encoders
# Fuzz objects are built by clang apart from the gcc objects, with ASan
# and UBSan (so without _FORTIFY_SOURCE, as for the sanitizer unit tests).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 20
# The format's targets link common/ and crypto/ alone; the HSM client's
# link it too.
FUZZ_CRYPTO_TARGETS := fuzz_hdr fuzz_conf fuzz_names
FUZZ_HSM_TARGETS := fuzz_azure_json fuzz_p11_uri
FUZZ_TARGETS := $(FUZZ_CRYPTO_TARGETS) $(FUZZ_HSM_TARGETS)
FUZZ_BINS := $(patsubst %,$(B)/fuzz/%,$(FUZZ_TARGETS))
FUZZ_CRYPTO_SRC := $(COMMON_SRC) $(CRYPTO_SRC)
FUZZ_LIB_SRC := $(FUZZ_CRYPTO_SRC) tests/lib/testkek.c $(HSMCLIENT_SRC)
FUZZ_SAN := -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer
# clang 14 has no -Wformat-truncation to turn off.
FUZZ_CFLAGS = $(filter-out -D_FORTIFY_SOURCE=2,$(BASE_CFLAGS)) \
	$(PKG_CFLAGS) $(filter-out -Wno-format-truncation,$(WARN)) \
	-g -O1 $(FUZZ_SAN)

fuzzobjs = $(patsubst %.c,$(B)/fuzzobj/%.o,$(1))

$(B)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC-FUZZ,$<)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(patsubst %,$(B)/fuzz/%,$(FUZZ_CRYPTO_TARGETS)): $(B)/fuzz/%: \
		$(call fuzzobjs,tests/fuzz/%.c $(FUZZ_CRYPTO_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD-FUZZ,$@)$(FUZZ_CC) $(FUZZ_SAN) $(LDFLAGS) -o $@ $^ \
		$(CRYPTO_LIBS)

$(patsubst %,$(B)/fuzz/%,$(FUZZ_HSM_TARGETS)): $(B)/fuzz/%: \
		$(call fuzzobjs,tests/fuzz/%.c $(FUZZ_LIB_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD-FUZZ,$@)$(FUZZ_CC) $(FUZZ_SAN) $(LDFLAGS) -o $@ $^ $(LIBS)

# Keep the objects: make would otherwise delete them as intermediates.
.SECONDARY: $(call fuzzobjs,$(FUZZ_LIB_SRC) \
	$(patsubst %,tests/fuzz/%.c,$(FUZZ_TARGETS)))

fuzz: $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	$(Q)mkdir -p $(B)/fuzz/artifacts; \
	for t in $(FUZZ_TARGETS); do \
		w=$(B)/fuzz/work/$$t; rm -rf $$w; mkdir -p $$w; \
		cp tests/fuzz/corpus/$$t/* $$w/ || exit 1; \
		printf '  %-7s %s (%s s)\n' FUZZ $$t $(FUZZ_SECONDS); \
		if ! $(B)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) \
			-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=$(B)/fuzz/artifacts/$$t- $$w \
			>$(B)/fuzz/$$t.log 2>&1; then \
			tail -n 60 $(B)/fuzz/$$t.log; \
			echo "fuzz-smoke: $$t failed; see $(B)/fuzz/$$t.log" \
				"and $(B)/fuzz/artifacts/"; \
			exit 1; \
		fi; \
		grep -E '^(Done|stat::exec)' $(B)/fuzz/$$t.log | tr '\n' ' '; \
		echo; \
	done

# The seed generator uses the ordinary (gcc) objects; the Azure seeds are
# canned JSON, so it needs no more than the format.
FUZZ_SEED_SRC := tests/fuzz/mkseeds.c $(FUZZ_CRYPTO_SRC)
$(B)/tests/fuzz-mkseeds: $(call objs,$(FUZZ_SEED_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CRYPTO_LIBS)

fuzz-seeds: $(B)/tests/fuzz-mkseeds
	$(Q)$< tests/fuzz/corpus

.PHONY: fuzz fuzz-smoke fuzz-seeds
