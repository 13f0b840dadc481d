/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkfiles DIR COUNT MINSIZE MAXSIZE SEED [FIRST]
 *
 * Creates COUNT files numbered from FIRST (default 0), spread over 100
 * subdirectories of DIR (DIR/d00 .. DIR/d99, files fNNNNNNN), each
 * MINSIZE..MAXSIZE bytes of pseudo-random
 * content from a seeded xorshift generator, so that the same arguments
 * always give the same tree. Used by tools/bench/run to build the
 * small-file tar and to create many files on a mount quickly (one process
 * instead of one per file).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NDIRS 100
#define MAXBUF (1 << 20)

static uint64_t rng_state;

/* One step of xorshift64*. */
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* Fills buf with n pseudo-random bytes. */
static void fill(unsigned char *buf, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rng();
		size_t k = n - i < 8 ? n - i : 8;

		memcpy(buf + i, &v, k);
	}
}

/* Writes all n bytes of buf to fd; returns 0 or -1. */
static int write_all(int fd, const unsigned char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Creates the NDIRS subdirectories of dir. */
static int make_dirs(const char *dir)
{
	char path[4096];

	for (int d = 0; d < NDIRS; d++) {
		snprintf(path, sizeof(path), "%s/d%02d", dir, d);
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			perror(path);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	char path[4096];
	unsigned char *buf;
	long count, minsz, maxsz, first;

	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: mkfiles DIR COUNT MINSIZE MAXSIZE SEED [FIRST]\n");
		return 2;
	}
	count = atol(argv[2]);
	minsz = atol(argv[3]);
	maxsz = atol(argv[4]);
	first = argc == 7 ? atol(argv[6]) : 0;
	rng_state = strtoull(argv[5], NULL, 10) * 0x9E3779B97F4A7C15ULL + 1;
	if (count < 0 || first < 0 || minsz < 0 || maxsz < minsz || maxsz > MAXBUF) {
		fprintf(stderr, "mkfiles: bad sizes\n");
		return 2;
	}
	buf = malloc(MAXBUF);
	if (!buf || make_dirs(argv[1]) < 0)
		return 1;
	for (long i = first; i < first + count; i++) {
		size_t n = (size_t)(minsz + (long)(rng() % (uint64_t)(maxsz - minsz + 1)));
		int fd;

		snprintf(path, sizeof(path), "%s/d%02ld/f%07ld", argv[1], i % NDIRS, i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			perror(path);
			return 1;
		}
		fill(buf, n);
		if (write_all(fd, buf, n) < 0 || close(fd) < 0) {
			perror(path);
			return 1;
		}
	}
	free(buf);
	return 0;
}
