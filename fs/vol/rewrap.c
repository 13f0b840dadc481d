/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One header's rewrap, slot by slot. See rewrap.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/stop.h"
#include "filekey.h"
#include "rewrap.h"

#define LOCK_POLL_MS 10

static const char *kid_version(const char *kid)
{
	const char *s = strrchr(kid, '/');

	return s ? s + 1 : kid;
}

static bool kid_current(const struct vol_rewrap_to *t, const char *kid)
{
	return kek_owns(t->kek, kid) &&
	       strcasecmp(kid_version(kid), kid_version(t->kid)) == 0;
}

bool vol_rewrap_current(const struct vol_rewrap_to *t, const char *kid)
{
	if (!strncmp(kid, HDR_WK_KID_PREFIX, strlen(HDR_WK_KID_PREFIX)))
		return t->wk_kid[0] && !strcmp(kid, t->wk_kid);
	return kid_current(t, kid);
}

bool vol_rewrap_done(const struct vol *v, const struct vol_rewrap_to *t,
		     const char *kid)
{
	bool local = !strncmp(kid, HDR_WK_KID_PREFIX,
			      strlen(HDR_WK_KID_PREFIX));

	/* A conversion moves every slot to the other kind, current or not. */
	if ((v->conf.conversion == CONF_CONV_TO_VOLUME && !local) ||
	    (v->conf.conversion == CONF_CONV_TO_FILE && local))
		return false;
	return vol_rewrap_current(t, kid);
}

bool vol_rewrap_retryable(enum kek_status st)
{
	return st == KEK_E_THROTTLED || st == KEK_E_UNAVAILABLE ||
	       st == KEK_E_TIMEOUT;
}

/* Writes one slot (or zeros) at its offset, then syncs: nothing else of
 * the header is touched. */
static int put_slot(int fd, const struct hdr *h, int i, bool zero)
{
	uint8_t buf[HDR_LEN];
	unsigned off = hdr_slot_offset(i);

	if (zero)
		memset(buf + off, 0, HDR_SLOT_LEN);
	else
		hdr_encode(h, buf);
	if (pwrite(fd, buf + off, HDR_SLOT_LEN, off) != HDR_SLOT_LEN)
		return -1;
	return fdatasync(fd);
}

/* Wraps dek with the target into slot j of h, generation above both. */
static enum kek_status fill_slot(struct vol *v, const struct vol_rewrap_to *t,
				 struct hdr *h, int j,
				 const uint8_t dek[KEY_LEN], char *kerr)
{
	struct hdr_slot *s = &h->slot[j];
	uint32_t g = h->slot[0].gen > h->slot[1].gen ? h->slot[0].gen
						     : h->slot[1].gen;
	enum kek_status st;

	memset(s, 0, sizeof(*s));
	if (vol_volume_wrap(v) && v->conf.conversion != CONF_CONV_TO_FILE) {
		/* The newest generation; never a KEK, never the HSM. */
		st = vol_wk_wrap_slot(v, REC_MAGIC_DEK, h->file_id, dek, 0,
				      s, kerr, KEK_ERR_MAX) ? KEK_E_CRYPTO
							    : KEK_OK;
	} else {
		st = vol_wrap_slot(t->kek, REC_MAGIC_DEK, h->file_id, dek,
				   s, kerr);
	}
	if (st != KEK_OK)
		return st;
	s->gen = g + 1;
	if (hdr_slot_seal(h, j, v->vk, dek) != 0) {
		snprintf(kerr, KEK_ERR_MAX, "cannot seal the slot");
		return KEK_E_CRYPTO;
	}
	return KEK_OK;
}

enum vol_rewrap_out vol_rewrap_slots(struct vol *v,
				     const struct vol_rewrap_to *t, int fd,
				     struct hdr *h, int vi,
				     const uint8_t dek[KEY_LEN],
				     enum kek_status *st, char *why, size_t n)
{
	char kerr[KEK_ERR_MAX];
	int j = 1 - vi;

	if (vol_rewrap_done(v, t, h->slot[vi].kid)) {
		/* An earlier run stopped before clearing the old slot (or
		 * the other slot does not verify). */
		if (!h->slot[j].gen && !h->bad[j])
			return VOL_RW_CURRENT;
		if (put_slot(fd, h, j, true) != 0)
			goto io;
		h->slot[j].gen = 0;
		return VOL_RW_DONE;
	}
	*st = fill_slot(v, t, h, j, dek, kerr);
	if (*st != KEK_OK) {
		snprintf(why, n, "cannot wrap its key: %s", kerr);
		return vol_rewrap_retryable(*st) ? VOL_RW_RETRY : VOL_RW_FAILED;
	}
	if (put_slot(fd, h, j, false) != 0 || put_slot(fd, h, vi, true) != 0)
		goto io;
	h->slot[vi].gen = 0;
	return VOL_RW_DONE;
io:
	snprintf(why, n, "cannot write the header: %s", strerror(errno));
	return VOL_RW_FAILED;
}

/* The header's bytes, locked (F_WRLCK) or let go (F_UNLCK). The lock is
 * asked for until it is given, a short sleep apart, rather than waited
 * for in the kernel: a stop request ends the wait. 1 locked (or let go),
 * 0 when the filesystem has no such locks (nothing to wait for either),
 * -1 stopped. */
static int lock_hdr(int fd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET,
			    .l_start = 0, .l_len = HDR_LEN };

	while (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return 0;
		if (!stop_sleep_ms(LOCK_POLL_MS))
			return -1;
	}
	return 1;
}

/* Reads the header under the lock: VOL_RW_CURRENT to go on, else the
 * outcome for a header that is not there or not readable. */
static enum vol_rewrap_out read_locked(int fd, struct hdr *h, char *why,
				       size_t n)
{
	const char *pwhy = NULL;
	int err = hdr_read(fd, h, &pwhy);

	if (err == -ENOKEY)
		return VOL_RW_EMPTY;
	if (err == -EINVAL)
		snprintf(why, n, "bad header: %s", pwhy);
	else if (err)
		snprintf(why, n, "cannot read the header: %s", strerror(-err));
	return err ? VOL_RW_UNREADABLE : VOL_RW_CURRENT;
}

enum vol_rewrap_out vol_rewrap_file(struct vol *v,
				    const struct vol_rewrap_to *t, int fd,
				    struct hdr *h, void (*before)(void *ctx),
				    void *ctx, enum kek_status *st, char *why,
				    size_t n)
{
	uint8_t *dek = secmem_alloc(KEY_LEN);
	int order[HDR_SLOTS], vi, locked;
	enum vol_key_src src;
	enum vol_rewrap_out out;

	*st = KEK_OK;
	if (!dek) {
		snprintf(why, n, "out of memory");
		return VOL_RW_FAILED;
	}
	if ((locked = lock_hdr(fd, F_WRLCK)) < 0) {
		snprintf(why, n, "stopped");
		out = VOL_RW_RETRY;
		goto out;
	}
	out = read_locked(fd, h, why, n);
	if (out != VOL_RW_CURRENT)
		goto out;
	if (hdr_slot_order(h, order) == 1 && !h->bad[0] && !h->bad[1] &&
	    vol_rewrap_done(v, t, h->slot[order[0]].kid))
		goto out;
	if (before)
		before(ctx);
	vi = vol_file_key_slot(v, h, dek, st, &src, why, n);
	if (vi < 0) {
		out = vol_rewrap_retryable(*st) ? VOL_RW_RETRY : VOL_RW_FAILED;
		goto out;
	}
	out = vol_rewrap_slots(v, t, fd, h, vi, dek, st, why, n);
	/* A key in use (it was cached) stays cached under its new slot: the
	 * next open of the file would otherwise ask the HSM for a key that
	 * the rewrap has just had in hand. */
	if (out == VOL_RW_DONE && src == VOL_KEY_CACHE && h->slot[1 - vi].gen)
		vol_file_key_cache(v, &h->slot[1 - vi], dek);
out:
	if (locked > 0)
		lock_hdr(fd, F_UNLCK);
	secmem_free(dek, KEY_LEN);
	return out;
}

bool vol_rewrap_conf_current(const struct vol_rewrap_to *t,
			     const struct conf *c)
{
	for (int i = 0; i < c->nwk; i++)
		if (!kid_current(t, c->wk[i].kid))
			return false;
	return c->nwk > 0 || kid_current(t, c->vk.kid);
}
