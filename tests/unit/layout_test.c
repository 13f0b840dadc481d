/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto/layout: where a file's blocks lie in its backing file, both
 * layouts, pinned offsets, and runs of blocks written and read back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "crypto/layout.h"
#include "fixtures.h"

/* The aligned layout, pinned: the header page holds the records of
 * blocks 0..72, whose data fill pages 1..73; then a record page and the
 * 146 pages of its group. A reader of this format depends on exactly
 * these offsets. */
static void lay_offsets(void)
{
	CHECK_EQ_INT(LAY_G0, 73);
	CHECK_EQ_INT(LAY_G, 146);
	CHECK_EQ_INT(lay_data_off(LAY_ALIGNED, 0), 4096);
	CHECK_EQ_INT(lay_data_off(LAY_ALIGNED, 72), 73 * 4096);
	CHECK_EQ_INT(lay_data_off(LAY_ALIGNED, 73), 75 * 4096);
	CHECK_EQ_INT(lay_data_off(LAY_ALIGNED, 218), 220 * 4096);
	CHECK_EQ_INT(lay_data_off(LAY_ALIGNED, 219), 222 * 4096);
	CHECK_EQ_INT(lay_data_off(LAY_PACKED, 2), 2048 + 2 * 4124);
	CHECK_EQ_INT(lay_run(LAY_ALIGNED, 0, UINT64_MAX), 73);
	CHECK_EQ_INT(lay_run(LAY_ALIGNED, 72, UINT64_MAX), 1);
	CHECK_EQ_INT(lay_run(LAY_ALIGNED, 73, UINT64_MAX), 146);
	CHECK_EQ_INT(lay_run(LAY_ALIGNED, 100, UINT64_MAX), 119);
	CHECK_EQ_INT(lay_run(LAY_PACKED, 5, 1u << 30), 1u << 30);
	CHECK_EQ_INT(lay_run(LAY_ALIGNED, 100, 7), 7);
	/* Format 3: page 0 holds the header, the file's state and the
	 * records of blocks 0..35; then groups of 146 as in format 2. */
	CHECK_EQ_INT(lay_header_len(LAY_V3), 3072);
	CHECK_EQ_INT(lay_header_len(LAY_ALIGNED), 2048);
	CHECK_EQ_INT(lay_data_off(LAY_V3, 0), 4096);
	CHECK_EQ_INT(lay_data_off(LAY_V3, 35), 36 * 4096);
	CHECK_EQ_INT(lay_data_off(LAY_V3, 36), 38 * 4096);
	CHECK_EQ_INT(lay_data_off(LAY_V3, 182), 185 * 4096);
	CHECK_EQ_INT(lay_rec_off(LAY_V3, 0), 3072);
	CHECK_EQ_INT(lay_rec_off(LAY_V3, 35), 3072 + 35 * 28);
	CHECK_EQ_INT(lay_rec_off(LAY_V3, 36), 37 * 4096);
	CHECK_EQ_INT(lay_rec_off(LAY_V3, 182), 184 * 4096);
	CHECK_EQ_INT(lay_rec_off(LAY_ALIGNED, 73), 74 * 4096);
	CHECK_EQ_INT(lay_run(LAY_V3, 0, UINT64_MAX), 36);
	CHECK_EQ_INT(lay_run(LAY_V3, 35, UINT64_MAX), 1);
	CHECK_EQ_INT(lay_run(LAY_V3, 40, UINT64_MAX), 142);
	/* Every data page aligned, each block after the last. */
	for (int lay = LAY_ALIGNED; lay <= LAY_V3; lay++)
		for (uint64_t b = 1; b < 2000; b++) {
			off_t o = lay_data_off(lay, b);

			CHECK(o % 4096 == 0 && o > lay_data_off(lay, b - 1));
		}
}

/* Sizes map both ways in both layouts, and a size that ends in the
 * header page or a record page is no valid file. */
static void lay_sizes(void)
{
	static const struct {
		uint64_t plain, aligned;
	} v[] = {
		{ 0, 2048 },
		{ 1, 4097 },
		{ 4096, 8192 },
		{ 4097, 8193 },
		{ 73 * 4096, 74 * 4096 },
		{ 73 * 4096 + 1, 75 * 4096 + 1 },
	};
	const uint64_t edges[] = { 0, 1, 4095, 4096, 4097, 72 * 4096 + 7,
				   73 * 4096, 73 * 4096 + 1, 219 * 4096,
				   219 * 4096 + 4095, 1ull << 40 };

	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		CHECK_EQ_INT(lay_backing_size(LAY_ALIGNED, v[i].plain),
			     v[i].aligned);
		CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, v[i].aligned),
			     v[i].plain);
	}
	CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, 0), 0);
	for (int lay = LAY_PACKED; lay <= LAY_V3; lay++) {
		for (size_t i = 0; i < sizeof(edges) / sizeof(*edges); i++)
			CHECK_EQ_INT(lay_plain_size(lay, lay_backing_size(
					     lay, edges[i])), edges[i]);
		for (uint64_t p = 1; p < 600 * 4096; p += 4093)
			CHECK_EQ_INT(lay_plain_size(lay, lay_backing_size(lay, p)),
				     p);
		CHECK_EQ_INT(lay_plain_size(lay, 2047), -EINVAL);
		/* The largest size a file grows to has an exact backing size. */
		CHECK(lay_backing_size(lay, LAY_PLAIN_MAX) > LAY_PLAIN_MAX &&
		      lay_backing_size(lay, LAY_PLAIN_MAX) < INT64_MAX);
		CHECK_EQ_INT(lay_plain_size(lay, lay_backing_size(
				     lay, LAY_PLAIN_MAX)), (int64_t)LAY_PLAIN_MAX);
	}
	CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, 2049), -EINVAL);
	CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, 4096), -EINVAL);
	CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, 74 * 4096 + 28), -EINVAL);
	CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, 221 * 4096 + 1), -EINVAL);
	CHECK_EQ_INT(lay_plain_size(LAY_V3, 0), 0);
	CHECK_EQ_INT(lay_plain_size(LAY_V3, 3072), 0);
	CHECK_EQ_INT(lay_plain_size(LAY_V3, 2048), -EINVAL);
	CHECK_EQ_INT(lay_plain_size(LAY_V3, 4096), -EINVAL);
	CHECK_EQ_INT(lay_plain_size(LAY_V3, 4097), 1);
	CHECK_EQ_INT(lay_plain_size(LAY_V3, 37 * 4096 + 5), -EINVAL);
	CHECK_EQ_INT(lay_plain_size(LAY_V3, 38 * 4096 + 5), 36 * 4096 + 5);
}

/* What a test of runs works with: a key, nb blocks of plaintext in and
 * out, the run buffers, and an unlinked temporary backing file. */
struct run {
	struct blk_key *k;
	uint8_t *in, *out, *c, *r;
	int fd;
};

static int run_open(struct run *t, uint64_t nb)
{
	const uint8_t dek[KEY_LEN] = { 9 }, id[ID_LEN] = { 1, 2, 3 };
	char path[] = "/tmp/hsmfs-lay-XXXXXX";

	t->k = blk_key_new(dek, id);
	t->in = malloc(nb * BLK_PLAIN);
	t->out = malloc(nb * BLK_PLAIN);
	t->c = malloc(nb * BLK_CIPHER);
	t->r = malloc(nb * LAY_REC);
	t->fd = mkstemp(path);
	if (t->fd >= 0)
		unlink(path);
	CHECK(t->k && t->in && t->out && t->c && t->r && t->fd >= 0);
	return t->k && t->in && t->out && t->c && t->r && t->fd >= 0 ? 0 : -1;
}

static void run_close(struct run *t)
{
	if (t->fd >= 0)
		close(t->fd);
	free(t->in);
	free(t->out);
	free(t->c);
	free(t->r);
	blk_key_free(t->k);
}

/* Writes blocks 0..nb-1 of one layout (the last last bytes) into t->fd. */
static int write_file(int lay, struct run *t, uint64_t nb, size_t last)
{
	uint64_t n;
	int err = 0;

	for (uint64_t b = 0; b < nb && !err; b += n) {
		n = lay_run(lay, b, nb - b);
		err = lay_write_run(lay, t->fd, t->k, b, n,
				    b + n == nb ? last : BLK_PLAIN,
				    t->in + b * BLK_PLAIN, t->c, t->r);
	}
	return err;
}

/* Reads blocks b0 .. b0 + n - 1, all whole, from fd. */
static int read_whole(int lay, struct run *t, int fd, uint64_t b0,
		      uint64_t n, uint64_t *bad)
{
	return lay_read_run(lay, fd, t->k, NULL, b0, n, BLK_PLAIN, t->out,
			    t->c, t->r, bad);
}

/* A file written through layout runs reads back through them; a changed
 * record (nonce or tag) or a swapped data page is refused. */
static void lay_runs(void)
{
	const uint64_t nb = 300, last = 1000;
	uint64_t bad, n;
	struct run t;

	if (run_open(&t, nb))
		goto out;
	for (int lay = LAY_PACKED; lay <= LAY_V3; lay++) {
		CHECK_EQ_INT(ftruncate(t.fd, 0), 0);
		fill_seq(t.in, nb * BLK_PLAIN, (uint8_t)lay);
		CHECK_EQ_INT(write_file(lay, &t, nb, last), 0);
		CHECK_EQ_INT(lseek(t.fd, 0, SEEK_END),
			     lay_backing_size(lay, (nb - 1) * BLK_PLAIN + last));
		for (uint64_t b = 0; b < nb; b += n) {
			n = lay_run(lay, b, nb - b);
			CHECK_EQ_INT(lay_read_run(lay, t.fd, t.k, NULL, b, n,
						  b + n == nb ? last : BLK_PLAIN,
						  t.out + b * BLK_PLAIN, t.c,
						  t.r, &bad), 0);
		}
		CHECK_MEM(t.out, t.in, (nb - 1) * BLK_PLAIN + last);
	}
	/* Aligned: block 80's tag lies in the record page at 74 * 4096. */
	t.c[0] = 0;
	CHECK_EQ_INT(ftruncate(t.fd, 0), 0);
	CHECK_EQ_INT(write_file(LAY_ALIGNED, &t, nb, last), 0);
	CHECK_EQ_INT(pread(t.fd, t.c, 1, 74 * 4096 + 7 * LAY_REC + 20), 1);
	t.c[0] ^= 1;
	CHECK_EQ_INT(pwrite(t.fd, t.c, 1, 74 * 4096 + 7 * LAY_REC + 20), 1);
	CHECK_EQ_INT(read_whole(LAY_ALIGNED, &t, t.fd, 73, 10, &bad),
		     -EBADMSG);
	CHECK_EQ_INT(bad, 80);
	CHECK_EQ_INT(read_whole(LAY_ALIGNED, &t, t.fd, 81, 1, &bad), 0);
	/* Block 2's page where block 1's was. */
	CHECK_EQ_INT(pread(t.fd, t.c, 4096, 3 * 4096), 4096);
	CHECK_EQ_INT(pwrite(t.fd, t.c, 4096, 2 * 4096), 4096);
	CHECK_EQ_INT(read_whole(LAY_ALIGNED, &t, t.fd, 0, 3, &bad), -EBADMSG);
	CHECK_EQ_INT(bad, 1);
	/* The last block asked for longer than it is. */
	CHECK_EQ_INT(read_whole(LAY_ALIGNED, &t, t.fd, nb - 1, 1, &bad),
		     -ENODATA);
out:
	run_close(&t);
}

/* A read's three failures stay apart in both layouts: a file cut short
 * is -ENODATA naming the first block it lacks, a flipped byte -EBADMSG,
 * a disk error its own errno; each in words for the log. */
static void lay_read_errors(void)
{
	int wfd = open("/dev/null", O_WRONLY);
	char msg[64];
	uint64_t bad;
	struct run t;
	off_t off;

	if (run_open(&t, 10))
		goto out;
	fill_seq(t.in, 10 * BLK_PLAIN, 7);
	for (int lay = LAY_PACKED; lay <= LAY_V3; lay++) {
		CHECK_EQ_INT(ftruncate(t.fd, 0), 0);
		CHECK_EQ_INT(write_file(lay, &t, 10, BLK_PLAIN), 0);
		CHECK_EQ_INT(read_whole(lay, &t, t.fd, 0, 10, &bad), 0);
		/* Truncated inside block 6. */
		CHECK_EQ_INT(ftruncate(t.fd, lay_data_off(lay, 6) + 100), 0);
		bad = 99;
		CHECK_EQ_INT(read_whole(lay, &t, t.fd, 0, 10, &bad), -ENODATA);
		CHECK_EQ_INT(bad, 6);
		CHECK_EQ_INT(read_whole(lay, &t, t.fd, 7, 3, &bad), -ENODATA);
		CHECK_EQ_INT(bad, 7);
		CHECK_EQ_INT(read_whole(lay, &t, t.fd, 0, 6, &bad), 0);
		/* One flipped ciphertext byte of block 4. */
		off = lay_data_off(lay, 4) +
		      (lay == LAY_PACKED ? BLK_NONCE : 0);
		CHECK_EQ_INT(pread(t.fd, t.c, 1, off + 9), 1);
		t.c[0] ^= 0x04;
		CHECK_EQ_INT(pwrite(t.fd, t.c, 1, off + 9), 1);
		CHECK_EQ_INT(read_whole(lay, &t, t.fd, 0, 6, &bad), -EBADMSG);
		CHECK_EQ_INT(bad, 4);
		/* The disk's own error: a descriptor that cannot read. */
		CHECK_EQ_INT(read_whole(lay, &t, wfd, 0, 1, &bad), -EBADF);
		CHECK_EQ_INT(bad, 0);
	}
	CHECK(strcmp(lay_strerror(-ENODATA, msg, sizeof(msg)),
		     "is short") == 0);
	CHECK(strcmp(lay_strerror(-EBADMSG, msg, sizeof(msg)),
		     "failed authentication") == 0);
	CHECK(strcmp(lay_strerror(-EIO, msg, sizeof(msg)),
		     "read error: Input/output error") == 0);
out:
	if (wfd >= 0)
		close(wfd);
	run_close(&t);
}

/* Format 3 holes: a zeroed block and record read as zeros only where
 * the file's state lists a hole; anywhere else, and for a record that is
 * not all zero, the block fails as before. */
static void lay_holes(void)
{
	struct fmeta m = { .gen = 1, .nholes = 2,
			   .hole = { { 3, 2 }, { 200, 50 } } };
	static const uint8_t zero[BLK_PLAIN];
	uint64_t bad;
	struct run t;

	if (run_open(&t, 300))
		goto out;
	fill_seq(t.in, 300 * BLK_PLAIN, 5);
	CHECK_EQ_INT(write_file(LAY_V3, &t, 300, BLK_PLAIN), 0);
	CHECK_EQ_INT(fmeta_in_hole(&m, 2), 0);
	CHECK_EQ_INT(fmeta_in_hole(&m, 3), 1);
	CHECK_EQ_INT(fmeta_in_hole(&m, 4), 1);
	CHECK_EQ_INT(fmeta_in_hole(&m, 5), 0);
	CHECK_EQ_INT(fmeta_in_hole(&m, 249), 1);
	CHECK_EQ_INT(fmeta_in_hole(&m, 250), 0);
	/* Blocks 3, 5 and 210 zeroed, data and record. */
	for (uint64_t b = 3; b <= 210; b += (b == 3 ? 2 : 205)) {
		CHECK_EQ_INT(pwrite(t.fd, zero, BLK_PLAIN,
				    lay_data_off(LAY_V3, b)), BLK_PLAIN);
		CHECK_EQ_INT(pwrite(t.fd, zero, LAY_REC,
				    lay_rec_off(LAY_V3, b)), LAY_REC);
	}
	CHECK_EQ_INT(lay_read_run(LAY_V3, t.fd, t.k, &m, 0, 5, BLK_PLAIN,
				  t.out, t.c, t.r, &bad), 0);
	CHECK_MEM(t.out, t.in, 3 * BLK_PLAIN);
	CHECK_MEM(t.out + 3 * BLK_PLAIN, zero, BLK_PLAIN);
	CHECK_MEM(t.out + 4 * BLK_PLAIN, t.in + 4 * BLK_PLAIN, BLK_PLAIN);
	CHECK_EQ_INT(lay_read_run(LAY_V3, t.fd, t.k, &m, 5, 1, BLK_PLAIN,
				  t.out, t.c, t.r, &bad), -EBADMSG);
	CHECK_EQ_INT(lay_read_run(LAY_V3, t.fd, t.k, NULL, 3, 1, BLK_PLAIN,
				  t.out, t.c, t.r, &bad), -EBADMSG);
	CHECK_EQ_INT(lay_read_run(LAY_V3, t.fd, t.k, &m, 210, 1, BLK_PLAIN,
				  t.out, t.c, t.r, &bad), 0);
	CHECK_MEM(t.out, zero, BLK_PLAIN);
	/* The same record with one bit set is no hole. */
	CHECK_EQ_INT(pwrite(t.fd, "\1", 1, lay_rec_off(LAY_V3, 3) + 27), 1);
	CHECK_EQ_INT(lay_read_run(LAY_V3, t.fd, t.k, &m, 3, 1, BLK_PLAIN,
				  t.out, t.c, t.r, &bad), -EBADMSG);
out:
	run_close(&t);
}

CHECK_MAIN("layout",
	   T(lay_offsets), T(lay_sizes), T(lay_runs), T(lay_read_errors),
	   T(lay_holes))
