# fscheck: POSIX behaviour checker (tests/posix/fscheck.c says how to run it).
FSCHECK_SRC := $(wildcard tests/posix/*.c)
TEST_BINS += $(B)/tests/fscheck
$(B)/tests/fscheck: $(call objs,$(FSCHECK_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lpthread
