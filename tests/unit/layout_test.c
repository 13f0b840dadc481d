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
	/* Every data page aligned, each block after the last. */
	for (uint64_t b = 1; b < 2000; b++) {
		off_t o = lay_data_off(LAY_ALIGNED, b);

		CHECK(o % 4096 == 0 && o > lay_data_off(LAY_ALIGNED, b - 1));
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
	for (int lay = LAY_PACKED; lay <= LAY_ALIGNED; lay++) {
		for (size_t i = 0; i < sizeof(edges) / sizeof(*edges); i++)
			CHECK_EQ_INT(lay_plain_size(lay, lay_backing_size(
					     lay, edges[i])), edges[i]);
		for (uint64_t p = 1; p < 600 * 4096; p += 4093)
			CHECK_EQ_INT(lay_plain_size(lay, lay_backing_size(lay, p)),
				     p);
		CHECK_EQ_INT(lay_plain_size(lay, 2047), -EINVAL);
	}
	CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, 2049), -EINVAL);
	CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, 4096), -EINVAL);
	CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, 74 * 4096 + 28), -EINVAL);
	CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, 221 * 4096 + 1), -EINVAL);
}

/* A file written through layout runs reads back through them; a changed
 * record (nonce or tag) or a swapped data page is refused. */
static void lay_runs(void)
{
	const uint8_t dek[KEY_LEN] = { 9 }, id[ID_LEN] = { 1, 2, 3 };
	struct blk_key *k = blk_key_new(dek, id);
	const uint64_t nb = 300, last = 1000;
	uint8_t *in = malloc(nb * BLK_PLAIN), *out = malloc(nb * BLK_PLAIN);
	uint8_t *c = malloc(nb * BLK_CIPHER), *r = malloc(nb * LAY_REC);
	char path[] = "/tmp/hsmfs-lay-XXXXXX";
	int fd = mkstemp(path);
	uint64_t bad, n;

	CHECK(k && in && out && c && r && fd >= 0);
	if (!k || !in || !out || !c || !r || fd < 0)
		goto out;
	unlink(path);
	for (int lay = LAY_PACKED; lay <= LAY_ALIGNED; lay++) {
		CHECK_EQ_INT(ftruncate(fd, 0), 0);
		fill_seq(in, nb * BLK_PLAIN, (uint8_t)lay);
		for (uint64_t b = 0; b < nb; b += n) {
			n = lay_run(lay, b, nb - b);
			CHECK_EQ_INT(lay_write_run(lay, fd, k, b, n,
						   b + n == nb ? last : BLK_PLAIN,
						   in + b * BLK_PLAIN, c, r), 0);
		}
		CHECK_EQ_INT(lseek(fd, 0, SEEK_END),
			     lay_backing_size(lay, (nb - 1) * BLK_PLAIN + last));
		for (uint64_t b = 0; b < nb; b += n) {
			n = lay_run(lay, b, nb - b);
			CHECK_EQ_INT(lay_read_run(lay, fd, k, b, n,
						  b + n == nb ? last : BLK_PLAIN,
						  out + b * BLK_PLAIN, c, r, &bad), 0);
		}
		CHECK_MEM(out, in, (nb - 1) * BLK_PLAIN + last);
	}
	/* Aligned: block 80's tag lies in the record page at 74 * 4096. */
	c[0] = 0;
	CHECK_EQ_INT(pread(fd, c, 1, 74 * 4096 + 7 * LAY_REC + 20), 1);
	c[0] ^= 1;
	CHECK_EQ_INT(pwrite(fd, c, 1, 74 * 4096 + 7 * LAY_REC + 20), 1);
	CHECK_EQ_INT(lay_read_run(LAY_ALIGNED, fd, k, 73, 10, BLK_PLAIN, out,
				  c, r, &bad), -EBADMSG);
	CHECK_EQ_INT(bad, 80);
	CHECK_EQ_INT(lay_read_run(LAY_ALIGNED, fd, k, 81, 1, BLK_PLAIN, out,
				  c, r, &bad), 0);
	/* Block 2's page where block 1's was. */
	CHECK_EQ_INT(pread(fd, c, 4096, 3 * 4096), 4096);
	CHECK_EQ_INT(pwrite(fd, c, 4096, 2 * 4096), 4096);
	CHECK_EQ_INT(lay_read_run(LAY_ALIGNED, fd, k, 0, 3, BLK_PLAIN, out,
				  c, r, &bad), -EBADMSG);
	CHECK_EQ_INT(bad, 1);
	/* The last block asked for longer than it is. */
	CHECK_EQ_INT(lay_read_run(LAY_ALIGNED, fd, k, nb - 1, 1, BLK_PLAIN, out,
				  c, r, &bad), -ENODATA);
out:
	if (fd >= 0)
		close(fd);
	free(in);
	free(out);
	free(c);
	free(r);
	blk_key_free(k);
}

/* Writes blocks 0..nb-1 of one layout (the last last bytes) into fd. */
static int write_file(int lay, int fd, const struct blk_key *k, uint64_t nb,
		      size_t last, uint8_t *in, uint8_t *c, uint8_t *r)
{
	uint64_t n;
	int err = 0;

	for (uint64_t b = 0; b < nb && !err; b += n) {
		n = lay_run(lay, b, nb - b);
		err = lay_write_run(lay, fd, k, b, n,
				    b + n == nb ? last : BLK_PLAIN,
				    in + b * BLK_PLAIN, c, r);
	}
	return err;
}

/* A read's three failures stay apart in both layouts: a file cut short
 * is -ENODATA naming the first block it lacks, a flipped byte -EBADMSG,
 * a disk error its own errno; each in words for the log. */
static void lay_read_errors(void)
{
	const uint64_t nb = 100;
	struct blk_key *k = test_blk_key(3, 0x40);
	uint8_t *in = malloc(nb * BLK_PLAIN), *out = malloc(nb * BLK_PLAIN);
	uint8_t *c = malloc(nb * BLK_CIPHER), *r = malloc(nb * LAY_REC);
	char path[] = "/tmp/hsmfs-lay-XXXXXX", msg[64];
	int fd = mkstemp(path), wfd = -1;
	uint64_t bad;
	off_t off;

	CHECK(k && in && out && c && r && fd >= 0);
	if (!k || !in || !out || !c || !r || fd < 0)
		goto out;
	wfd = open(path, O_WRONLY);
	unlink(path);
	fill_seq(in, nb * BLK_PLAIN, 7);
	for (int lay = LAY_PACKED; lay <= LAY_ALIGNED; lay++) {
		CHECK_EQ_INT(ftruncate(fd, 0), 0);
		CHECK_EQ_INT(write_file(lay, fd, k, 10, BLK_PLAIN, in, c, r),
			     0);
		CHECK_EQ_INT(lay_read_run(lay, fd, k, 0, 10, BLK_PLAIN, out,
					  c, r, &bad), 0);
		/* Truncated inside block 6. */
		CHECK_EQ_INT(ftruncate(fd, lay_data_off(lay, 6) + 100), 0);
		bad = 99;
		CHECK_EQ_INT(lay_read_run(lay, fd, k, 0, 10, BLK_PLAIN, out,
					  c, r, &bad), -ENODATA);
		CHECK_EQ_INT(bad, 6);
		CHECK_EQ_INT(lay_read_run(lay, fd, k, 7, 3, BLK_PLAIN, out,
					  c, r, &bad), -ENODATA);
		CHECK_EQ_INT(bad, 7);
		CHECK_EQ_INT(lay_read_run(lay, fd, k, 0, 6, BLK_PLAIN, out,
					  c, r, &bad), 0);
		/* One flipped ciphertext byte of block 4. */
		off = lay_data_off(lay, 4) + (lay == LAY_PACKED ? BLK_NONCE : 0);
		CHECK_EQ_INT(pread(fd, c, 1, off + 9), 1);
		c[0] ^= 0x04;
		CHECK_EQ_INT(pwrite(fd, c, 1, off + 9), 1);
		CHECK_EQ_INT(lay_read_run(lay, fd, k, 0, 6, BLK_PLAIN, out,
					  c, r, &bad), -EBADMSG);
		CHECK_EQ_INT(bad, 4);
		/* The disk's own error: a descriptor that cannot read. */
		CHECK(wfd >= 0);
		CHECK_EQ_INT(lay_read_run(lay, wfd, k, 0, 1, BLK_PLAIN, out,
					  c, r, &bad), -EBADF);
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
	if (fd >= 0)
		close(fd);
	free(in);
	free(out);
	free(c);
	free(r);
	blk_key_free(k);
}

CHECK_MAIN("layout",
	   T(lay_offsets), T(lay_sizes), T(lay_runs), T(lay_read_errors))
