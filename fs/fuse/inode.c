/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsd.h"
#include "prefetch.h"

int inode_table_init(struct fsd *fs)
{
	fs->nbuckets = 1 << 16;
	fs->table = calloc(fs->nbuckets, sizeof(*fs->table));
	if (!fs->table)
		return -ENOMEM;
	pthread_mutex_init(&fs->table_lock, NULL);
	return 0;
}

int inode_root_init(struct fsd *fs, const char *cipherdir)
{
	struct inode *r = &fs->root;
	struct stat st;

	r->fd = open(cipherdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (r->fd < 0 || fstat(r->fd, &st) != 0)
		return -errno;
	r->ino = st.st_ino;
	r->dev = st.st_dev;
	r->type = S_IFDIR;
	r->nlookup = 2;
	pthread_mutex_init(&r->iv_lock, NULL);
	pthread_rwlock_init(&r->rw, NULL);
	return 0;
}

static size_t slot(const struct fsd *fs, ino_t ino, dev_t dev)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev;

	return (size_t)(h >> 20) & (fs->nbuckets - 1);
}

static void inode_init(struct inode *in, int fd, const struct stat *st)
{
	in->fd = fd;
	in->ino = st->st_ino;
	in->dev = st->st_dev;
	in->type = st->st_mode & S_IFMT;
	pthread_mutex_init(&in->iv_lock, NULL);
	pthread_rwlock_init(&in->rw, NULL);
}

static void inode_destroy(struct inode *in)
{
	blk_key_free(in->key);
	secmem_free(in->state_key, KEY_LEN);
	free(in->state);
	prefetch_free(in->pf);
	free(in->target);
	close(in->fd);
	pthread_mutex_destroy(&in->iv_lock);
	pthread_rwlock_destroy(&in->rw);
	free(in);
}

void inode_table_free(struct fsd *fs)
{
	for (size_t i = 0; fs->table && i < fs->nbuckets; i++) {
		struct inode *in = fs->table[i], *next;

		for (; in; in = next) {
			next = in->hnext;
			inode_destroy(in);
		}
	}
	free(fs->table);
	fs->table = NULL;
}

struct inode *inode_get(struct fsd *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &fs->root;
	return (struct inode *)(uintptr_t)ino;
}

/* The table lock held: the inode of (ino, dev), or NULL. */
static struct inode *lookup(struct fsd *fs, ino_t ino, dev_t dev)
{
	struct inode *in = fs->table[slot(fs, ino, dev)];

	while (in && (in->ino != ino || in->dev != dev))
		in = in->hnext;
	return in;
}

static void unhash(struct fsd *fs, struct inode *in)
{
	struct inode **pp = &fs->table[slot(fs, in->ino, in->dev)];

	while (*pp && *pp != in)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = in->hnext;
}

struct inode *inode_ref(struct fsd *fs, int fd, const struct stat *st)
{
	struct inode *in, *fresh = NULL;
	size_t s = slot(fs, st->st_ino, st->st_dev);

	if (st->st_ino == fs->root.ino && st->st_dev == fs->root.dev) {
		close(fd);
		return &fs->root; /* never forgotten */
	}
	pthread_mutex_lock(&fs->table_lock);
	in = lookup(fs, st->st_ino, st->st_dev);
	if (!in) {
		fresh = calloc(1, sizeof(*fresh));
		if (fresh) {
			inode_init(fresh, fd, st);
			fresh->hnext = fs->table[s];
			fs->table[s] = fresh;
			fs->ninodes++;
			fd = -1;
		}
		in = fresh;
	}
	if (in)
		in->nlookup++;
	pthread_mutex_unlock(&fs->table_lock);
	if (fd >= 0)
		close(fd);
	return in;
}

struct inode *inode_find(struct fsd *fs, ino_t ino, dev_t dev)
{
	struct inode *in;

	if (ino == fs->root.ino && dev == fs->root.dev)
		return &fs->root;
	pthread_mutex_lock(&fs->table_lock);
	in = lookup(fs, ino, dev);
	if (in)
		in->nlookup++;
	pthread_mutex_unlock(&fs->table_lock);
	return in;
}

void inode_rebind(struct fsd *fs, const struct stat *old, int fd,
		  const struct stat *new)
{
	struct inode *in;
	size_t s = slot(fs, new->st_ino, new->st_dev);

	pthread_mutex_lock(&fs->table_lock);
	in = lookup(fs, old->st_ino, old->st_dev);
	if (in && !lookup(fs, new->st_ino, new->st_dev)) {
		/* dup3 swaps the descriptor in place: a request using the
		 * inode meanwhile sees the old file or the new one. */
		if (dup3(fd, in->fd, O_CLOEXEC) >= 0) {
			unhash(fs, in);
			in->ino = new->st_ino;
			in->dev = new->st_dev;
			in->hnext = fs->table[s];
			fs->table[s] = in;
		}
	}
	pthread_mutex_unlock(&fs->table_lock);
	close(fd);
}

void inode_unref(struct fsd *fs, struct inode *in, uint64_t n)
{
	if (in == &fs->root)
		return;
	pthread_mutex_lock(&fs->table_lock);
	in->nlookup -= n < in->nlookup ? n : in->nlookup;
	if (in->nlookup) {
		pthread_mutex_unlock(&fs->table_lock);
		return;
	}
	unhash(fs, in);
	fs->ninodes--;
	pthread_mutex_unlock(&fs->table_lock);
	inode_destroy(in);
}

void inode_procpath(int fd, char buf[64])
{
	snprintf(buf, 64, "/proc/self/fd/%d", fd);
}

const char *inode_path(int fd, char *buf, size_t n)
{
	char proc[64];
	ssize_t l;

	inode_procpath(fd, proc);
	l = readlink(proc, buf, n - 1);
	if (l < 0)
		snprintf(buf, n, "(fd %d)", fd);
	else
		buf[l] = '\0';
	return buf;
}
