# torture: differential random-operation tester (tests/torture/torture.c
# says how to run it; tests/integration/torture.sh runs it on mounts), and
# crashwriter, the journaling writer of tests/integration/crash.sh.
TORTURE_SRC := tests/torture/torture.c tests/torture/ops.c tests/torture/tree.c
TEST_BINS += $(B)/tests/torture $(B)/tests/crashwriter
$(B)/tests/torture: $(call objs,$(TORTURE_SRC))
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lpthread
$(B)/tests/crashwriter: $(call objs,tests/torture/crashwriter.c)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^
