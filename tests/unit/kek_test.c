/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KEK dispatch (hsmclient/kek.c): the URL scheme picks the provider, and
 * a key id from an (untrusted) header is only ever passed to the provider
 * that owns it. Runs against the software test KEK, and a spy provider
 * that records which calls reach it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "crypto/hdr.h"
#include "hsmclient/kek.h"

static char keydir[] = "/tmp/hsmfs-kek-XXXXXX";
static int keydir_ready;

static int write_file(const char *name, const void *p, size_t n)
{
	char path[256];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", keydir, name);
	f = fopen(path, "we");
	if (!f)
		return -1;
	ok = fwrite(p, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static void remove_file(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", keydir, name);
	unlink(path);
}

static void cleanup(void)
{
	static const char *const names[] = { "k.current", "k.v1", "k.v2",
					     "k.v1.disabled", "other.current",
					     "other.v1" };

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		remove_file(names[i]);
	rmdir(keydir);
}

static void key_bytes(uint8_t key[32], uint8_t start)
{
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(start + i);
}

/* Key "k" at version v1 (current) and "other" at v1, with other bytes. */
static int setup(void)
{
	uint8_t key[32];

	if (keydir_ready)
		return 0;
	if (!mkdtemp(keydir))
		return -1;
	atexit(cleanup);
	setenv("HSMFS_TESTKEK_DIR", keydir, 1);
	key_bytes(key, 0x10);
	if (write_file("k.current", "v1\n", 3) || write_file("k.v1", key, 32))
		return -1;
	key_bytes(key, 0x90);
	if (write_file("other.current", "v1", 2) ||
	    write_file("other.v1", key, 32))
		return -1;
	keydir_ready = 1;
	return 0;
}

static void make_rec(uint8_t rec[REC_LEN])
{
	uint8_t id[ID_LEN], key[KEY_LEN];

	for (int i = 0; i < ID_LEN; i++)
		id[i] = (uint8_t)(0xa0 + i);
	for (int i = 0; i < KEY_LEN; i++)
		key[i] = (uint8_t)i;
	rec_pack(REC_MAGIC_DEK, id, key, rec);
}

/* A typo'd or unsupported KEK URL fails at mount/init with a message
 * that names the scheme it did not understand. */
static void open_unknown_scheme(void)
{
	static const char *const urls[] = {
		"nosuchhsm://vault/keys/k", "testke://k", "testkekx://k",
		"pkcs11://slot/1",
	};
	struct kek *k = (struct kek *)&k;
	char err[KEK_ERR_MAX], scheme[32];

	for (size_t i = 0; i < sizeof(urls) / sizeof(*urls); i++) {
		err[0] = '\0';
		CHECK_EQ_INT(kek_open(urls[i], NULL, &k, err), KEK_E_INVAL);
		CHECK(k == NULL);
		snprintf(scheme, sizeof(scheme), "'%.*s'",
			 (int)(strstr(urls[i], "://") - urls[i]), urls[i]);
		if (!strstr(err, scheme)) {
			fprintf(stderr, "  %s: err \"%s\" lacks %s\n", urls[i],
				err, scheme);
			check_failed_now = 1;
		}
	}
}

/* A KEK "URL" without a scheme is refused as such, whatever it looks
 * like. */
static void open_no_scheme(void)
{
	static const char *const urls[] = {
		"", "k", "testkek", "testkek:", "testkek:/k", "testkek:k",
		"/etc/hsmfs/key", "vault.azure.net/keys/k",
	};
	struct kek *k = (struct kek *)&k;
	char err[KEK_ERR_MAX];

	for (size_t i = 0; i < sizeof(urls) / sizeof(*urls); i++) {
		err[0] = '\0';
		CHECK_EQ_INT(kek_open(urls[i], NULL, &k, err), KEK_E_INVAL);
		CHECK(k == NULL);
		CHECK(strstr(err, "scheme") != NULL);
	}
	/* An empty scheme is no scheme of any provider. */
	CHECK_EQ_INT(kek_open("://k", NULL, &k, err), KEK_E_INVAL);
	CHECK(k == NULL);
	CHECK(err[0] != '\0');
	kek_close(NULL); /* harmless, like free(NULL) */
}

/* A DEK record wrapped by the KEK unwraps to the same bytes, with the
 * kid and algorithm the header will store; after a KEK rotation new
 * wraps use the new version while old headers still unwrap. */
static void wrap_unwrap_roundtrip(void)
{
	uint8_t rec[REC_LEN], w1[KEK_WRAPPED_MAX], w2[KEK_WRAPPED_MAX];
	uint8_t out[KEK_WRAPPED_MAX], key[32];
	char kid1[KEK_KID_MAX], kid2[KEK_KID_MAX], err[KEK_ERR_MAX];
	size_t n1 = 0, n2 = 0, on;
	enum kek_alg alg = KEK_ALG_NONE;
	struct kek_info info;
	struct kek *k = NULL;

	CHECK(setup() == 0);
	make_rec(rec);
	CHECK_EQ_INT(kek_open("testkek://k", NULL, &k, err), KEK_OK);
	if (!k)
		return;
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_OK);
	CHECK(strcmp(info.kid, "testkek://k/v1") == 0);
	CHECK_EQ_INT(info.alg, KEK_ALG_AES_KW_PAD);
	CHECK(info.enabled);

	CHECK_EQ_INT(kek_wrap(k, rec, sizeof(rec), w1, &n1, kid1, &alg, err),
		     KEK_OK);
	CHECK(strcmp(kid1, "testkek://k/v1") == 0);
	CHECK_EQ_INT(alg, KEK_ALG_AES_KW_PAD);
	CHECK(n1 > sizeof(rec) && n1 <= KEK_WRAPPED_MAX);
	CHECK(memmem(w1, n1, rec + 8, ID_LEN + KEY_LEN) == NULL);
	CHECK(kek_owns(k, kid1));

	on = sizeof(out);
	memset(out, 0, sizeof(out));
	CHECK_EQ_INT(kek_unwrap(k, kid1, alg, w1, n1, out, &on, err), KEK_OK);
	CHECK_EQ_INT(on, sizeof(rec));
	CHECK_MEM(out, rec, sizeof(rec));

	/* Tampered wrapped bytes do not unwrap. */
	w1[n1 / 2] ^= 1;
	on = sizeof(out);
	CHECK(kek_unwrap(k, kid1, alg, w1, n1, out, &on, err) != KEK_OK);
	w1[n1 / 2] ^= 1;

	/* Rotate: v2 becomes current. */
	key_bytes(key, 0x50);
	CHECK(write_file("k.v2", key, 32) == 0);
	CHECK(write_file("k.current", "v2\n", 3) == 0);
	CHECK_EQ_INT(kek_wrap(k, rec, sizeof(rec), w2, &n2, kid2, &alg, err),
		     KEK_OK);
	CHECK(strcmp(kid2, "testkek://k/v2") == 0);
	CHECK(n1 != n2 || memcmp(w1, w2, n1) != 0);
	on = sizeof(out);
	CHECK_EQ_INT(kek_unwrap(k, kid2, alg, w2, n2, out, &on, err), KEK_OK);
	CHECK_MEM(out, rec, sizeof(rec));
	on = sizeof(out);
	CHECK_EQ_INT(kek_unwrap(k, kid1, alg, w1, n1, out, &on, err), KEK_OK);
	CHECK_MEM(out, rec, sizeof(rec));
	/* The wrong version's key does not open it. */
	on = sizeof(out);
	CHECK_EQ_INT(kek_unwrap(k, kid2, alg, w1, n1, out, &on, err),
		     KEK_E_CRYPTO);
	/* A disabled version is refused, and the provider's status comes
	 * through the dispatch unchanged. */
	CHECK(write_file("k.v1.disabled", "", 0) == 0);
	on = sizeof(out);
	err[0] = '\0';
	CHECK_EQ_INT(kek_unwrap(k, kid1, alg, w1, n1, out, &on, err),
		     KEK_E_FORBIDDEN);
	CHECK(err[0] != '\0');
	remove_file("k.v1.disabled");
	CHECK(write_file("k.current", "v1\n", 3) == 0);
	kek_close(k);
}

/* The spy: owns "spy://k/..." only, and counts what reaches it. */
struct spy {
	struct kek base;
	int owns_calls, unwrap_calls;
};

static bool spy_owns(struct kek *k, const char *kid)
{
	((struct spy *)k)->owns_calls++;
	return strncmp(kid, "spy://k/", 8) == 0 && kid[8];
}

static enum kek_status spy_unwrap(struct kek *k, const char *kid,
				  enum kek_alg alg, const uint8_t *in,
				  size_t inlen, uint8_t *out, size_t *outlen,
				  char *err)
{
	(void)kid, (void)alg, (void)in, (void)inlen, (void)out, (void)outlen;
	((struct spy *)k)->unwrap_calls++;
	snprintf(err, KEK_ERR_MAX, "spy: no such version");
	return KEK_E_NOTFOUND;
}

static const struct kek_provider spy_provider = {
	.scheme = "spy",
	.unwrap = spy_unwrap,
	.owns = spy_owns,
};

/* A header is untrusted: a kid naming another key, another version path
 * or another scheme is refused with KEK_E_INVAL and never sent to the
 * provider (so a planted header cannot make hsmfs call out to a key or
 * host of the attacker's choosing). */
static void unwrap_foreign_kid(void)
{
	static const char *const foreign[] = {
		"testkek://other/v1", "testkek://k/v1/extra", "testkek://k/",
		"testkek://k", "testkek://kk/v1", "testkek:/k/v1",
		"spy://k/v1", "https://h.managedhsm.azure.net/keys/k/v1", "",
	};
	static const char *const spy_foreign[] = {
		"testkek://k/v1", "spy://other/v1", "spy://k/", "spy:/k/v1",
		"", "https://evil.example/keys/k/v1",
	};
	uint8_t rec[REC_LEN], w[KEK_WRAPPED_MAX], out[KEK_WRAPPED_MAX];
	char kid[KEK_KID_MAX], err[KEK_ERR_MAX];
	struct spy spy = { .base = { .prov = &spy_provider } };
	enum kek_alg alg;
	struct kek *k = NULL;
	size_t n = 0, on;

	CHECK(setup() == 0);
	make_rec(rec);
	CHECK_EQ_INT(kek_open("testkek://k", NULL, &k, err), KEK_OK);
	if (!k)
		return;
	CHECK_EQ_INT(kek_wrap(k, rec, sizeof(rec), w, &n, kid, &alg, err),
		     KEK_OK);
	for (size_t i = 0; i < sizeof(foreign) / sizeof(*foreign); i++) {
		on = sizeof(out);
		err[0] = '\0';
		CHECK(!kek_owns(k, foreign[i]));
		if (kek_unwrap(k, foreign[i], alg, w, n, out, &on, err) !=
			    KEK_E_INVAL ||
		    !strstr(err, "does not belong")) {
			fprintf(stderr, "  kid '%s' not refused (%s)\n",
				foreign[i], err);
			check_failed_now = 1;
		}
	}
	kek_close(k);

	for (size_t i = 0; i < sizeof(spy_foreign) / sizeof(*spy_foreign);
	     i++) {
		on = sizeof(out);
		CHECK_EQ_INT(kek_unwrap(&spy.base, spy_foreign[i], alg, w, n,
					out, &on, err), KEK_E_INVAL);
	}
	CHECK_EQ_INT(spy.unwrap_calls, 0);
	CHECK_EQ_INT(spy.owns_calls,
		     sizeof(spy_foreign) / sizeof(*spy_foreign));
	/* Its own kid does reach it, and its answer comes back as is. */
	on = sizeof(out);
	err[0] = '\0';
	CHECK_EQ_INT(kek_unwrap(&spy.base, "spy://k/v7", alg, w, n, out, &on,
				err), KEK_E_NOTFOUND);
	CHECK_EQ_INT(spy.unwrap_calls, 1);
	CHECK(strcmp(err, "spy: no such version") == 0);
}

/* Algorithm names are what the config stores: each round-trips, and
 * anything else (including "none" and other spellings) is no algorithm. */
static void alg_names(void)
{
	static const char *const bad[] = { "none", "", "a256kw", "A256KW ",
					   "RSA-OAEP", "RSA1_5",
					   "CKM_AES_KEY_WRAP" };

	for (int a = KEK_ALG_RSA_OAEP_256; a <= KEK_ALG_AES_KW_PAD; a++) {
		const char *name = kek_alg_name((enum kek_alg)a);

		CHECK(name && name[0]);
		CHECK_EQ_INT(kek_alg_from_name(name), a);
	}
	CHECK(strcmp(kek_alg_name(KEK_ALG_RSA_OAEP_256), "RSA-OAEP-256") == 0);
	CHECK(strcmp(kek_alg_name(KEK_ALG_A256KW), "A256KW") == 0);
	CHECK(strcmp(kek_alg_name(KEK_ALG_AES_KW_PAD),
		     "CKM_AES_KEY_WRAP_PAD") == 0);
	CHECK(strcmp(kek_alg_name(KEK_ALG_NONE), "none") == 0);
	CHECK(strcmp(kek_alg_name(KEK_ALG_WK_SIV), "HSMFS-WK-AES-SIV") == 0);
	CHECK(strcmp(kek_alg_name((enum kek_alg)5), "none") == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		CHECK_EQ_INT(kek_alg_from_name(bad[i]), KEK_ALG_NONE);
}

/* Every status has its own readable text for log lines and hsmfs
 * status; an out-of-range value still yields text. */
static void status_strings(void)
{
	const char *s[KEK_E_NOMEM + 1];

	for (int i = KEK_OK; i <= KEK_E_NOMEM; i++) {
		s[i] = kek_status_str((enum kek_status)i);
		CHECK(s[i] != NULL && s[i][0] != '\0');
		CHECK(strcmp(s[i], "unknown error") != 0);
		for (int j = 0; j < i; j++)
			CHECK(strcmp(s[i], s[j]) != 0);
	}
	CHECK(strcmp(kek_status_str(KEK_OK), "ok") == 0);
	CHECK(kek_status_str((enum kek_status)99)[0] != '\0');
}

/* kek_stats of a provider without statistics reads as all zero, not as
 * whatever was in the caller's buffer. */
static void stats_default_zero(void)
{
	struct kek_stats st;
	struct kek *k = NULL;
	char err[KEK_ERR_MAX];

	CHECK(setup() == 0);
	CHECK_EQ_INT(kek_open("testkek://k", NULL, &k, err), KEK_OK);
	if (!k)
		return;
	memset(&st, 0xff, sizeof(st));
	kek_stats(k, &st);
	CHECK_EQ_INT(st.retries, 0);
	CHECK_EQ_INT(st.calls[KEK_OP_UNWRAP][KEK_OUT_OK], 0);
	CHECK_EQ_INT(st.last_error[0], '\0');
	kek_close(k);
}

/* kek= as an operator writes it: Azure's host and key names have no
 * case; the version has, and so does everything after the key name. */
static void url_same(void)
{
	static const char *const same[][2] = {
		{ "https://contoso.vault.azure.net/keys/fs-kek",
		  "https://CONTOSO.Vault.Azure.NET/keys/FS-KEK" },
		{ "https://h.managedhsm.azure.net/keys/k/",
		  "https://h.managedhsm.azure.net/KEYS/K" },
		{ "https://h.managedhsm.azure.net/keys/k/0123abcd",
		  "HTTPS://H.managedhsm.azure.net/keys/K/0123abcd" },
		{ "testkek://k", "TESTKEK://K" },
	};
	static const char *const differ[][2] = {
		{ "https://h.vault.azure.net/keys/k",
		  "https://h.vault.azure.net/keys/k2" },
		{ "https://h.vault.azure.net/keys/k",
		  "https://g.vault.azure.net/keys/k" },
		{ "https://h.vault.azure.net/keys/k/0123abcd",
		  "https://h.vault.azure.net/keys/k/0123ABCD" },
		{ "https://h.vault.azure.net/keys/k/v1",
		  "https://h.vault.azure.net/keys/k" },
		{ "testkek://k", "testkek://kk" },
	};

	for (size_t i = 0; i < sizeof(same) / sizeof(*same); i++) {
		CHECK(kek_url_same(same[i][0], same[i][1]));
		CHECK(kek_url_same(same[i][1], same[i][0]));
	}
	for (size_t i = 0; i < sizeof(differ) / sizeof(*differ); i++)
		CHECK(!kek_url_same(differ[i][0], differ[i][1]));
}

CHECK_MAIN("kek",
	   T(open_unknown_scheme), T(open_no_scheme),
	   T(wrap_unwrap_roundtrip), T(unwrap_foreign_kid), T(alg_names),
	   T(status_strings), T(stats_default_zero), T(url_same))
