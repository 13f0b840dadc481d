# fs: the hsmfs program, in four layers whose includes point down only:
#   cli      the command line: one file per subcommand, exit codes
#   fuse     the FUSE daemon (its interface: fs/daemon.h)
#   offline  the tools that work on the backing tree: walk, rekey, fsck
#   vol      a volume: options, open/create, pin, file keys, backing
#            names, finding its mount
FS_VOL_SRC := $(wildcard fs/vol/*.c)
FS_FUSE_SRC := $(wildcard fs/fuse/*.c)
FS_OFFLINE_SRC := $(wildcard fs/offline/*.c)
FS_CLI_SRC := $(wildcard fs/cli/*.c)
FS_SRC := $(FS_CLI_SRC) $(FS_FUSE_SRC) $(FS_OFFLINE_SRC) $(FS_VOL_SRC)
HSMFS_SRC := $(COMMON_SRC) $(CRYPTO_SRC) $(HSMCLIENT_SRC) \
	$(HSMCLIENT_PROD_SRC) $(FS_SRC)
BINS += $(B)/hsmfs

$(B)/hsmfs: $(call objs,$(HSMFS_SRC))
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)
