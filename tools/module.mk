# tools: emulator, bench, demo.
-include tools/hsm-emulator/module.mk
