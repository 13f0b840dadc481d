/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "common/b64.h"
#include "emu.h"
#include "util.h"

/* Wall-clock seconds, for key attributes and token lifetimes. */
int64_t now_unix(void)
{
	return (int64_t)time(NULL);
}

/* Audit timestamps: RFC 3339, UTC, millisecond precision. */
void rfc3339_now(char out[32])
{
	struct timespec ts;
	struct tm tm;
	char s[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03ldZ", s, ts.tv_nsec / 1000000);
}

/* Key versions, control tokens and ids all come from the OpenSSL DRBG. */
int rand_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[64];

	if (n > sizeof(b) || RAND_bytes(b, (int)n) != 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
	OPENSSL_cleanse(b, sizeof(b));
	return 0;
}

/* Object ids and role-assignment names look like Entra GUIDs. */
int make_guid(char out[37])
{
	uint8_t b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/* Fault injection draws: 53 random bits scaled into [0,1). */
double rand_unit(void)
{
	uint64_t v = 0;

	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		return 0.999999;
	return (double)(v >> 11) / 9007199254740992.0;
}

/* Bounded whole-file read; the buffer is NUL-terminated for parsers. */
int read_file(const char *path, char **buf, size_t *len, size_t max)
{
	char *p = NULL;
	size_t n = 0;
	int fd, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	p = malloc(max + 1);
	if (!p)
		goto out;
	for (;;) {
		ssize_t r = read(fd, p + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto out;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			errno = EFBIG;
			goto out;
		}
	}
	p[n] = '\0';
	*buf = p;
	*len = n;
	p = NULL;
	ret = 0;
out:
	if (p) {
		OPENSSL_cleanse(p, n);
		free(p);
	}
	close(fd);
	return ret;
}

/* fsync the directory holding path so that a rename is durable. */
static void sync_parent(const char *path)
{
	char tmp[600];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s", path);
	fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Crash-safe replace: readers see the old or the new file, never a mix. */
int write_file_atomic(const char *path, const void *buf, size_t len,
		      mode_t mode)
{
	const char *p = buf;
	char tmp[600];
	int fd, ret = -1;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		p += w;
		len -= (size_t)w;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
		goto out;
	if (close(fd) < 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto out;
	sync_parent(path);
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret)
		unlink(tmp);
	return ret;
}

/* Secrets and tokens are compared without an early exit. */
int ct_streq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return 0;
	return CRYPTO_memcmp(a, b, la) == 0;
}

/* Names that end up in paths, JSON and logs are restricted up front. */
int valid_ident(const char *s, size_t max, const char *extra)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++) {
		char c = s[n];
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z'))
			continue;
		if (!extra || !strchr(extra, c))
			return 0;
	}
	return n >= 1 && n <= max;
}

/* Convenience wrapper for the common encoder. */
char *b64url_alloc(const uint8_t *in, size_t n)
{
	char *s = malloc(B64_ENC_LEN(n) + 1);

	if (s)
		b64url_encode(in, n, s);
	return s;
}

/* Every state file lives directly in the state directory. */
int state_path(char *out, size_t cap, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", emu.dir, name);

	return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

/* PEM through a memory BIO, whose buffer is wiped before it is freed. */
char *pkey_to_pem(EVP_PKEY *pkey)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long n;

	if (b && PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL)) {
		n = BIO_get_mem_data(b, &data);
		s = n > 0 ? strndup(data, (size_t)n) : NULL;
		OPENSSL_cleanse(data, (size_t)(n > 0 ? n : 0));
	}
	BIO_free(b);
	return s;
}

/* JWK numbers are unsigned big-endian, base64url without padding. */
int jwk_add_bn(cJSON *o, EVP_PKEY *pkey, const char *param, const char *name,
	       int pad)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	char *s = NULL;
	int n, ret = -1;

	if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
		return -1;
	n = pad ? pad : BN_num_bytes(bn);
	if (n > 0 && n <= (int)sizeof(buf) && BN_bn2binpad(bn, buf, n) == n &&
	    (s = b64url_alloc(buf, (size_t)n)) && cJSON_AddStringToObject(o, name, s))
		ret = 0;
	free(s);
	BN_free(bn);
	return ret;
}
