/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "fmeta.h"

static const uint8_t magic[4] = { 'H', 'S', 'M', 'M' };

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

int fmeta_key(const uint8_t dek[KEY_LEN], uint8_t mkey[KEY_LEN])
{
	return keys_hkdf(dek, KEY_LEN, KDF_FILE_META, mkey, KEY_LEN);
}

/* HMAC over file id || the copy's first FMETA_MACED bytes. */
static int copy_mac(const uint8_t mkey[KEY_LEN],
		    const uint8_t file_id[ID_LEN], const uint8_t *copy,
		    uint8_t mac[32])
{
	uint8_t msg[ID_LEN + FMETA_MACED];
	int err;

	memcpy(msg, file_id, ID_LEN);
	memcpy(msg + ID_LEN, copy, FMETA_MACED);
	err = keys_hmac(mkey, msg, sizeof(msg), mac);
	OPENSSL_cleanse(msg, sizeof(msg));
	return err;
}

int fmeta_encode(const struct fmeta *m, uint32_t gen,
		 const uint8_t mkey[KEY_LEN], const uint8_t file_id[ID_LEN],
		 uint8_t *out)
{
	if (gen == 0 || m->nholes > FMETA_HOLES_MAX ||
	    m->writes > FMETA_WRITES_MAX)
		return -EINVAL;
	memset(out, 0, FMETA_LEN);
	memcpy(out, magic, 4);
	put_be(out + 4, gen, 4);
	put_be(out + 8, m->writes, 8);
	put_be(out + 16, m->nholes, 2);
	for (unsigned i = 0; i < m->nholes; i++) {
		put_be(out + 24 + 16 * i, m->hole[i].first, 8);
		put_be(out + 32 + 16 * i, m->hole[i].count, 8);
	}
	return copy_mac(mkey, file_id, out, out + FMETA_MACED);
}

/* The rules an authentic copy must keep: holes sorted, apart, non-empty,
 * unused entries and padding zero. */
static const char *check_copy(const uint8_t *c, struct fmeta *m)
{
	uint64_t end = 0;

	m->gen = (uint32_t)get_be(c + 4, 4);
	m->writes = get_be(c + 8, 8);
	m->nholes = (unsigned)get_be(c + 16, 2);
	if (m->gen == 0)
		return "generation 0";
	if (m->writes > FMETA_WRITES_MAX)
		return "write count beyond 2^32";
	if (m->nholes > FMETA_HOLES_MAX)
		return "too many holes";
	if (!all_zero(c + 18, 6) ||
	    !all_zero(c + 24 + 16 * m->nholes,
		      FMETA_MACED - 24 - 16 * m->nholes))
		return "reserved bytes not zero";
	for (unsigned i = 0; i < m->nholes; i++) {
		struct fmeta_hole *h = &m->hole[i];

		h->first = get_be(c + 24 + 16 * i, 8);
		h->count = get_be(c + 32 + 16 * i, 8);
		if (h->count == 0 || h->first > UINT64_MAX - h->count ||
		    (i > 0 && h->first <= end))
			return "holes out of order or overlapping";
		end = h->first + h->count;
	}
	return NULL;
}

/* 0 if copy i is authentic (fields in *m, why set if it breaks a rule),
 * -EBADMSG if not. */
static int open_copy(const uint8_t *c, const uint8_t mkey[KEY_LEN],
		     const uint8_t file_id[ID_LEN], struct fmeta *m,
		     const char **why)
{
	uint8_t mac[32];
	int err;

	if (memcmp(c, magic, 4) != 0)
		return -EBADMSG;
	if ((err = copy_mac(mkey, file_id, c, mac)))
		return err;
	if (!keys_equal(mac, c + FMETA_MACED, 32))
		return -EBADMSG;
	*why = check_copy(c, m);
	return 0;
}

int fmeta_parse(const uint8_t *area, const uint8_t mkey[KEY_LEN],
		const uint8_t file_id[ID_LEN], struct fmeta *m,
		const char **why)
{
	struct fmeta c[FMETA_COPIES];
	const char *cwhy[FMETA_COPIES] = { NULL, NULL };
	int ok[FMETA_COPIES], best = -1, err;

	memset(m, 0, sizeof(*m));
	*why = NULL;
	for (int i = 0; i < FMETA_COPIES; i++) {
		err = open_copy(area + i * FMETA_LEN, mkey, file_id, &c[i],
				&cwhy[i]);
		if (err && err != -EBADMSG)
			return err;
		ok[i] = !err;
		if (ok[i] && (best < 0 || c[i].gen > c[best].gen))
			best = i;
	}
	if (best < 0) {
		*why = all_zero(area, FMETA_AREA) ?
		       "the file state is missing (all zero)" :
		       "neither copy of the file state is authentic";
		return -EBADMSG;
	}
	if (cwhy[best]) {
		*why = cwhy[best];
		return -EINVAL;
	}
	*m = c[best];
	m->copy = best;
	return 0;
}

int fmeta_read(int fd, const uint8_t mkey[KEY_LEN],
	       const uint8_t file_id[ID_LEN], struct fmeta *m,
	       const char **why)
{
	uint8_t area[FMETA_AREA];
	ssize_t n = pread(fd, area, sizeof(area), FMETA_OFF);

	if (n < 0) {
		*why = "cannot read the file state";
		return -errno;
	}
	if (n != (ssize_t)sizeof(area)) {
		*why = "the file ends inside its state";
		return -ENODATA;
	}
	return fmeta_parse(area, mkey, file_id, m, why);
}

int fmeta_encode_first(const struct fmeta *m, const uint8_t mkey[KEY_LEN],
		       const uint8_t file_id[ID_LEN], uint8_t *area)
{
	int err = fmeta_encode(m, 1, mkey, file_id, area);

	if (!err)
		memcpy(area + FMETA_LEN, area, FMETA_LEN);
	return err;
}

int fmeta_write(int fd, const uint8_t mkey[KEY_LEN],
		const uint8_t file_id[ID_LEN], struct fmeta *m)
{
	uint8_t buf[FMETA_AREA];
	int first = m->gen == 0, to = first ? 0 : 1 - m->copy, err;
	size_t n = first ? FMETA_AREA : FMETA_LEN;

	if (m->gen == UINT32_MAX)
		return -EOVERFLOW;
	/* A state written for the first time goes into both copies. */
	err = first ? fmeta_encode_first(m, mkey, file_id, buf) :
		      fmeta_encode(m, m->gen + 1, mkey, file_id, buf);
	if (err)
		return err;
	errno = 0;
	if (pwrite(fd, buf, n, FMETA_OFF + to * FMETA_LEN) != (ssize_t)n)
		return errno ? -errno : -EIO;
	m->gen++;
	m->copy = to;
	return 0;
}

int fmeta_overlap(const struct fmeta *m, uint64_t first, uint64_t count)
{
	for (unsigned i = 0; m && i < m->nholes; i++)
		if (m->hole[i].first < first + count &&
		    first < m->hole[i].first + m->hole[i].count)
			return (int)i;
	return -1;
}

int fmeta_in_hole(const struct fmeta *m, uint64_t b)
{
	unsigned lo = 0, hi = m ? m->nholes : 0;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		const struct fmeta_hole *h = &m->hole[mid];

		if (b < h->first)
			hi = mid;
		else if (b - h->first >= h->count)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

/* Inserts h at index i. */
static void insert(struct fmeta *m, unsigned i, struct fmeta_hole h)
{
	memmove(&m->hole[i + 1], &m->hole[i],
		(m->nholes - i) * sizeof(m->hole[0]));
	m->hole[i] = h;
	m->nholes++;
}

static void drop(struct fmeta *m, unsigned i)
{
	memmove(&m->hole[i], &m->hole[i + 1],
		(m->nholes - i - 1) * sizeof(m->hole[0]));
	m->nholes--;
}

int fmeta_add_hole(struct fmeta *m, uint64_t first, uint64_t count)
{
	struct fmeta t = *m;
	uint64_t lo = first, hi;
	unsigned i = 0;

	if (count == 0)
		return 0;
	if (first > UINT64_MAX - count)
		return -EINVAL;
	hi = first + count;
	while (i < t.nholes && t.hole[i].first + t.hole[i].count < lo)
		i++;
	/* Swallow every hole that overlaps or touches [lo, hi). */
	while (i < t.nholes && t.hole[i].first <= hi) {
		uint64_t end = t.hole[i].first + t.hole[i].count;

		lo = t.hole[i].first < lo ? t.hole[i].first : lo;
		hi = end > hi ? end : hi;
		drop(&t, i);
	}
	if (t.nholes == FMETA_HOLES_MAX)
		return -ENOSPC;
	insert(&t, i, (struct fmeta_hole){ lo, hi - lo });
	*m = t;
	return 0;
}

int fmeta_cut(struct fmeta *m, uint64_t first, uint64_t count)
{
	uint64_t end = count && first <= UINT64_MAX - count ? first + count :
							    UINT64_MAX;
	struct fmeta t = *m;

	for (unsigned i = 0; i < t.nholes; i++) {
		struct fmeta_hole *h = &t.hole[i];
		uint64_t he = h->first + h->count;

		if (he <= first || h->first >= end)
			continue;
		if (h->first < first && he > end) {
			/* The cut lies inside: two holes from one. */
			if (t.nholes == FMETA_HOLES_MAX)
				return -ENOSPC;
			insert(&t, i + 1,
			       (struct fmeta_hole){ end, he - end });
			h = &t.hole[i];
			h->count = first - h->first;
			break;
		}
		if (h->first < first) {
			h->count = first - h->first;
		} else if (he > end) {
			h->count = he - end;
			h->first = end;
		} else {
			drop(&t, i--);
		}
	}
	*m = t;
	return 0;
}
