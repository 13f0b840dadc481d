/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "fs/vol/rootmode.h"
#include "fsd.h"
#include "prefetch.h"

/* Cached even under a tiny limit: a request holds up to three inodes. */
#define FDS_MIN 16
/* Descriptors closed at most per one cached, when the bound went down. */
#define FDS_EVICT 8
#define LIMIT_LOG_MS 10000

union fhbuf {
	struct file_handle fh;
	char b[sizeof(struct file_handle) + MAX_HANDLE_SZ];
};

/* Descriptors to close once the descriptor lock is let go. */
struct victims {
	int fd[FDS_EVICT];
	int n;
};

static void close_victims(struct victims *v)
{
	for (int i = 0; i < v->n; i++)
		close(v->fd[i]);
	v->n = 0;
}

/* Half the descriptor limit: the other half is for open files and
 * directories, the prefetcher, HSM connections and libfuse. Read again
 * now and then, since the limit can change under a running daemon. */
static size_t fds_max(void)
{
	struct rlimit rl;
	size_t n = INODE_FDS_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur / 2 < n)
		n = rl.rlim_cur / 2;
	return n < FDS_MIN ? FDS_MIN : n;
}

/* Out of descriptors for good: one line naming the limit and how to
 * raise it (at most every LIMIT_LOG_MS), and the error for this request
 * alone: nothing stays taken, so later requests work again as soon as
 * descriptors are closed. Any other error is returned as it is. */
static int failed(struct fsd *fs, int e)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static uint64_t last;
	struct rlimit rl = { 0, 0 };
	uint64_t now = clock_ms();
	bool quiet;

	if (e != EMFILE && e != ENFILE)
		return -e;
	pthread_mutex_lock(&lock);
	if (!(quiet = last && now - last < LIMIT_LOG_MS))
		last = now;
	pthread_mutex_unlock(&lock);
	if (quiet)
		return -e;
	if (e == ENFILE) {
		log_err("out of file descriptors: the system-wide limit "
			"(sysctl fs.file-max) is reached; requests that open a "
			"file fail with ENFILE until it is raised or files are "
			"closed");
		return -e;
	}
	(void)getrlimit(RLIMIT_NOFILE, &rl);
	log_err("out of file descriptors: the daemon's RLIMIT_NOFILE (%llu, "
		"hard %llu) is reached with %u files and directories open "
		"through the mount; requests that open another fail with EMFILE "
		"until some are closed; raise the hard limit (LimitNOFILE= in "
		"a systemd unit, ulimit -Hn before hsmfs mount, or prlimit "
		"--nofile on the daemon)", (unsigned long long)rl.rlim_cur,
		(unsigned long long)rl.rlim_max, atomic_load(&fs->fds.open));
	return -e;
}

static bool out_of_fds(int e)
{
	return e == EMFILE || e == ENFILE;
}

/* The file handle of fd's file, or NULL: no handles (see
 * probe_handles), or a file on another mount, whose handle the backing
 * root's mount could not decode. */
static struct file_handle *handle_of(struct fsd *fs, int fd)
{
	union fhbuf u = { .fh.handle_bytes = MAX_HANDLE_SZ };
	struct file_handle *fh;
	int mnt;

	if (!fs->fds.handles ||
	    name_to_handle_at(fd, "", &u.fh, &mnt, AT_EMPTY_PATH) != 0 ||
	    mnt != fs->fds.mount_id)
		return NULL;
	if ((fh = malloc(sizeof(*fh) + u.fh.handle_bytes)))
		memcpy(fh, &u.fh, sizeof(*fh) + u.fh.handle_bytes);
	return fh;
}

/* Handles serve only if the root's opens again: open_by_handle_at needs
 * CAP_DAC_READ_SEARCH, and not every filesystem gives handles. */
static void probe_handles(struct fsd *fs)
{
	union fhbuf u = { .fh.handle_bytes = MAX_HANDLE_SZ };
	struct rlimit rl = { 0, 0 };
	int fd = -1;

	if (name_to_handle_at(fs->root.fd, "", &u.fh, &fs->fds.mount_id,
			      AT_EMPTY_PATH) == 0)
		fd = open_by_handle_at(fs->vol.rootfd, &u.fh,
				       O_PATH | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		fs->fds.handles = true;
		return;
	}
	(void)getrlimit(RLIMIT_NOFILE, &rl);
	log_warn("%s: no file handles (%s): each file and directory the "
		 "kernel caches holds a descriptor, so RLIMIT_NOFILE (%llu) "
		 "bounds the files in use; give the daemon CAP_DAC_READ_SEARCH "
		 "or raise the limit", fs->vol.cipherdir, strerror(errno),
		 (unsigned long long)rl.rlim_cur);
}

int inode_table_init(struct fsd *fs)
{
	fs->nbuckets = 1 << 16;
	fs->table = calloc(fs->nbuckets, sizeof(*fs->table));
	if (!fs->table)
		return -ENOMEM;
	pthread_mutex_init(&fs->table_lock, NULL);
	pthread_mutex_init(&fs->fds.lock, NULL);
	fs->fds.max = fds_max();
	probe_handles(fs);
	return 0;
}

/* A record that cannot be read leaves the root with its backing
 * directory's mode, as in a volume made before the record existed; a
 * chmod of the root writes a good one. */
static void root_mode_load(struct fsd *fs, const char *cipherdir)
{
	mode_t m;
	int e = vol_rootmode_read(fs->vol.rootfd, &m);

	pthread_mutex_init(&fs->root_mode_lock, NULL);
	atomic_store(&fs->root_mode, e ? -1 : (int)m);
	if (e && e != -ENOENT)
		log_warn("%s/%s: %s: the root shows the backing directory's "
			 "mode", cipherdir, ROOTMODE_NAME,
			 e == -EINVAL ? "malformed" : strerror(-e));
}

int inode_root_init(struct fsd *fs, const char *cipherdir)
{
	struct inode *r = &fs->root;
	struct stat st;

	/* Never closed before unmount: no handle. */
	r->pinned = true;
	r->fd = open(cipherdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (r->fd < 0 || fstat(r->fd, &st) != 0)
		return -errno;
	r->ino = st.st_ino;
	r->dev = st.st_dev;
	r->type = S_IFDIR;
	r->nlookup = 2;
	pthread_mutex_init(&r->iv_lock, NULL);
	pthread_rwlock_init(&r->rw, NULL);
	root_mode_load(fs, cipherdir);
	return 0;
}

/* The cache of descriptors, all under fds.lock. An inode is in it when
 * it has a descriptor and is not pinned; a pinned one keeps its own. */

static void lru_unlink(struct inode_fds *c, struct inode *in)
{
	if (in->lru_prev)
		in->lru_prev->lru_next = in->lru_next;
	else
		c->head = in->lru_next;
	if (in->lru_next)
		in->lru_next->lru_prev = in->lru_prev;
	else
		c->tail = in->lru_prev;
	in->lru_prev = in->lru_next = NULL;
}

static void lru_push(struct inode_fds *c, struct inode *in)
{
	in->lru_prev = NULL;
	in->lru_next = c->head;
	if (c->head)
		c->head->lru_prev = in;
	else
		c->tail = in;
	c->head = in;
}

/* Takes in's descriptor out of the cache, for the caller to close. */
static int cache_drop(struct inode_fds *c, struct inode *in)
{
	int fd = in->fd;

	lru_unlink(c, in);
	c->cached--;
	in->fd = -1;
	return fd;
}

/* Whether in, cached and not held, may lose its descriptor: it has a
 * handle to open it again, made now if need be. One that cannot have
 * one is pinned and leaves the cache. */
static bool evictable(struct fsd *fs, struct inode *in)
{
	if (in->holds)
		return false;
	if (in->fh || (in->fh = handle_of(fs, in->fd)))
		return true;
	in->pinned = true;
	lru_unlink(&fs->fds, in);
	fs->fds.cached--;
	return false;
}

/* Gives in the descriptor fd; over the bound, the oldest descriptors not
 * held go to v. */
static void cache_add(struct fsd *fs, struct inode *in, int fd,
		      struct victims *v)
{
	struct inode_fds *c = &fs->fds;
	struct inode *old, *prev;

	in->fd = fd;
	if (in->pinned)
		return;
	lru_push(c, in);
	c->cached++;
	if (c->adds++ % 256 == 0)
		c->max = fds_max();
	for (old = c->tail; old && c->cached > c->max && v->n < FDS_EVICT;
	     old = prev) {
		prev = old->lru_prev;
		if (evictable(fs, old))
			v->fd[v->n++] = cache_drop(c, old);
	}
}

/* Out of descriptors: closes every cached one not held. false if there
 * was none to close. */
static bool shrink(struct fsd *fs)
{
	struct inode_fds *c = &fs->fds;
	struct inode *in, *prev;
	bool any = false;

	pthread_mutex_lock(&c->lock);
	for (in = c->tail; in; in = prev) {
		prev = in->lru_prev;
		if (evictable(fs, in)) {
			close(cache_drop(c, in));
			any = true;
		}
	}
	c->max = fds_max();
	pthread_mutex_unlock(&c->lock);
	return any;
}

int inode_openat(struct fsd *fs, int dirfd, const char *name, int flags,
		 mode_t mode)
{
	int fd = openat(dirfd, name, flags, mode);

	if (fd < 0 && out_of_fds(errno) && shrink(fs))
		fd = openat(dirfd, name, flags, mode);
	return fd >= 0 ? fd : failed(fs, errno);
}

/* The backing file of handle fh, opened again. */
static int reopen(struct fsd *fs, struct file_handle *fh)
{
	const int flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
	int fd = open_by_handle_at(fs->vol.rootfd, fh, flags);

	if (fd < 0 && out_of_fds(errno) && shrink(fs))
		fd = open_by_handle_at(fs->vol.rootfd, fh, flags);
	return fd >= 0 ? fd : failed(fs, errno);
}

/* The lock held, in held, without a descriptor (so with a handle): opens
 * it again, outside the lock. A handle changed meanwhile (inode_rebind)
 * may have given the old file: that descriptor is not kept. */
static int refill(struct fsd *fs, struct inode *in, struct victims *v)
{
	struct inode_fds *c = &fs->fds;
	union fhbuf u;
	unsigned gen;
	int fd;

	while (in->fd < 0) {
		memcpy(&u, in->fh, sizeof(*in->fh) + in->fh->handle_bytes);
		gen = in->fh_gen;
		pthread_mutex_unlock(&c->lock);
		fd = reopen(fs, &u.fh);
		pthread_mutex_lock(&c->lock);
		if (fd < 0)
			return fd;
		if (in->fd < 0 && gen == in->fh_gen)
			cache_add(fs, in, fd, v);
		else
			close(fd);
	}
	return 0;
}

int inode_hold(struct fsd *fs, struct inode *in)
{
	struct inode_fds *c = &fs->fds;
	struct victims v = { .n = 0 };
	int err = 0;

	pthread_mutex_lock(&c->lock);
	in->holds++;
	if (in->fd < 0)
		err = refill(fs, in, &v);
	else if (!in->pinned && c->head != in) {
		lru_unlink(c, in);
		lru_push(c, in);
	}
	if (err)
		in->holds--;
	pthread_mutex_unlock(&c->lock);
	close_victims(&v);
	return err;
}

void inode_unhold(struct fsd *fs, struct inode *in)
{
	pthread_mutex_lock(&fs->fds.lock);
	in->holds--;
	pthread_mutex_unlock(&fs->fds.lock);
}

/* Holds in, which has just been found by a descriptor of its file: fd
 * serves as in's descriptor if it has none (and is closed otherwise). */
static void hold_with(struct fsd *fs, struct inode *in, int fd)
{
	struct inode_fds *c = &fs->fds;
	struct victims v = { .n = 0 };

	pthread_mutex_lock(&c->lock);
	in->holds++;
	if (in->fd < 0) {
		cache_add(fs, in, fd, &v);
		fd = -1;
	}
	pthread_mutex_unlock(&c->lock);
	close_victims(&v);
	if (fd >= 0)
		close(fd);
}

static size_t slot(const struct fsd *fs, ino_t ino, dev_t dev)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev;

	return (size_t)(h >> 20) & (fs->nbuckets - 1);
}

static void inode_init(struct fsd *fs, struct inode *in,
		       const struct stat *st)
{
	in->fd = -1;
	in->pinned = !fs->fds.handles;
	in->ino = st->st_ino;
	in->dev = st->st_dev;
	in->type = st->st_mode & S_IFMT;
	pthread_mutex_init(&in->iv_lock, NULL);
	pthread_rwlock_init(&in->rw, NULL);
}

static void inode_destroy(struct fsd *fs, struct inode *in)
{
	pthread_mutex_lock(&fs->fds.lock);
	if (!in->pinned && in->fd >= 0) {
		lru_unlink(&fs->fds, in);
		fs->fds.cached--;
	}
	pthread_mutex_unlock(&fs->fds.lock);
	if (in->fd >= 0)
		close(in->fd);
	free(in->fh);
	blk_key_free(in->key);
	secmem_free(in->state_key, KEY_LEN);
	free(in->state);
	prefetch_free(in->pf);
	free(in->target);
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
			inode_destroy(fs, in);
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

/* A new inode for fd's file, held, with fd as its descriptor; or the
 * inode another request added meanwhile (nlookup + 1, not held). */
static struct inode *add(struct fsd *fs, int fd, const struct stat *st,
			 bool *added)
{
	struct inode *in, *fresh = calloc(1, sizeof(*fresh));
	struct victims v = { .n = 0 };
	size_t s = slot(fs, st->st_ino, st->st_dev);

	if (!fresh)
		return NULL;
	inode_init(fs, fresh, st);
	/* With room in the cache the handle waits until the descriptor is
	 * to be closed (evictable). Near the bound most new descriptors
	 * soon will be: the handle is made here, outside the locks. */
	if (!fresh->pinned && atomic_load(&fs->fds.cached) >=
				      atomic_load(&fs->fds.max) / 2)
		fresh->pinned = !(fresh->fh = handle_of(fs, fd));
	pthread_mutex_lock(&fs->table_lock);
	in = lookup(fs, st->st_ino, st->st_dev);
	if ((*added = !in)) {
		in = fresh;
		in->hnext = fs->table[s];
		fs->table[s] = in;
		fs->ninodes++;
		/* Held and given its descriptor before anyone can find it. */
		pthread_mutex_lock(&fs->fds.lock);
		in->holds = 1;
		cache_add(fs, in, fd, &v);
		pthread_mutex_unlock(&fs->fds.lock);
	}
	in->nlookup++;
	pthread_mutex_unlock(&fs->table_lock);
	close_victims(&v);
	if (!*added)
		inode_destroy(fs, fresh);
	return in;
}

struct inode *inode_ref(struct fsd *fs, int fd, const struct stat *st)
{
	struct inode *in;
	bool added = false;

	if (st->st_ino == fs->root.ino && st->st_dev == fs->root.dev) {
		close(fd);
		inode_hold(fs, &fs->root); /* kept open: cannot fail */
		return &fs->root; /* never forgotten */
	}
	pthread_mutex_lock(&fs->table_lock);
	if ((in = lookup(fs, st->st_ino, st->st_dev)))
		in->nlookup++;
	pthread_mutex_unlock(&fs->table_lock);
	if (!in)
		in = add(fs, fd, st, &added);
	if (!in)
		close(fd);
	else if (!added)
		hold_with(fs, in, fd);
	return in;
}

void inode_grab(struct fsd *fs, struct inode *in)
{
	if (in == &fs->root)
		return;
	pthread_mutex_lock(&fs->table_lock);
	in->nlookup++;
	pthread_mutex_unlock(&fs->table_lock);
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

/* Both locks held: in follows fd's file, whose handle is *fh. Its
 * descriptor, if it has one, is swapped in place by dup3, so that a
 * request holding it sees the old file or the new one; the handle's
 * generation tells a reopen in flight that it opened the old one. fd and
 * *fh are taken over (the old handle left in *fh for freeing), unless it
 * fails: false. */
static bool rebind(struct inode_fds *c, struct inode *in, int *fd,
		   struct file_handle **fh)
{
	struct file_handle *old = in->fh;
	bool cached = !in->pinned && in->fd >= 0;

	if (in->fd >= 0 && dup3(*fd, in->fd, O_CLOEXEC) < 0)
		return false;
	if (in->fd < 0) {
		in->fd = *fd;
		*fd = -1;
	}
	in->pinned = !*fh;
	if (cached && in->pinned) {
		lru_unlink(c, in);
		c->cached--;
	} else if (!cached && !in->pinned) {
		lru_push(c, in);
		c->cached++;
	}
	in->fh = *fh;
	in->fh_gen++;
	*fh = old;
	return true;
}

void inode_rebind(struct fsd *fs, const struct stat *old, int fd,
		  const struct stat *new)
{
	struct file_handle *fh = handle_of(fs, fd);
	struct inode *in;
	size_t s = slot(fs, new->st_ino, new->st_dev);
	bool done = false;

	pthread_mutex_lock(&fs->table_lock);
	in = lookup(fs, old->st_ino, old->st_dev);
	if (in && !lookup(fs, new->st_ino, new->st_dev)) {
		pthread_mutex_lock(&fs->fds.lock);
		done = rebind(&fs->fds, in, &fd, &fh);
		pthread_mutex_unlock(&fs->fds.lock);
	}
	if (done) {
		unhash(fs, in);
		in->ino = new->st_ino;
		in->dev = new->st_dev;
		in->hnext = fs->table[s];
		fs->table[s] = in;
	}
	pthread_mutex_unlock(&fs->table_lock);
	free(fh);
	if (fd >= 0)
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
	inode_destroy(fs, in);
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
