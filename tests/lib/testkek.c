/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A software KEK for test programs only; the shipped hsmfs never links it.
 *
 *   testkek://NAME[/VERSION]   keys in $HSMFS_TESTKEK_DIR:
 *     NAME.current             the current version's name
 *     NAME.VERSION             32 key bytes
 *     NAME.VERSION.disabled    present: the version refuses to unwrap
 * A NAME starting with "far-" stands for a KEK on a host outside the
 * token's domain: it opens only if kek_opts.host_named says the operator
 * named it, as the Azure provider's rule has it.
 *
 * Wraps with AES key wrap with padding (RFC 5649), like an oct-HSM key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "hsmclient/kek.h"

struct tkek {
	struct kek base;
	char name[128];
	char pinned[64]; /* version from the URL, or "" for current */
};

static const struct kek_provider testkek_provider;

static const char *dir(void)
{
	const char *d = getenv("HSMFS_TESTKEK_DIR");

	return d ? d : ".";
}

static int read_file(const char *path, void *buf, size_t cap, size_t *n)
{
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	*n = fread(buf, 1, cap, f);
	fclose(f);
	return 0;
}

static enum kek_status current(struct tkek *t, char ver[64], char *err)
{
	char path[512];
	size_t n = 0;

	if (t->pinned[0]) {
		snprintf(ver, 64, "%s", t->pinned);
		return KEK_OK;
	}
	snprintf(path, sizeof(path), "%s/%s.current", dir(), t->name);
	if (read_file(path, ver, 63, &n) != 0 || n == 0) {
		snprintf(err, KEK_ERR_MAX, "test key %s not found", t->name);
		return KEK_E_NOTFOUND;
	}
	ver[strcspn(ver, "\n")] = '\0';
	return KEK_OK;
}

static enum kek_status load(struct tkek *t, const char *ver, uint8_t key[32],
			    int for_unwrap, char *err)
{
	char path[512];
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s.%s.disabled", dir(), t->name, ver);
	if (access(path, F_OK) == 0) {
		snprintf(err, KEK_ERR_MAX, "test key %s/%s is disabled",
			 t->name, ver);
		return KEK_E_FORBIDDEN;
	}
	snprintf(path, sizeof(path), "%s/%s.%s", dir(), t->name, ver);
	if (read_file(path, key, 32, &n) != 0 || n != 32) {
		snprintf(err, KEK_ERR_MAX, "test key %s/%s not found", t->name,
			 ver);
		return KEK_E_NOTFOUND;
	}
	(void)for_unwrap;
	return KEK_OK;
}

static enum kek_status t_open(const char *url, const struct kek_opts *o,
			      struct kek **out, char *err)
{
	struct tkek *t = calloc(1, sizeof(*t));
	const char *p = url + strlen("testkek://"), *slash;

	if (!t)
		return KEK_E_NOMEM;
	slash = strchr(p, '/');
	snprintf(t->name, sizeof(t->name), "%.*s",
		 (int)(slash ? (size_t)(slash - p) : strlen(p)), p);
	if (slash)
		snprintf(t->pinned, sizeof(t->pinned), "%s", slash + 1);
	if (!t->name[0]) {
		free(t);
		snprintf(err, KEK_ERR_MAX, "bad test KEK URL %s", url);
		return KEK_E_INVAL;
	}
	if (strncmp(t->name, "far-", 4) == 0 && !(o && o->host_named)) {
		free(t);
		snprintf(err, KEK_ERR_MAX, "test KEK %s is far away and was "
			 "not named by the operator: nothing is sent to it",
			 url);
		return KEK_E_INVAL;
	}
	t->base.prov = &testkek_provider;
	*out = &t->base;
	return KEK_OK;
}

static void t_close(struct kek *k)
{
	free(k);
}

static enum kek_status t_describe(struct kek *k, struct kek_info *info,
				  char *err)
{
	struct tkek *t = (struct tkek *)k;
	uint8_t key[32];
	char ver[64];
	enum kek_status st = current(t, ver, err);

	if (st == KEK_OK)
		st = load(t, ver, key, 0, err);
	OPENSSL_cleanse(key, sizeof(key));
	if (st != KEK_OK)
		return st;
	snprintf(info->kid, sizeof(info->kid), "testkek://%s/%s", t->name, ver);
	snprintf(info->kty, sizeof(info->kty), "oct");
	info->bits = 256;
	info->alg = KEK_ALG_AES_KW_PAD;
	info->enabled = true;
	return KEK_OK;
}

static int aes_kw(int enc, const uint8_t key[32], const uint8_t *in,
		  size_t n, uint8_t *out, size_t *outlen)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0, ok;

	if (!c)
		return -1;
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	ok = EVP_CipherInit_ex(c, EVP_aes_256_wrap_pad(), NULL, key, NULL,
			       enc) == 1 &&
	     EVP_CipherUpdate(c, out, &l1, in, (int)n) == 1 &&
	     EVP_CipherFinal_ex(c, out + l1, &l2) == 1;
	EVP_CIPHER_CTX_free(c);
	*outlen = (size_t)(l1 + l2);
	return ok ? 0 : -1;
}

static enum kek_status t_wrap(struct kek *k, const uint8_t *in, size_t inlen,
			      uint8_t *out, size_t *outlen,
			      char kid[KEK_KID_MAX], enum kek_alg *alg,
			      char *err)
{
	struct tkek *t = (struct tkek *)k;
	uint8_t key[32];
	char ver[64];
	enum kek_status st = current(t, ver, err);

	if (st == KEK_OK)
		st = load(t, ver, key, 0, err);
	if (st == KEK_OK && aes_kw(1, key, in, inlen, out, outlen) != 0)
		st = KEK_E_CRYPTO;
	OPENSSL_cleanse(key, sizeof(key));
	if (st != KEK_OK)
		return st;
	snprintf(kid, KEK_KID_MAX, "testkek://%s/%s", t->name, ver);
	*alg = KEK_ALG_AES_KW_PAD;
	return KEK_OK;
}

static bool t_owns(struct kek *k, const char *kid)
{
	struct tkek *t = (struct tkek *)k;
	char prefix[160];

	snprintf(prefix, sizeof(prefix), "testkek://%s/", t->name);
	return strncmp(kid, prefix, strlen(prefix)) == 0 &&
	       kid[strlen(prefix)] && !strchr(kid + strlen(prefix), '/');
}

static enum kek_status t_unwrap(struct kek *k, const char *kid,
				enum kek_alg alg, const uint8_t *in,
				size_t inlen, uint8_t *out, size_t *outlen,
				char *err)
{
	struct tkek *t = (struct tkek *)k;
	const char *ver = strrchr(kid, '/');
	uint8_t key[32], tmp[KEK_WRAPPED_MAX];
	size_t n = 0;
	enum kek_status st;

	if (!ver || alg != KEK_ALG_AES_KW_PAD || inlen > sizeof(tmp))
		return KEK_E_INVAL;
	ver++;
	st = load(t, ver, key, 1, err);
	if (st == KEK_OK && (aes_kw(0, key, in, inlen, tmp, &n) != 0 ||
			     n > *outlen)) {
		snprintf(err, KEK_ERR_MAX, "unwrap failed");
		st = KEK_E_CRYPTO;
	}
	if (st == KEK_OK) {
		memcpy(out, tmp, n);
		*outlen = n;
	}
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return st;
}

static const struct kek_provider testkek_provider = {
	.scheme = "testkek",
	.open = t_open,
	.close = t_close,
	.describe = t_describe,
	.wrap = t_wrap,
	.unwrap = t_unwrap,
	.owns = t_owns,
};

const struct kek_provider *const kek_providers[] = { &testkek_provider,
						     NULL };
