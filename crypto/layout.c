/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "layout.h"

/* The aligned layouts differ in page 0: format 2 keeps the records of
 * blocks 0..72 after the header, format 3 those of blocks 0..35 after the
 * header and the file's state. From page 1 on both are the same. */
static uint64_t g0(int lay)
{
	return lay == LAY_V3 ? LAY_G0_V3 : LAY_G0;
}

/* First page of group g >= 1 (its record page). */
static uint64_t group_page(int lay, uint64_t g)
{
	return 1 + g0(lay) + (g - 1) * (uint64_t)(LAY_G + 1);
}

int lay_valid(int lay)
{
	return lay == LAY_PACKED || lay == LAY_ALIGNED || lay == LAY_V3;
}

uint64_t lay_header_len(int lay)
{
	return lay == LAY_V3 ? LAY_V3_REC0 : HDR_LEN;
}

/* Aligned layouts: block b's group (0 is page 0's) and index in it. */
static void group_of(int lay, uint64_t b, uint64_t *g, uint64_t *i)
{
	if (b < g0(lay)) {
		*g = 0;
		*i = b;
		return;
	}
	*g = 1 + (b - g0(lay)) / LAY_G;
	*i = (b - g0(lay)) % LAY_G;
}

off_t lay_rec_off(int lay, uint64_t b)
{
	uint64_t g, i;

	group_of(lay, b, &g, &i);
	if (g == 0)
		return (off_t)(lay_header_len(lay) + i * LAY_REC);
	return (off_t)(group_page(lay, g) * LAY_PAGE + i * LAY_REC);
}

off_t lay_data_off(int lay, uint64_t b)
{
	uint64_t g, i;

	if (lay == LAY_PACKED)
		return (off_t)(HDR_LEN + b * BLK_CIPHER);
	group_of(lay, b, &g, &i);
	if (g == 0)
		return (off_t)((1 + i) * LAY_PAGE);
	return (off_t)((group_page(lay, g) + 1 + i) * LAY_PAGE);
}

uint64_t lay_run(int lay, uint64_t b, uint64_t n)
{
	uint64_t g, i, left;

	if (lay == LAY_PACKED)
		return n;
	group_of(lay, b, &g, &i);
	left = (g == 0 ? g0(lay) : LAY_G) - i;
	return left < n ? left : n;
}

uint64_t lay_backing_size(int lay, uint64_t psize)
{
	uint64_t lb;

	if (psize == 0)
		return lay_header_len(lay);
	lb = (psize - 1) / BLK_PLAIN;
	if (lay == LAY_PACKED)
		return HDR_LEN + blk_cipher_size(psize);
	return (uint64_t)lay_data_off(lay, lb) + (psize - lb * BLK_PLAIN);
}

/* Aligned layouts: the block in page p, or -1 for page 0 or a record
 * page. */
static int64_t block_of_page(int lay, uint64_t p)
{
	uint64_t q;

	if (p == 0)
		return -1;
	if (p <= g0(lay))
		return (int64_t)(p - 1);
	q = p - (1 + g0(lay));
	if (q % (LAY_G + 1) == 0)
		return -1;
	return (int64_t)(g0(lay) + q / (LAY_G + 1) * LAY_G + q % (LAY_G + 1) -
			 1);
}

int64_t lay_plain_size(int lay, uint64_t n)
{
	uint64_t p;
	int64_t b;

	if (n == 0)
		return 0;
	if (n < HDR_LEN)
		return -EINVAL;
	if (lay == LAY_PACKED)
		return blk_plain_size(n - HDR_LEN);
	if (n == lay_header_len(lay))
		return 0;
	p = (n - 1) / LAY_PAGE;
	if ((b = block_of_page(lay, p)) < 0 || b > INT64_MAX / BLK_PLAIN - 1)
		return -EINVAL;
	return b * BLK_PLAIN + (int64_t)(n - p * LAY_PAGE);
}

/* Where block i of a run keeps its nonce, ciphertext and tag in the run
 * buffers: interleaved as on disk (packed), or apart (aligned). */
static void parts(int lay, uint8_t *cbuf, uint8_t *rbuf, uint64_t i,
		  size_t len, uint8_t **nonce, uint8_t **ct, uint8_t **tag)
{
	if (lay == LAY_PACKED) {
		*nonce = cbuf + i * BLK_CIPHER;
		*ct = *nonce + BLK_NONCE;
		*tag = *ct + len;
		return;
	}
	*nonce = rbuf + i * LAY_REC;
	*tag = *nonce + BLK_NONCE;
	*ct = cbuf + i * BLK_PLAIN;
}

/* Bytes of the run's data: whole packed blocks, or the pages alone. */
static size_t data_len(int lay, uint64_t n, size_t last)
{
	if (lay == LAY_PACKED)
		return (size_t)(n - 1) * BLK_CIPHER + last + BLK_OVERHEAD;
	return (size_t)(n - 1) * BLK_PLAIN + last;
}

/* pread of all n bytes: 0, -ENODATA if the file ends first, or -errno.
 * *got says how many bytes were there. */
static int get(int fd, uint8_t *p, size_t n, off_t off, size_t *got)
{
	ssize_t r = pread(fd, p, n, off);

	*got = r > 0 ? (size_t)r : 0;
	if (r < 0)
		return -errno;
	return (size_t)r == n ? 0 : -ENODATA;
}

/* A format-3 hole: a record of zeros where the file state lists one. */
static int is_hole(const struct fmeta *m, const uint8_t *rec, uint64_t b)
{
	static const uint8_t zero[LAY_REC];

	return m && memcmp(rec, zero, LAY_REC) == 0 && fmeta_in_hole(m, b);
}

/* Authenticates (or zero-fills, holes) the run's blocks read. */
static int open_run(int lay, const struct blk_key *k, const struct fmeta *m,
		    uint64_t b0, uint64_t n, size_t last, uint8_t *out,
		    uint8_t *cbuf, uint8_t *rbuf, uint64_t *bad)
{
	uint8_t *nonce, *ct, *tag;
	int err;

	for (uint64_t i = 0; i < n; i++) {
		size_t len = i + 1 < n ? BLK_PLAIN : last;

		parts(lay, cbuf, rbuf, i, len, &nonce, &ct, &tag);
		*bad = b0 + i;
		if (lay == LAY_V3 && len == BLK_PLAIN &&
		    is_hole(m, nonce, b0 + i)) {
			memset(out + i * BLK_PLAIN, 0, BLK_PLAIN);
			continue;
		}
		if ((err = blk_open(k, b0 + i, nonce, ct, len, tag,
				    out + i * BLK_PLAIN)))
			return err;
	}
	return 0;
}

/* Aligned layouts: block b0 is the first of its group, so its data page
 * follows its group's record page: the records and the data of a run
 * from it are read in one preadv, the rest of the record page skipped. */
static int first_page(int lay, uint64_t b0)
{
	return lay_data_off(lay, b0) - lay_rec_off(lay, b0) <= LAY_PAGE;
}

static int read_joined(int lay, int fd, const struct blk_key *k,
		       const struct fmeta *m, uint64_t b0, uint64_t n,
		       size_t last, uint8_t *out, uint8_t *cbuf, uint8_t *rbuf,
		       uint64_t *bad)
{
	uint8_t skip[LAY_PAGE];
	size_t dn = data_len(lay, n, last), rn = (size_t)n * LAY_REC;
	size_t gap = (size_t)(lay_data_off(lay, b0) - lay_rec_off(lay, b0)) -
		     rn;
	struct iovec iov[3] = {
		{ rbuf, rn }, { skip, gap }, { cbuf, dn },
	};
	ssize_t r = preadv(fd, iov, 3, lay_rec_off(lay, b0));
	size_t got = r > (ssize_t)(rn + gap) ? (size_t)r - rn - gap : 0;

	/* As the separate reads would: the first block not held whole. */
	*bad = b0 + got / BLK_PLAIN;
	if (r < 0)
		return -errno;
	if (got != dn)
		return -ENODATA;
	*bad = b0;
	return open_run(lay, k, m, b0, n, last, out, cbuf, rbuf, bad);
}

int lay_read_run(int lay, int fd, const struct blk_key *k,
		 const struct fmeta *m, uint64_t b0, uint64_t n, size_t last,
		 uint8_t *out, uint8_t *cbuf, uint8_t *rbuf, uint64_t *bad)
{
	size_t dn = data_len(lay, n, last), rn = (size_t)n * LAY_REC, got;
	int err;

	if (lay != LAY_PACKED && first_page(lay, b0))
		return read_joined(lay, fd, k, m, b0, n, last, out, cbuf, rbuf,
				   bad);
	/* The records lie in another page than the data: start reading them
	 * now, so that a cold random read waits for one disk read, not two. */
	if (lay != LAY_PACKED)
		(void)posix_fadvise(fd, lay_rec_off(lay, b0), (off_t)rn,
				    POSIX_FADV_WILLNEED);
	err = get(fd, cbuf, dn, lay_data_off(lay, b0), &got);
	/* The first block the file does not hold whole. */
	*bad = b0 + got / (lay == LAY_PACKED ? BLK_CIPHER : BLK_PLAIN);
	if (err)
		return err;
	*bad = b0;
	if (lay != LAY_PACKED &&
	    (err = get(fd, rbuf, rn, lay_rec_off(lay, b0), &got)))
		return err;
	return open_run(lay, k, m, b0, n, last, out, cbuf, rbuf, bad);
}

const char *lay_strerror(int err, char *buf, size_t n)
{
	if (err == -ENODATA)
		return "is short";
	if (err == -EBADMSG)
		return "failed authentication";
	snprintf(buf, n, "read error: %s", strerror(-err));
	return buf;
}

/* pwrite of all n bytes: 0 or -errno. A short write is retried for the
 * rest, which fails with the reason (ENOSPC, EFBIG, EDQUOT...). */
static int put(int fd, const uint8_t *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, off);

		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

int lay_write_run(int lay, int fd, const struct blk_key *k, uint64_t b0,
		  uint64_t n, size_t last, const uint8_t *in, uint8_t *cbuf,
		  uint8_t *rbuf)
{
	uint8_t *nonce, *ct, *tag;
	int err;

	for (uint64_t i = 0; i < n; i++) {
		size_t len = i + 1 < n ? BLK_PLAIN : last;

		parts(lay, cbuf, rbuf, i, len, &nonce, &ct, &tag);
		if ((err = blk_seal(k, b0 + i, in + i * BLK_PLAIN, len, nonce,
				    ct, tag)))
			return err;
	}
	if ((err = put(fd, cbuf, data_len(lay, n, last),
		       lay_data_off(lay, b0))))
		return err;
	if (lay != LAY_PACKED)
		return put(fd, rbuf, (size_t)n * LAY_REC, lay_rec_off(lay, b0));
	return 0;
}
