/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PKCS#11 KEK provider against a real token: SoftHSM2, its tokens in
 * a temporary directory (SOFTHSM2_CONF), its module registered with
 * p11-kit as "softhsm2". The test makes its keys through a p11-kit
 * instance of the same module, kept for the whole run (it also keeps
 * the module initialized while KEKs come and go).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <p11-kit/p11-kit.h>

#include "common/log.h"
#include "hsmclient/kek.h"
#include "hsmclient/pkcs11/uri.h"
#include "tests/unit/check.h"

#define SO_PIN "5678-so"
#define PIN "1234-user"
#define TOK_A "hsmfs-a"
#define TOK_B "hsmfs-b"

static char tmpdir[256], pinfile[300], credfile[300], modpath[1024];
static CK_FUNCTION_LIST *T; /* the test's own instance of the module */

/* ---- setup --------------------------------------------------------------- */

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror(path);
		exit(2);
	}
	fchmod(fd, mode);
	close(fd);
}

/* The registered softhsm2 module's file. */
static int find_module(void)
{
	CK_FUNCTION_LIST **mods = p11_kit_modules_load(NULL, 0);
	int ok = 0;

	for (int i = 0; mods && mods[i]; i++) {
		char *name = p11_kit_module_get_name(mods[i]);
		char *file = p11_kit_module_get_filename(mods[i]);

		if (name && file && !strcmp(name, "softhsm2")) {
			snprintf(modpath, sizeof(modpath), "%s", file);
			ok = 1;
		}
		free(name);
		free(file);
	}
	if (mods)
		p11_kit_modules_release(mods);
	return ok;
}

static int setup(void)
{
	char conf[300], text[600], cmd[900];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hsmfs-p11-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", tmpdir);
	snprintf(text, sizeof(text), "directories.tokendir = %s/tokens\n"
		 "objectstore.backend = file\nlog.level = ERROR\n", tmpdir);
	write_file(conf, text, 0600);
	snprintf(text, sizeof(text), "%s/tokens", tmpdir);
	mkdir(text, 0700);
	setenv("SOFTHSM2_CONF", conf, 1);
	unsetenv("CREDENTIALS_DIRECTORY");
	for (int i = 0; i < 2; i++) {
		snprintf(cmd, sizeof(cmd), "softhsm2-util --init-token --free "
			 "--label %s --so-pin %s --pin %s >/dev/null",
			 i ? TOK_B : TOK_A, SO_PIN, PIN);
		if (system(cmd) != 0)
			return -1;
	}
	snprintf(pinfile, sizeof(pinfile), "%s/pin", tmpdir);
	write_file(pinfile, PIN "\n", 0600);
	snprintf(credfile, sizeof(credfile), "%s/credentials", tmpdir);
	write_file(credfile, "PKCS11_PIN=" PIN "\n", 0600);
	if (!find_module() || !(T = p11_kit_module_load(modpath, 0)) ||
	    p11_kit_module_initialize(T) != CKR_OK)
		return -1;
	return 0;
}

static void teardown(void)
{
	char cmd[400];

	if (T) {
		p11_kit_module_finalize(T);
		p11_kit_module_release(T);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (tmpdir[0] && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* ---- the test's own keys ------------------------------------------------- */

static CK_SLOT_ID slot_of(const char *token)
{
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	CK_TOKEN_INFO ti;
	char lab[33];

	if (T->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return (CK_SLOT_ID)-1;
	for (CK_ULONG i = 0; i < n; i++) {
		if (T->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		memcpy(lab, ti.label, 32);
		for (int j = 32; j > 0 && (lab[j] = '\0', lab[j - 1] == ' '); j--)
			;
		if (!strcmp(lab, token))
			return slots[i];
	}
	return (CK_SLOT_ID)-1;
}

/* A logged-in session on token (closed with T->C_CloseSession). */
static CK_SESSION_HANDLE tok_session(const char *token)
{
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_RV rv;

	if (T->C_OpenSession(slot_of(token), CKF_SERIAL_SESSION | CKF_RW_SESSION,
			     NULL, NULL, &s) != CKR_OK)
		return CK_INVALID_HANDLE;
	rv = T->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)PIN, strlen(PIN));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		T->C_CloseSession(s);
		return CK_INVALID_HANDLE;
	}
	return s;
}

/* An AES-256 key (or, rsa, an RSA-2048 pair) labelled label with CKA_ID
 * id[idlen]; use: whether it may unwrap and decrypt (and wrap, encrypt). */
static int mk_key(const char *token, const char *label, const void *id,
		  size_t idlen, int rsa, int use)
{
	CK_SESSION_HANDLE s = tok_session(token);
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE, u = use ? CK_TRUE : CK_FALSE;
	CK_ULONG len = 32, bits = 2048;
	CK_BYTE e[] = { 1, 0, 1 };
	CK_OBJECT_HANDLE h, h2;
	CK_ATTRIBUTE pub[] = {
		{ CKA_TOKEN, &yes, 1 }, { CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, idlen }, { CKA_MODULUS_BITS, &bits, sizeof(bits) },
		{ CKA_PUBLIC_EXPONENT, e, 3 }, { CKA_ENCRYPT, &yes, 1 },
		{ CKA_WRAP, &yes, 1 },
	};
	CK_ATTRIBUTE priv[] = {
		{ CKA_TOKEN, &yes, 1 }, { CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, idlen }, { CKA_PRIVATE, &yes, 1 },
		{ CKA_SENSITIVE, &yes, 1 }, { CKA_EXTRACTABLE, &no, 1 },
		{ CKA_DECRYPT, &u, 1 }, { CKA_UNWRAP, &u, 1 },
		{ CKA_SIGN, &yes, 1 }, { CKA_WRAP, &u, 1 },
		{ CKA_ENCRYPT, &u, 1 }, { CKA_VALUE_LEN, &len, sizeof(len) },
	};
	CK_MECHANISM mg = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_MECHANISM ma = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_RV rv;

	if (s == CK_INVALID_HANDLE)
		return -1;
	if (rsa)
		rv = T->C_GenerateKeyPair(s, &mg, pub, 7, priv, 9, &h, &h2);
	else
		rv = T->C_GenerateKey(s, &ma, priv, 12, &h);
	T->C_CloseSession(s);
	if (rv != CKR_OK)
		fprintf(stderr, "  key generation: CKR 0x%lx\n", rv);
	return rv == CKR_OK ? 0 : -1;
}

/* Deletes the objects labelled label with CKA_ID id. */
static int rm_key(const char *token, const char *label, const void *id,
		  size_t idlen)
{
	CK_SESSION_HANDLE s = tok_session(token);
	CK_ATTRIBUTE t[] = { { CKA_LABEL, (void *)label, strlen(label) },
			     { CKA_ID, (void *)id, idlen } };
	CK_OBJECT_HANDLE h[8];
	CK_ULONG n = 0;

	if (s == CK_INVALID_HANDLE || T->C_FindObjectsInit(s, t, 2) != CKR_OK)
		return -1;
	T->C_FindObjects(s, h, 8, &n);
	T->C_FindObjectsFinal(s);
	for (CK_ULONG i = 0; i < n; i++)
		T->C_DestroyObject(s, h[i]);
	T->C_CloseSession(s);
	return n ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------- */

/* pkcs11:token=TOK;object=OBJ;type=TYPE[EXTRA]?module-name=softhsm2
 * &pin-source=PINFILE */
static void uri(char *out, size_t cap, const char *tok, const char *obj,
		const char *type, const char *extra)
{
	snprintf(out, cap, "pkcs11:token=%s;object=%s;type=%s%s?module-name="
		 "softhsm2&pin-source=%s", tok, obj, type, extra, pinfile);
}

static struct kek *open_uri(const char *u, bool named, enum kek_status *st,
			    char *err)
{
	struct kek_opts o = { .host_named = named, .concurrency = 4 };
	struct kek *k = NULL;

	/* A URL the operator did not name may not choose the PIN file. */
	if (!named)
		o.credential_file = credfile;
	*st = kek_open(u, &o, &k, err);
	return k;
}

static struct kek *open_key(const char *obj, const char *type)
{
	char u[1024], err[KEK_ERR_MAX];
	enum kek_status st;
	struct kek *k;

	uri(u, sizeof(u), TOK_A, obj, type, "");
	k = open_uri(u, true, &st, err);
	if (st != KEK_OK)
		fprintf(stderr, "  open %s: %s\n", u, err);
	return k;
}

/* Wraps 32 random bytes, unwraps them by the kid the wrap gave: 0 if
 * they come back. kid_out (may be NULL) gets the kid. */
static int round_trip(struct kek *k, char *kid_out)
{
	uint8_t dek[32], w[KEK_WRAPPED_MAX], back[64];
	size_t wl = sizeof(w), bl = sizeof(back);
	char kid[KEK_KID_MAX], err[KEK_ERR_MAX];
	enum kek_alg alg;
	enum kek_status st;

	RAND_bytes(dek, sizeof(dek));
	st = kek_wrap(k, dek, sizeof(dek), w, &wl, kid, &alg, err);
	if (st == KEK_OK)
		st = kek_unwrap(k, kid, alg, w, wl, back, &bl, err);
	if (st != KEK_OK) {
		fprintf(stderr, "  round trip: %s\n", err);
		return -1;
	}
	if (kid_out)
		strcpy(kid_out, kid);
	return bl == sizeof(dek) && !memcmp(dek, back, bl) ? 0 : -1;
}

/* ---- URIs ------------------------------------------------------------------ */

static void test_uri(void)
{
	static const char *const bad[] = {
		"pkcs11:token=a;object=b",                 /* no type */
		"pkcs11:token=a;type=private",             /* no object */
		"pkcs11:object=b;type=private",            /* no token */
		"pkcs11:token=a;object=b;type=cert",
		"pkcs11:token=a;object=b;type=private;serial=1",
		"pkcs11:token=a;object=b;type=private;token=c",
		"pkcs11:token=a;object=b%00c;type=private",
		"pkcs11:token=a;object=b%4;type=private",
		"pkcs11:token=a;object=b c;type=private",
		"pkcs11:token=a;object=;type=private",
		"pkcs11:token=a;object=b;type=private?pin-value=1234",
		"pkcs11:token=a;object=b;type=private;pin-value=1234",
		"pkcs11:token=a;object=b;type=private?module-path=lib.so",
		"pkcs11:token=a;object=b;type=private?module-name=x&module-path=/x",
		"pkcs11:token=a;object=b;type=private?pin-source=pin.txt",
		"pkcs11:token=abcdefghijklmnopqrstuvwxyz0123456;object=b;type=private",
		"https://h.managedhsm.azure.net/keys/k",
	};
	char err[KEK_ERR_MAX], kid[KEK_KID_MAX];
	struct p11uri u;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (p11uri_parse(bad[i], &u, err) == KEK_OK) {
			fprintf(stderr, "  accepted: %s\n", bad[i]);
			CHECK(0);
		}
	}
	/* Refused with the way out, not as an unknown attribute. */
	CHECK(p11uri_parse("pkcs11:token=a;object=b;type=private?pin-value=9",
			   &u, err) == KEK_E_INVAL && strstr(err, "pin-source="));
	CHECK_EQ_INT(p11uri_parse("PKCS11:object=my%20kek;token=T%2fx;"
				  "type=secret-key;id=%01%ff?module-name=m&"
				  "pin-source=file:/etc/pin", &u, err), KEK_OK);
	CHECK(!strcmp(u.object, "my kek") && !strcmp(u.token, "T/x") &&
	      u.type == P11_TYPE_SECRET && u.has_id && u.idlen == 2 &&
	      u.id[0] == 1 && u.id[1] == 0xff && !strcmp(u.module_name, "m") &&
	      !strcmp(u.pin_source, "/etc/pin"));
	CHECK_EQ_INT(p11uri_kid(&u, u.id, u.idlen, kid, err), KEK_OK);
	CHECK(!strcmp(kid, "pkcs11:token=T%2Fx;object=my%20kek;id=%01%FF;"
		      "type=secret-key"));
	CHECK_EQ_INT(p11uri_parse_kid(kid, &u, err), KEK_OK);
	/* Kids are canonical or nothing: a header cannot pick a spelling. */
	CHECK(p11uri_parse_kid("pkcs11:token=T%2fx;object=my%20kek;id=%01%FF;"
			       "type=secret-key", &u, err) != KEK_OK);
	CHECK(p11uri_parse_kid("pkcs11:object=my%20kek;token=T%2Fx;id=%01%FF;"
			       "type=secret-key", &u, err) != KEK_OK);
	CHECK(p11uri_parse_kid("pkcs11:token=T%2Fx;object=my%20kek;"
			       "type=secret-key", &u, err) != KEK_OK);
	CHECK(p11uri_parse_kid("pkcs11:token=T%2Fx;object=my%20kek;id=%01%FF;"
			       "type=secret-key?module-path=/x.so", &u,
			       err) != KEK_OK);
	/* A kid that would not fit a header is refused, not cut. */
	memset(u.object, 'o', 60);
	u.object[60] = '\0';
	memset(u.id, 0xab, P11_ID_MAX);
	CHECK_EQ_INT(p11uri_kid(&u, u.id, P11_ID_MAX, kid, err), KEK_E_INVAL);
	CHECK_EQ_INT(p11uri_kid(&u, u.id, 40, kid, err), KEK_OK);
	CHECK(strlen(kid) < KEK_KID_MAX);
	/* Versions: unsigned big-endian, the longer greater. */
	CHECK(p11uri_id_cmp((const uint8_t *)"\x02", 1,
			    (const uint8_t *)"\x01", 1) > 0);
	CHECK(p11uri_id_cmp((const uint8_t *)"\x00\x01", 2,
			    (const uint8_t *)"\xff", 1) > 0);
	CHECK(p11uri_id_cmp((const uint8_t *)"\x80", 1,
			    (const uint8_t *)"\x7f", 1) > 0);
}

static void test_url_same(void)
{
	const char *a = "pkcs11:token=t;object=k;type=private?module-name=m";

	CHECK(kek_url_same(a, "pkcs11:object=%6b;token=t;type=private"
			   "?module-name=m"));
	CHECK(kek_url_same(a, "PKCS11:token=t;object=k;type=private"
			   "?module-name=m"));
	/* Values are exact: labels have case. */
	CHECK(!kek_url_same(a, "pkcs11:token=t;object=K;type=private"
			    "?module-name=m"));
	CHECK(!kek_url_same(a, "pkcs11:token=T;object=k;type=private"
			    "?module-name=m"));
	/* What code runs, and the version, are part of the name. */
	CHECK(!kek_url_same(a, "pkcs11:token=t;object=k;type=private"
			    "?module-path=/tmp/evil.so"));
	CHECK(!kek_url_same(a, "pkcs11:token=t;object=k;type=private"));
	CHECK(!kek_url_same("pkcs11:token=t;object=k;type=private"
			    "?module-path=/usr/lib/p11.so",
			    "pkcs11:token=t;object=k;type=private"
			    "?module-path=/tmp/evil.so"));
	CHECK(!kek_url_same(a, "pkcs11:token=t;object=k;type=private;id=%01"
			    "?module-name=m"));
	CHECK(!kek_url_same(a, "pkcs11:token=t;object=k;type=private"
			    "?module-name=m&pin-source=/p"));
	/* The Azure rule is untouched. */
	CHECK(kek_url_same("https://H.managedhsm.azure.net/keys/K",
			   "https://h.managedhsm.azure.net/keys/k/"));
}

/* ---- keys ---------------------------------------------------------------- */

static void test_rsa(void)
{
	struct kek *k = open_key("rsa-kek", "private");
	struct kek_info info;
	struct kek_stats st;
	char err[KEK_ERR_MAX], kid[KEK_KID_MAX];

	CHECK(k);
	if (!k)
		return;
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_OK);
	CHECK(!strcmp(info.kty, "RSA-HSM"));
	CHECK_EQ_INT(info.bits, 2048);
	CHECK_EQ_INT(info.alg, KEK_ALG_RSA_OAEP_256);
	CHECK(info.enabled);
	CHECK(!strcmp(info.kid, "pkcs11:token=" TOK_A ";object=rsa-kek;"
		      "id=%01;type=private"));
	CHECK_EQ_INT(round_trip(k, kid), 0);
	CHECK(!strcmp(kid, info.kid));
	CHECK(kek_owns(k, kid));
	kek_stats(k, &st);
	CHECK(!strcmp(st.endpoint, TOK_A));
	CHECK_EQ_INT(st.calls[KEK_OP_UNWRAP][KEK_OUT_OK], 1);
	CHECK_EQ_INT(st.calls[KEK_OP_GET][KEK_OUT_OK], 1);
	kek_close(k);
}

static void test_aes(void)
{
	struct kek_opts o = { .host_named = true, .alg = KEK_ALG_A256KW };
	struct kek *k = open_key("aes-kek", "secret-key");
	struct kek_info info;
	char err[KEK_ERR_MAX], u[1024];

	CHECK(k);
	if (!k)
		return;
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_OK);
	CHECK(!strcmp(info.kty, "oct-HSM"));
	CHECK_EQ_INT(info.bits, 256);
	CHECK_EQ_INT(info.alg, KEK_ALG_AES_KW_PAD);
	CHECK_EQ_INT(round_trip(k, NULL), 0);
	kek_close(k);
	/* RFC 3394 when asked for. */
	uri(u, sizeof(u), TOK_A, "aes-kek", "secret-key", "");
	CHECK_EQ_INT(kek_open(u, &o, &k, err), KEK_OK);
	if (!k)
		return;
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_OK);
	CHECK_EQ_INT(info.alg, KEK_ALG_A256KW);
	CHECK_EQ_INT(round_trip(k, NULL), 0);
	kek_close(k);
}

static void test_rotation(void)
{
	struct kek *k;
	struct kek_info info;
	char err[KEK_ERR_MAX], kid1[KEK_KID_MAX], kid2[KEK_KID_MAX];
	uint8_t dek[32], w[KEK_WRAPPED_MAX], back[64];
	size_t wl = sizeof(w), bl = sizeof(back);
	enum kek_alg alg;

	CHECK_EQ_INT(mk_key(TOK_A, "rot", "\x01", 1, 0, 1), 0);
	k = open_key("rot", "secret-key");
	CHECK(k);
	if (!k)
		return;
	RAND_bytes(dek, sizeof(dek));
	CHECK_EQ_INT(kek_wrap(k, dek, sizeof(dek), w, &wl, kid1, &alg, err),
		     KEK_OK);
	CHECK(strstr(kid1, ";id=%01;"));
	/* Rotation: same label, greater CKA_ID. */
	CHECK_EQ_INT(mk_key(TOK_A, "rot", "\x02", 1, 0, 1), 0);
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_OK);
	CHECK(strstr(info.kid, ";id=%02;"));
	CHECK_EQ_INT(round_trip(k, kid2), 0);
	CHECK(strstr(kid2, ";id=%02;"));
	/* The old version still unwraps what it wrapped. */
	CHECK_EQ_INT(kek_unwrap(k, kid1, alg, w, wl, back, &bl, err), KEK_OK);
	CHECK(bl == sizeof(dek) && !memcmp(back, dek, bl));
	/* A longer CKA_ID is a greater one, whatever its bytes. */
	CHECK_EQ_INT(mk_key(TOK_A, "rot", "\x00\x01", 2, 0, 1), 0);
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_OK);
	CHECK(strstr(info.kid, ";id=%00%01;"));
	kek_close(k);
}

static void test_pinned(void)
{
	char u[1024], err[KEK_ERR_MAX], kid[KEK_KID_MAX];
	struct kek_info info;
	enum kek_status st;
	struct kek *k;

	uri(u, sizeof(u), TOK_A, "rot", "secret-key", ";id=%01");
	k = open_uri(u, true, &st, err);
	CHECK_EQ_INT(st, KEK_OK);
	if (!k)
		return;
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_OK);
	CHECK(strstr(info.kid, ";id=%01;"));
	CHECK_EQ_INT(round_trip(k, kid), 0);
	CHECK(strstr(kid, ";id=%01;"));
	kek_close(k);
	uri(u, sizeof(u), TOK_A, "rot", "secret-key", ";id=%7f");
	k = open_uri(u, true, &st, err);
	CHECK_EQ_INT(st, KEK_OK);
	if (!k)
		return;
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_E_NOTFOUND);
	kek_close(k);
}

static void test_owns(void)
{
	struct kek *k = open_key("aes-kek", "secret-key");
	static const char *const foreign[] = {
		"pkcs11:token=" TOK_B ";object=aes-kek;id=%01;type=secret-key",
		"pkcs11:token=" TOK_A ";object=rot;id=%01;type=secret-key",
		"pkcs11:token=" TOK_A ";object=aes-kek;id=%01;type=private",
		"pkcs11:token=" TOK_A ";object=aes-kek;id=%01;type=secret-key"
		"?module-path=/tmp/x.so",
		"pkcs11:token=" TOK_A ";object=aes-kek;id=%01;type=secret-key;"
		"serial=1",
		"pkcs11:token=" TOK_A ";object=aes%2Dkek;id=%01;type=secret-key",
		"pkcs11:token=" TOK_A ";object=aes-kek;type=secret-key",
		"https://h.managedhsm.azure.net/keys/aes-kek/"
		"0123456789abcdef0123456789abcdef",
	};
	uint8_t w[40] = { 0 }, out[64];
	size_t ol = sizeof(out);
	char err[KEK_ERR_MAX];

	CHECK(k);
	if (!k)
		return;
	CHECK(kek_owns(k, "pkcs11:token=" TOK_A ";object=aes-kek;id=%01;"
		       "type=secret-key"));
	CHECK(kek_owns(k, "pkcs11:token=" TOK_A ";object=aes-kek;id=%09%00;"
		       "type=secret-key"));
	for (size_t i = 0; i < sizeof(foreign) / sizeof(*foreign); i++)
		if (kek_owns(k, foreign[i])) {
			fprintf(stderr, "  owns: %s\n", foreign[i]);
			CHECK(0);
		}
	CHECK_EQ_INT(kek_unwrap(k, foreign[0], KEK_ALG_AES_KW_PAD, w,
				sizeof(w), out, &ol, err), KEK_E_INVAL);
	kek_close(k);
}

/* ---- what may be loaded and read ------------------------------------------ */

static bool mapped(const char *path)
{
	char line[1200];
	bool yes = false;
	FILE *f = fopen("/proc/self/maps", "r");

	while (f && fgets(line, sizeof(line), f))
		yes |= strstr(line, path) != NULL;
	if (f)
		fclose(f);
	return yes;
}

static void test_module_trust(void)
{
	char u[2048], copy[400], cmd[1600], err[KEK_ERR_MAX];
	enum kek_status st;
	struct kek *k;

	/* A module file nobody registered: what an untrusted volume config
	 * could name to make hsmfs run its code. */
	snprintf(copy, sizeof(copy), "%s/evil-pkcs11.so", tmpdir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", modpath, copy);
	CHECK(system(cmd) == 0);
	snprintf(u, sizeof(u), "pkcs11:token=" TOK_A ";object=aes-kek;"
		 "type=secret-key?module-path=%s", copy);
	k = open_uri(u, false, &st, err);
	CHECK_EQ_INT(st, KEK_E_INVAL);
	CHECK(strstr(err, "not registered"));
	CHECK(!mapped(copy));
	kek_close(k);
	/* The registered module by its path is fine, named or not. */
	snprintf(u, sizeof(u), "pkcs11:token=" TOK_A ";object=aes-kek;"
		 "type=secret-key?module-path=%s", modpath);
	k = open_uri(u, false, &st, err);
	CHECK_EQ_INT(st, KEK_OK);
	kek_close(k);
	/* A module nobody registered under that name. */
	k = open_uri("pkcs11:token=" TOK_A ";object=aes-kek;type=secret-key"
		     "?module-name=nosuch", false, &st, err);
	CHECK_EQ_INT(st, KEK_E_NOTFOUND);
	kek_close(k);
	/* pin-source= of an unnamed URL is not read either. */
	uri(u, sizeof(u), TOK_A, "aes-kek", "secret-key", "");
	k = open_uri(u, false, &st, err);
	CHECK_EQ_INT(st, KEK_E_INVAL);
	CHECK(strstr(err, "pin-source"));
	kek_close(k);
	/* The operator may load any module. */
	snprintf(u, sizeof(u), "pkcs11:token=" TOK_A ";object=aes-kek;"
		 "type=secret-key?module-path=%s&pin-source=%s", copy, pinfile);
	k = open_uri(u, true, &st, err);
	CHECK_EQ_INT(st, KEK_OK);
	if (st != KEK_OK)
		fprintf(stderr, "  %s\n", err);
	CHECK(mapped(copy));
	kek_close(k);
}

static void test_pin_sources(void)
{
	char u[1024], path[400], err[KEK_ERR_MAX], text[64];
	struct kek_opts o = { .host_named = false };
	enum kek_status st;
	struct kek *k = NULL;
	const char *base = "pkcs11:token=" TOK_A ";object=aes-kek;"
			   "type=secret-key?module-name=softhsm2";

	/* Never in the URI. */
	snprintf(u, sizeof(u), "%s&pin-value=" PIN, base);
	k = open_uri(u, true, &st, err);
	CHECK_EQ_INT(st, KEK_E_INVAL);
	CHECK(strstr(err, "pin-value"));
	kek_close(k);
	/* No PIN: the token needs one. */
	k = open_uri(base, true, &st, err);
	CHECK_EQ_INT(st, KEK_E_AUTH);
	kek_close(k);
	/* A wrong one. */
	snprintf(path, sizeof(path), "%s/badpin", tmpdir);
	write_file(path, "0000\n", 0600);
	snprintf(u, sizeof(u), "%s&pin-source=file:%s", base, path);
	k = open_uri(u, true, &st, err);
	CHECK_EQ_INT(st, KEK_E_AUTH);
	CHECK(strstr(err, "C_Login"));
	kek_close(k);
	/* A PIN file others may read is refused before it is read. */
	chmod(pinfile, 0644);
	uri(u, sizeof(u), TOK_A, "aes-kek", "secret-key", "");
	k = open_uri(u, true, &st, err);
	CHECK_EQ_INT(st, KEK_E_INVAL);
	kek_close(k);
	chmod(pinfile, 0600);
	/* The credential file. */
	snprintf(path, sizeof(path), "%s/cred", tmpdir);
	write_file(path, "# token PIN\nPKCS11_PIN=\"" PIN "\"\n", 0600);
	o.credential_file = path;
	CHECK_EQ_INT(kek_open(base, &o, &k, err), KEK_OK);
	if (k)
		CHECK_EQ_INT(round_trip(k, NULL), 0);
	kek_close(k);
	write_file(path, "AZURE_CLIENT_SECRET=x\n", 0600);
	CHECK_EQ_INT(kek_open(base, &o, &k, err), KEK_E_INVAL);
	kek_close(k);
	/* systemd credentials. */
	o.credential_file = NULL;
	snprintf(path, sizeof(path), "%s/creds", tmpdir);
	mkdir(path, 0700);
	setenv("CREDENTIALS_DIRECTORY", path, 1);
	snprintf(text, sizeof(text), "%s/pkcs11-pin", path);
	write_file(text, PIN, 0400);
	CHECK_EQ_INT(kek_open(base, &o, &k, err), KEK_OK);
	if (k)
		CHECK_EQ_INT(round_trip(k, NULL), 0);
	kek_close(k);
	unsetenv("CREDENTIALS_DIRECTORY");
}

/* ---- refusals -------------------------------------------------------------- */

static void test_deleted(void)
{
	char kid[KEK_KID_MAX], err[KEK_ERR_MAX];
	uint8_t dek[32] = { 1 }, w[KEK_WRAPPED_MAX], out[64];
	size_t wl = sizeof(w), ol = sizeof(out);
	struct kek_info info;
	enum kek_alg alg;
	struct kek *k;

	CHECK_EQ_INT(mk_key(TOK_A, "doomed", "\x05", 1, 0, 1), 0);
	k = open_key("doomed", "secret-key");
	CHECK(k);
	if (!k)
		return;
	CHECK_EQ_INT(kek_wrap(k, dek, sizeof(dek), w, &wl, kid, &alg, err),
		     KEK_OK);
	CHECK_EQ_INT(kek_unwrap(k, kid, alg, w, wl, out, &ol, err), KEK_OK);
	CHECK_EQ_INT(rm_key(TOK_A, "doomed", "\x05", 1), 0);
	ol = sizeof(out);
	CHECK_EQ_INT(kek_unwrap(k, kid, alg, w, wl, out, &ol, err),
		     KEK_E_NOTFOUND);
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_E_NOTFOUND);
	kek_close(k);
}

static void test_forbidden(void)
{
	const char *kid = "pkcs11:token=" TOK_A ";object=noperm;id=%01;"
			  "type=secret-key";
	uint8_t dek[32] = { 1 }, w[KEK_WRAPPED_MAX] = { 0 }, out[64];
	size_t wl = sizeof(w), ol = sizeof(out);
	char k2[KEK_KID_MAX], err[KEK_ERR_MAX];
	struct kek_info info;
	enum kek_alg alg;
	struct kek *k;

	CHECK_EQ_INT(mk_key(TOK_A, "noperm", "\x01", 1, 0, 0), 0);
	k = open_key("noperm", "secret-key");
	CHECK(k);
	if (!k)
		return;
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_OK);
	CHECK(!info.enabled);
	CHECK_EQ_INT(kek_unwrap(k, kid, KEK_ALG_AES_KW_PAD, w, 40, out, &ol,
				err), KEK_E_FORBIDDEN);
	CHECK_EQ_INT(kek_wrap(k, dek, sizeof(dek), w, &wl, k2, &alg, err),
		     KEK_E_FORBIDDEN);
	kek_close(k);
}

static void test_garbage(void)
{
	uint8_t w[256], out[64];
	size_t ol = sizeof(out);
	char kid[KEK_KID_MAX], err[KEK_ERR_MAX];
	struct kek *k = open_key("rsa-kek", "private");

	CHECK(k);
	if (!k)
		return;
	CHECK_EQ_INT(round_trip(k, kid), 0);
	RAND_bytes(w, sizeof(w));
	w[0] &= 0x7f; /* below the modulus */
	CHECK_EQ_INT(kek_unwrap(k, kid, KEK_ALG_RSA_OAEP_256, w, sizeof(w),
				out, &ol, err), KEK_E_CRYPTO);
	ol = sizeof(out);
	CHECK_EQ_INT(kek_unwrap(k, kid, KEK_ALG_RSA_OAEP_256, w, 100, out,
				&ol, err), KEK_E_CRYPTO);
	kek_close(k);
	k = open_key("aes-kek", "secret-key");
	CHECK(k);
	if (!k)
		return;
	CHECK_EQ_INT(round_trip(k, kid), 0);
	ol = sizeof(out);
	CHECK_EQ_INT(kek_unwrap(k, kid, KEK_ALG_AES_KW_PAD, w, 40, out, &ol,
				err), KEK_E_CRYPTO);
	kek_close(k);
}

/* ---- threads, recovery ----------------------------------------------------- */

struct worker {
	struct kek *k;
	const char *kid;
	enum kek_alg alg;
	const uint8_t *w, *dek;
	size_t wl;
	int bad;
};

static void *unwrap_loop(void *arg)
{
	struct worker *x = arg;
	char err[KEK_ERR_MAX];
	uint8_t out[64];

	for (int i = 0; i < 40; i++) {
		size_t ol = sizeof(out);

		if (kek_unwrap(x->k, x->kid, x->alg, x->w, x->wl, out, &ol,
			       err) != KEK_OK || ol != 32 ||
		    memcmp(out, x->dek, 32))
			x->bad++;
	}
	return NULL;
}

static void test_threads(void)
{
	struct kek *k = open_key("rsa-kek", "private");
	uint8_t dek[32], w[KEK_WRAPPED_MAX];
	char kid[KEK_KID_MAX], err[KEK_ERR_MAX];
	struct worker x[8];
	pthread_t th[8];
	struct kek_stats st;
	enum kek_alg alg;
	size_t wl = sizeof(w);
	int bad = 0;

	CHECK(k);
	if (!k)
		return;
	RAND_bytes(dek, sizeof(dek));
	CHECK_EQ_INT(kek_wrap(k, dek, 32, w, &wl, kid, &alg, err), KEK_OK);
	for (int i = 0; i < 8; i++) {
		x[i] = (struct worker){ k, kid, alg, w, dek, wl, 0 };
		pthread_create(&th[i], NULL, unwrap_loop, &x[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		bad += x[i].bad;
	}
	CHECK_EQ_INT(bad, 0);
	kek_stats(k, &st);
	CHECK_EQ_INT(st.calls[KEK_OP_UNWRAP][KEK_OUT_OK], 320);
	kek_close(k);
}

/* C_CloseAllSessions on the token's slot, straight into the module (not
 * through p11-kit's per-caller bookkeeping): every session of this
 * process is gone, and with the last one the login. */
static int close_all_sessions(void)
{
	void *h = dlopen(modpath, RTLD_NOW | RTLD_NOLOAD);
	CK_C_GetFunctionList get = h ? (CK_C_GetFunctionList)dlsym(
					       h, "C_GetFunctionList") : NULL;
	CK_FUNCTION_LIST *f = NULL;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (get && get(&f) == CKR_OK)
		rv = f->C_CloseAllSessions(slot_of(TOK_A));
	if (h)
		dlclose(h);
	return rv == CKR_OK ? 0 : -1;
}

static void test_recovery(void)
{
	struct kek *ka = open_key("aes-kek", "secret-key");
	struct kek *kr = open_key("rsa-kek", "private");
	char kid[KEK_KID_MAX];
	struct kek_stats st;

	CHECK(ka && kr);
	if (!ka || !kr)
		goto out;
	CHECK_EQ_INT(round_trip(ka, NULL), 0);
	CHECK_EQ_INT(round_trip(kr, kid), 0);
	CHECK_EQ_INT(close_all_sessions(), 0);
	CHECK_EQ_INT(round_trip(ka, NULL), 0);
	CHECK_EQ_INT(round_trip(kr, NULL), 0);
	kek_stats(ka, &st);
	CHECK(st.retries >= 1); /* it was a recovery, not luck */
	/* Again, with the RSA key first and a version handle cached. */
	CHECK_EQ_INT(close_all_sessions(), 0);
	CHECK_EQ_INT(round_trip(kr, NULL), 0);
	CHECK_EQ_INT(round_trip(ka, NULL), 0);
out:
	kek_close(ka);
	kek_close(kr);
}

static const struct check_test tests[] = {
	T(test_uri), T(test_url_same), T(test_rsa), T(test_aes),
	T(test_rotation), T(test_pinned), T(test_owns), T(test_module_trust),
	T(test_pin_sources), T(test_deleted), T(test_forbidden),
	T(test_garbage), T(test_threads), T(test_recovery),
};

int main(void)
{
	int rc;

	log_init("pkcs11_test", 0, LOG_LVL_WARN);
	if (setup() != 0 ||
	    mk_key(TOK_A, "rsa-kek", "\x01", 1, 1, 1) != 0 ||
	    mk_key(TOK_A, "aes-kek", "\x01", 1, 0, 1) != 0 ||
	    mk_key(TOK_B, "aes-kek", "\x01", 1, 0, 1) != 0) {
		fprintf(stderr, "pkcs11_test: cannot set up SoftHSM2 tokens "
			"(softhsm2-util, p11-kit module softhsm2)\n");
		teardown();
		printf("pkcs11: 0 passed, 1 failed\n");
		return 1;
	}
	rc = check_run("pkcs11", tests, sizeof(tests) / sizeof(*tests));
	teardown();
	return rc;
}
