/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes the seed corpus of each fuzz target from the real encoders:
 *   mkseeds DIR    creates DIR/<target>/<seed> for every target.
 * The committed corpus under tests/fuzz/corpus was made with it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/b64.h"
#include "crypto/conf.h"
#include "crypto/hdr.h"
#include "crypto/layout.h"
#include "crypto/names.h"
#include "fuzz.h"
/* For the KEK_OP_ numbers only: nothing of the HSM client is linked. */
#include "hsmclient/kek.h"

static const char *outdir;

static void put(const char *target, const char *name, const void *p,
		size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void put_str(const char *target, const char *name, const char *s)
{
	put(target, name, s, strlen(s));
}

static void slot(struct hdr_slot *s, uint32_t gen, enum kek_alg alg,
		 const char *kid, size_t wlen, uint8_t fill)
{
	memset(s, 0, sizeof(*s));
	s->gen = gen;
	s->alg = alg;
	snprintf(s->kid, sizeof(s->kid), "%s", kid);
	s->wlen = (uint16_t)wlen;
	for (size_t i = 0; i < wlen; i++)
		s->wrapped[i] = (uint8_t)(fill + i * 7);
}

static const char az_kid[] = "https://contoso.managedhsm.azure.net/keys/"
			     "hsmfs-kek/0123456789abcdef0123456789abcdef";

static void headers(void)
{
	static uint8_t buf[HDR_LEN];
	struct hdr h;

	memset(&h, 0, sizeof(h));
	for (int i = 0; i < ID_LEN; i++)
		h.file_id[i] = (uint8_t)(0xa0 + i);
	slot(&h.slot[0], 1, KEK_ALG_AES_KW_PAD, "testkek://vol/v1", 64, 0x10);
	hdr_slot_seal(&h, 0, fuzz_vk, fuzz_dek);
	hdr_encode(&h, buf);
	put("fuzz_hdr", "one-slot", buf, sizeof(buf));

	slot(&h.slot[1], 2, KEK_ALG_A256KW, az_kid, 64, 0x20);
	hdr_slot_seal(&h, 1, fuzz_vk, fuzz_dek);
	hdr_encode(&h, buf);
	put("fuzz_hdr", "two-slots", buf, sizeof(buf));

	slot(&h.slot[0], 7, KEK_ALG_RSA_OAEP_256, az_kid, HDR_WRAPPED_MAX, 3);
	hdr_slot_seal(&h, 0, fuzz_vk, fuzz_dek);
	memset(&h.slot[1], 0, sizeof(h.slot[1]));
	hdr_encode(&h, buf);
	put("fuzz_hdr", "rsa-4096", buf, sizeof(buf));
}

static void configs(void)
{
	struct conf c;
	char *json;

	memset(&c, 0, sizeof(c));
	c.format = CONF_FORMAT;
	snprintf(c.creator, sizeof(c.creator), "hsmfs 1.0");
	for (int i = 0; i < ID_LEN; i++)
		c.volume_id[i] = (uint8_t)(0x60 + i);
	c.features = FEAT_ENCRYPTED_NAMES | FEAT_LONG_NAMES;
	snprintf(c.kek, sizeof(c.kek), "testkek://vol");
	slot(&c.vk, 1, KEK_ALG_AES_KW_PAD, "testkek://vol/v1", 64, 0x40);
	conf_seal(&c, fuzz_vk);
	json = conf_serialize(&c);
	put_str("fuzz_conf", "encrypted-names", json);
	free(json);

	c.features = FEAT_PLAINTEXT_NAMES;
	snprintf(c.kek, sizeof(c.kek),
		 "https://contoso.managedhsm.azure.net/keys/hsmfs-kek");
	slot(&c.vk, 1, KEK_ALG_RSA_OAEP_256, az_kid, 512, 0x41);
	conf_seal(&c, fuzz_vk);
	json = conf_serialize(&c);
	put_str("fuzz_conf", "plaintext-names-rsa", json);
	free(json);

	c.format = LAY_PACKED;
	conf_seal(&c, fuzz_vk);
	json = conf_serialize(&c);
	put_str("fuzz_conf", "format-1", json);
	free(json);
}

static void names(void)
{
	static const char *const plain[] = {
		"notes.txt", "x", "\xc3\xa9\xe6\xbc\xa2\xe5\xad\x97",
		"line\nbreak",
	};
	struct names_keys *k = names_keys_new(fuzz_vk);
	char enc[8192], name[300], seed[32];
	int n;

	if (!k)
		exit(1);
	for (size_t i = 0; i < sizeof(plain) / sizeof(*plain); i++) {
		n = names_encrypt(k, fuzz_diriv, plain[i], strlen(plain[i]),
				  enc);
		snprintf(seed, sizeof(seed), "name-%zu", i);
		put("fuzz_names", seed, enc, (size_t)n);
	}
	memset(name, 'n', sizeof(name));
	n = names_encrypt(k, fuzz_diriv, name, 160, enc);
	put("fuzz_names", "name-160", enc, (size_t)n);
	n = names_encrypt(k, fuzz_diriv, name, 255, enc);
	put("fuzz_names", "name-255", enc, (size_t)n);
	n = names_symlink_encrypt(k, "../lib/libfoo.so.1", 18, enc,
				  sizeof(enc));
	put("fuzz_names", "symlink", enc, (size_t)n);
	memset(name, '/', 299);
	name[299] = '\0';
	n = names_symlink_encrypt(k, name, 299, enc, sizeof(enc));
	put("fuzz_names", "symlink-299", enc, (size_t)n);
	n = names_xattr_name(k, "user.mime_type", enc, sizeof(enc));
	put("fuzz_names", "xattr-name", enc, (size_t)n);
	put_str("fuzz_names", "b64-foobar", "Zm9vYmFy");
	put_str("fuzz_names", "b64-padded", "Zg==");
	put_str("fuzz_names", "b64-std", "+/+/");
	names_keys_free(k);
}

/* Control bytes (see fuzz_azure_json.c), body, NUL, tail. */
static void azure(const char *name, uint8_t op, uint8_t status,
		  const char *body, const char *tail)
{
	char buf[4096];
	size_t n = 0, bl = strlen(body), tl = tail ? strlen(tail) : 0;

	buf[n++] = (char)op;
	buf[n++] = (char)status;
	buf[n++] = 5;
	memcpy(buf + n, body, bl);
	n += bl;
	if (tail) {
		buf[n++] = '\0';
		memcpy(buf + n, tail, tl);
		n += tl;
	}
	put("fuzz_azure_json", name, buf, n);
}

static void azure_bodies(void)
{
	azure("forbidden-rbac", KEK_OP_UNWRAP, 2,
	      "{\"error\":{\"code\":\"Forbidden\",\"message\":\"Caller is not "
	      "authorized to perform action on resource.\\r\\nIf role "
	      "assignments were recently changed, please wait several minutes "
	      "for role assignments to become effective.\\r\\nCaller: appid="
	      "00000000-0000-0000-0000-000000000000\",\"innererror\":{\"code\":"
	      "\"ForbiddenByRbac\"}}}", az_kid);
	azure("unauthorized", KEK_OP_GET, 1,
	      "{\"error\":{\"code\":\"Unauthorized\",\"message\":\"AKV10022: "
	      "Invalid audience.\"}}",
	      "Bearer authorization=\"https://login.microsoftonline.com/"
	      "72f988bf-86f1-41af-91ab-2d7cd011db47\", resource="
	      "\"https://managedhsm.azure.net\"");
	azure("not-found", KEK_OP_GET | 4, 3,
	      "{\"error\":{\"code\":\"KeyNotFound\",\"message\":\"A key with "
	      "(name/id) hsmfs-kek was not found in this key vault.\"}}",
	      "https://contoso.vault.azure.net/keys/hsmfs-kek");
	azure("throttled", KEK_OP_WRAP, 6,
	      "{\"error\":{\"code\":\"Throttled\",\"message\":\"Request was not "
	      "processed because too many requests were received.\"}}",
	      "https://127.0.0.1:8443/");
	azure("html-502", KEK_OP_UNWRAP, 8,
	      "<html><head><title>502 Bad Gateway</title></head></html>\n",
	      "https://[::1]:8443");
	azure("key-bundle", KEK_OP_GET, 11,
	      "{\"attributes\":{\"enabled\":true,\"exportable\":false},"
	      "\"key\":{\"kid\":\"https://contoso.managedhsm.azure.net/keys/"
	      "hsmfs-kek/0123456789abcdef0123456789abcdef\",\"kty\":\"oct-HSM\","
	      "\"key_ops\":[\"wrapKey\",\"unwrapKey\"]}}",
	      "https://contoso.managedhsm.azure.net/keys/hsmfs-kek/"
	      "0123456789ABCDEF0123456789abcdef");
	azure("unwrap-result", KEK_OP_UNWRAP, 11,
	      "{\"kid\":\"https://contoso.managedhsm.azure.net/keys/hsmfs-kek/"
	      "0123456789abcdef0123456789abcdef\",\"value\":"
	      "\"SFNNRlNESzGgoaKjpKWmp6ipqqusra6vAAECAwQFBgcICQoLDA0ODxAREhMUFR"
	      "YXGBkaGxwdHh8\"}", NULL);
	azure("token", KEK_OP_TOKEN, 11,
	      "{\"token_type\":\"Bearer\",\"expires_in\":3599,"
	      "\"ext_expires_in\":3599,\"access_token\":\"eyJ0eXAiOiJKV1QifQ."
	      "eyJhdWQiOiJodHRwczovL21hbmFnZWRoc20uYXp1cmUubmV0In0.c2ln\"}",
	      NULL);
	azure("token-error", KEK_OP_TOKEN, 0,
	      "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000"
	      "215: Invalid client secret provided.\\r\\nTrace ID: 1\\r\\n\","
	      "\"error_codes\":[7000215]}", NULL);
}

/* PKCS#11 kids and KEK URLs (see fuzz_p11_uri.c). */
static void p11_uris(void)
{
	put_str("fuzz_p11_uri", "kid-rsa", "pkcs11:token=hsmfs-a;"
		"object=rsa-kek;id=%01;type=private");
	put_str("fuzz_p11_uri", "kid-aes", "pkcs11:token=T%2Fx;"
		"object=my%20kek;id=%01%FF;type=secret-key");
	put_str("fuzz_p11_uri", "url-name", "pkcs11:token=hsmfs;"
		"object=fs-kek;type=private?module-name=softhsm2&"
		"pin-source=file:/etc/hsmfs/pin");
	put_str("fuzz_p11_uri", "url-path", "PKCS11:object=k;token=t;"
		"type=secret-key;id=%00%01?module-path=/usr/lib/p11.so");
	put_str("fuzz_p11_uri", "url-pin-value", "pkcs11:token=a;object=b;"
		"type=private?pin-value=1234");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
		perror(outdir);
		return 1;
	}
	headers();
	configs();
	names();
	azure_bodies();
	p11_uris();
	return 0;
}
