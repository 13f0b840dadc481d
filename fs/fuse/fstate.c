/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "crypto/layout.h"
#include "fstate.h"

/* How far ahead of the blocks encrypted the stored count is raised: one
 * state write per 256 MiB written. */
#define STATE_STEP (1u << 16)

/* The state's key from the DEK, and an empty state. */
static int state_new(struct inode *in, const uint8_t dek[KEY_LEN])
{
	if (!(in->state = calloc(1, sizeof(*in->state))) ||
	    !(in->state_key = secmem_alloc(KEY_LEN)))
		return -ENOMEM;
	return fmeta_key(dek, in->state_key) ? -EIO : 0;
}

void fstate_drop(struct inode *in)
{
	secmem_free(in->state_key, KEY_LEN);
	in->state_key = NULL;
	free(in->state);
	in->state = NULL;
}

int fstate_load(struct inode *in, int fd, const uint8_t dek[KEY_LEN],
		const uint8_t *area)
{
	char path[512];
	const char *why;
	int err;

	if (in->lay != LAY_V3)
		return 0;
	if ((err = state_new(in, dek)))
		return err;
	if (area)
		err = fmeta_parse(area, in->state_key, in->key->file_id,
				  in->state, &why);
	else
		err = fmeta_read(fd, in->state_key, in->key->file_id,
				 in->state, &why);
	if (err) {
		log_err("%s: %s", inode_path(fd, path, sizeof(path)), why);
		return err == -EBADMSG || err == -EINVAL || err == -ENODATA ?
		       -EIO : err;
	}
	in->used = in->state->writes;
	return 0;
}

int fstate_first(struct inode *in, const uint8_t dek[KEY_LEN], uint8_t *area)
{
	int err;

	if (in->lay != LAY_V3)
		return 0;
	if ((err = state_new(in, dek)))
		return err;
	in->used = 0;
	in->state->writes = STATE_STEP < in->write_limit ? STATE_STEP :
			    in->write_limit;
	err = fmeta_encode_first(in->state, in->state_key, in->key->file_id,
				 area);
	if (!err)
		in->state->gen = 1;
	return err;
}

int fstate_set(struct inode *in, int fd, const struct fmeta *m)
{
	struct fmeta t = *m;
	char path[512];
	int err = fmeta_write(fd, in->state_key, in->key->file_id, &t);

	if (err) {
		log_err("%s: cannot write the file's state: %s",
			inode_path(fd, path, sizeof(path)), strerror(-err));
		return err;
	}
	*in->state = t;
	return 0;
}

void fstate_save(struct inode *in, int fd)
{
	struct fmeta m;
	int fl;

	if (!in->state || in->used == in->state->writes)
		return;
	/* A descriptor that cannot write leaves it for a writer's close. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
		return;
	m = *in->state;
	m.writes = in->used;
	(void)fstate_set(in, fd, &m);
}

int fstate_spend(struct inode *in, int fd, uint64_t n)
{
	char path[512];
	struct fmeta m;
	int err;

	if (!in->state)
		return 0;
	if (in->used + n > in->write_limit) {
		log_err("%s: its key has encrypted %llu blocks, the most one "
			"key may (write_limit): refusing to write; "
			"`hsmfs rekey --data` gives it a fresh key",
			inode_path(fd, path, sizeof(path)),
			(unsigned long long)in->used);
		return -EIO;
	}
	if (in->used + n > in->state->writes) {
		m = *in->state;
		m.writes = in->used + n + STATE_STEP;
		if (m.writes > in->write_limit)
			m.writes = in->write_limit;
		if ((err = fstate_set(in, fd, &m)))
			return err;
	}
	in->used += n;
	return 0;
}
