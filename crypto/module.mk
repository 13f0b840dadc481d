# crypto: the on-disk format and primitives.
CRYPTO_SRC += crypto/keys.c crypto/blk.c crypto/hdr.c crypto/names.c \
	crypto/conf.c crypto/layout.c crypto/fmeta.c
