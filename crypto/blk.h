/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Content blocks: AES-256-GCM over 4096-byte plaintext blocks.
 * A ciphertext block is nonce(12) || ciphertext(n) || tag(16), n in 1..4096,
 * with AAD = file id(16) || block number (u64 big-endian).
 *
 * Errors (the convention of crypto/keys.h): 0 or a length, else -errno;
 * -EBADMSG for a block that is not authentic and for nothing else,
 * -EINVAL for a length out of range, -EIO or -ENOMEM if the cipher could
 * not run.
 */
#ifndef HSMFS_BLK_H
#define HSMFS_BLK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "keys.h"

#define BLK_PLAIN 4096
#define BLK_NONCE 12
#define BLK_TAG 16
#define BLK_OVERHEAD (BLK_NONCE + BLK_TAG)
#define BLK_CIPHER (BLK_PLAIN + BLK_OVERHEAD)

/* A file's content key, derived from its DEK once per open inode. The
 * serial lets each thread keep one GCM context keyed for the last file it
 * touched instead of re-running the key schedule for every block; those
 * contexts are in ordinary memory, so they are wiped with the key. */
struct blk_key {
	uint8_t key[KEY_LEN];
	uint8_t file_id[ID_LEN];
	uint64_t serial;
};

/* Allocates a blk_key in locked memory, derived from dek. NULL on error. */
struct blk_key *blk_key_new(const uint8_t dek[KEY_LEN],
			    const uint8_t file_id[ID_LEN]);
/* Wipes k and every thread's cipher context keyed with it; NULL is a
 * no-op. No thread may be using k. */
void blk_key_free(struct blk_key *k);
/* Wipes every thread's cipher contexts, whatever key they hold (a cache
 * flush, an unmount); keys still in use re-key them on their next block. */
void blk_wipe_all(void);

/* Encrypts n (1..BLK_PLAIN) bytes into out (n + BLK_OVERHEAD bytes).
 * nonce NULL draws a random one. 0, -EINVAL, -EIO or -ENOMEM. */
int blk_encrypt(const struct blk_key *k, uint64_t blockno, const uint8_t *in,
		size_t n, const uint8_t *nonce, uint8_t *out);
/* The same with the parts apart (the aligned layout keeps nonce and tag
 * away from the data): blk_seal draws the nonce (BLK_NONCE bytes) into nonce; tags are
 * BLK_TAG bytes. */
int blk_seal(const struct blk_key *k, uint64_t blockno, const uint8_t *in,
	     size_t n, uint8_t *nonce, uint8_t *ct, uint8_t *tag);
/* Decrypts and authenticates n (1..BLK_PLAIN) bytes. 0, or -EBADMSG if
 * the block is not authentic (out is then wiped), -EINVAL, -EIO, -ENOMEM. */
int blk_open(const struct blk_key *k, uint64_t blockno,
	     const uint8_t *nonce, const uint8_t *ct, size_t n,
	     const uint8_t *tag, uint8_t *out);
/* Decrypts and authenticates cn bytes (BLK_OVERHEAD+1..BLK_CIPHER).
 * Returns the plaintext length, or as blk_open. */
ssize_t blk_decrypt(const struct blk_key *k, uint64_t blockno,
		    const uint8_t *in, size_t cn, uint8_t *out);

/* Plaintext size of a file whose content (past the header) is cbytes long;
 * -EINVAL if no valid file has that length. */
int64_t blk_plain_size(uint64_t cbytes);
/* Ciphertext bytes (past the header) holding psize plaintext bytes. */
uint64_t blk_cipher_size(uint64_t psize);

#endif
