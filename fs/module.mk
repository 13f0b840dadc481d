# fs: the FUSE daemon and the hsmfs command.
FS_SRC += fs/main.c fs/cmd_init.c fs/cmd_mount.c fs/cmd_umount.c \
	fs/pin.c fs/ename.c fs/content.c fs/ops_file.c fs/ops_xattr.c \
	fs/volume.c fs/ops.c fs/inode.c fs/ctl.c fs/cmd_status.c \
	fs/walk.c fs/rekey.c fs/redata.c fs/cmd_rekey.c fs/cmd_fsck.c \
	fs/cmd_inspect.c fs/prefetch.c fs/readahead.c fs/mountinfo.c
HSMFS_SRC := $(COMMON_SRC) $(CRYPTO_SRC) $(HSMCLIENT_SRC) \
	$(HSMCLIENT_PROD_SRC) $(FS_SRC)
BINS += $(B)/hsmfs

$(B)/hsmfs: $(call objs,$(HSMFS_SRC))
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)
