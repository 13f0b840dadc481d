# tests: unit (plain and ASan+UBSan), POSIX checker, integration, and the
# programs integration tests run.
-include tests/unit/module.mk
-include tests/posix/module.mk
-include tests/fuzz/module.mk
-include tests/hsm/module.mk
-include tests/torture/module.mk
-include tests/tools/module.mk
