/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto/conf: the volume config, its parser, its MAC, and storing and
 * loading it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "crypto/conf.h"
#include "fixtures.h"

static void make_conf(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->format = CONF_FORMAT;
	snprintf(c->creator, sizeof(c->creator), "hsmfs 1.0");
	fill_seq(c->volume_id, ID_LEN, 0x60);
	c->features = FEAT_ENCRYPTED_NAMES | FEAT_LONG_NAMES;
	snprintf(c->kek, sizeof(c->kek), "testkek://k");
	make_slot(&c->vk, 1, "testkek://k/v1", 64, 0xc0);
	conf_seal(c, test_vk);
}

static int conf_same(const struct conf *a, const struct conf *b)
{
	return strcmp(a->creator, b->creator) == 0 &&
	       memcmp(a->volume_id, b->volume_id, ID_LEN) == 0 &&
	       a->features == b->features && strcmp(a->kek, b->kek) == 0 &&
	       a->vk.alg == b->vk.alg && strcmp(a->vk.kid, b->vk.kid) == 0 &&
	       a->vk.wlen == b->vk.wlen &&
	       memcmp(a->vk.wrapped, b->vk.wrapped, a->vk.wlen) == 0 &&
	       memcmp(a->mac, b->mac, 32) == 0;
}

/* The config written at init is read back field for field at mount and
 * verifies under the volume key, and only under it. */
static void conf_roundtrip(void)
{
	struct conf c, p;
	uint8_t vk2[KEY_LEN];
	const char *why;
	char *json;

	make_conf(&c);
	CHECK_EQ_INT(conf_verify(&c, test_vk), 0);
	json = conf_serialize(&c);
	CHECK(json != NULL);
	if (!json)
		return;
	CHECK(conf_parse(json, strlen(json), &p, &why) == 0);
	CHECK(conf_same(&c, &p));
	CHECK_EQ_INT(conf_verify(&p, test_vk), 0);
	memcpy(vk2, test_vk, KEY_LEN);
	vk2[5] ^= 4;
	CHECK_EQ_INT(conf_verify(&p, vk2), -EBADMSG);
	free(json);

	/* The other names mode. */
	c.features = FEAT_PLAINTEXT_NAMES;
	conf_seal(&c, test_vk);
	json = conf_serialize(&c);
	CHECK(json && conf_parse(json, strlen(json), &p, &why) == 0);
	CHECK(conf_same(&c, &p));
	CHECK_EQ_INT(conf_verify(&p, test_vk), 0);
	free(json);
}

/* Replaces (or with val NULL, removes) root[key] or root[key][sub] of a
 * serialized config and parses the result. */
static const char *conf_edit(const char *json, const char *key,
			     const char *sub, const char *val,
			     struct conf *out)
{
	cJSON *root = cJSON_Parse(json), *obj = root, *v;
	const char *why;
	char *s;
	int err;

	if (sub)
		obj = cJSON_GetObjectItemCaseSensitive(root, key);
	if (!obj)
		return "(test: no such object)";
	if (sub)
		key = sub;
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	if (val) {
		v = cJSON_Parse(val);
		if (!v) {
			cJSON_Delete(root);
			return "(test: bad JSON value)";
		}
		cJSON_AddItemToObject(obj, key, v);
	}
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!s)
		return "(test: print failed)";
	err = conf_parse(s, strlen(s), out, &why);
	free(s);
	if (err != (why ? -EINVAL : 0))
		return "(test: the code and the reason disagree)";
	return why;
}

/* A config hsmfs does not fully understand is refused with a reason, not
 * half-used: unknown fields and flags, other formats, missing or
 * malformed fields. */
static void conf_rejects(void)
{
	static const struct {
		const char *key, *sub, *val, *why;
	} bad[] = {
		{ "compression", NULL, "\"zstd\"", "unknown field" },
		{ "Format", NULL, "1", "unknown field" },
		{ "features", NULL, "[\"encrypted-names\",\"zstd\"]",
		  "unknown feature" },
		{ "features", NULL, "[\"encrypted-names\",\"plaintext-names\"]",
		  "exactly one" },
		{ "features", NULL, "[\"long-names\"]", "exactly one" },
		{ "features", NULL, "[]", "exactly one" },
		{ "features", NULL, "[\"encrypted-names\",\"encrypted-names\"]",
		  "duplicate" },
		{ "features", NULL, "[1]", "not a string" },
		{ "features", NULL, "\"encrypted-names\"", "features" },
		{ "format", NULL, "4", "format" },
		{ "format", NULL, "0", "format" },
		{ "format", NULL, "1.5", "format" },
		{ "format", NULL, "\"1\"", "format" },
		{ "creator", NULL, NULL, "missing" },
		{ "format", NULL, NULL, "format" },
		{ "volume_id", NULL, NULL, "missing" },
		{ "features", NULL, NULL, "features" },
		{ "kek", NULL, NULL, "missing" },
		{ "volume_key", NULL, NULL, "volume_key" },
		{ "mac", NULL, NULL, "missing" },
		{ "volume_key", "alg", NULL, "missing" },
		{ "volume_key", "kid", NULL, "missing" },
		{ "volume_key", "wrapped", NULL, "missing" },
		{ "volume_key", "alg", "\"AES-GCM\"", "algorithm" },
		{ "volume_key", "alg", "\"none\"", "algorithm" },
		{ "volume_key", "alg", "3", "missing" },
		{ "volume_key", "wrapped", "\"\"", "base64" },
		{ "volume_key", "wrapped", "\"AA+A\"", "base64" },
		{ "volume_key", "future", "1", "unknown field" },
		{ "volume_key", "kid", "\"testkek://k/v1\\nforged log line\"",
		  "key id" },
		{ "volume_key", "kid", "\"with space\"", "key id" },
		{ "volume_id", NULL, "\"YGFiY2RlZmdoaWprbG1ubw\"", NULL },
		/* 15 and 17 bytes */
		{ "volume_id", NULL, "\"YGFiY2RlZmdoaWprbG1u\"", "base64" },
		{ "volume_id", NULL, "\"YGFiY2RlZmdoaWprbG1ub3A\"", "base64" },
		{ "volume_id", NULL, "\"YGFiY2RlZmdoaWprbG1ub+\"", "base64" },
		{ "volume_id", NULL, "\"YGFiY2RlZmdoaWprbG1ubw==\"", "base64" },
		{ "volume_id", NULL, "\"YGFiY2RlZmdoaWprbG1ubx\"", "base64" },
		{ "volume_id", NULL, "7", "missing" },
		{ "mac", NULL, "\"AAAA\"", "base64" },
		{ "creator", NULL,
		  "\"0123456789012345678901234567890123456789"
		  "012345678901234567890123\"", "too long" },
		{ "creator", NULL, "null", "missing" },
	};
	struct conf c, p;
	const char *why;
	char *json;

	make_conf(&c);
	json = conf_serialize(&c);
	CHECK(json != NULL);
	if (!json)
		return;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		why = conf_edit(json, bad[i].key, bad[i].sub, bad[i].val, &p);
		if (!bad[i].why) { /* a control: the edit itself is fine */
			if (why) {
				fprintf(stderr, "  control %s: %s\n", bad[i].key,
					why);
				check_failed_now = 1;
			}
			continue;
		}
		if (!why || !strstr(why, bad[i].why)) {
			fprintf(stderr, "  %s%s%s = %s: got %s\n", bad[i].key,
				bad[i].sub ? "." : "",
				bad[i].sub ? bad[i].sub : "",
				bad[i].val ? bad[i].val : "(removed)",
				why ? why : "(accepted)");
			check_failed_now = 1;
		}
	}

	/* Not JSON at all, or not an object. */
	CHECK_EQ_INT(conf_parse("hello", 5, &p, &why), -EINVAL);
	CHECK(why && strstr(why, "JSON"));
	CHECK_EQ_INT(conf_parse("[1,2]", 5, &p, &why), -EINVAL);
	CHECK(why != NULL);
	CHECK_EQ_INT(conf_parse("", 0, &p, &why), -EINVAL);
	CHECK(why != NULL);
	/* Valid JSON cut short. */
	CHECK_EQ_INT(conf_parse(json, strlen(json) / 2, &p, &why), -EINVAL);
	CHECK(why != NULL);
	/* A kek URL longer than any kid. */
	{
		char big[400];

		memset(big, 'k', sizeof(big));
		big[0] = '"';
		big[300] = '"';
		big[301] = '\0';
		why = conf_edit(json, "kek", NULL, big, &p);
		CHECK(why && strstr(why, "too long"));
		why = conf_edit(json, "volume_key", "kid", big, &p);
		CHECK(why && strstr(why, "too long"));
	}
	free(json);
}

/* Edits that keep the config well-formed still do not get past the MAC:
 * nobody without the volume key can point a volume at another KEK, swap
 * its wrapped key, or change its features. */
static void conf_mac_covers_all(void)
{
	static const struct {
		const char *key, *sub, *val;
	} edits[] = {
		{ "kek", NULL, "\"testkek://evil\"" },
		{ "kek", NULL, "\"testkek://k/\"" },
		{ "volume_key", "kid", "\"testkek://k/v2\"" },
		{ "volume_key", "alg", "\"A256KW\"" },
		/* a prefix of the real wrapped key */
		{ "volume_key", "wrapped", "\"wMHCw8TF\"" },
		{ "volume_key", "wrapped", "\"AAAA\"" },
		{ "creator", NULL, "\"hsmfs 1.1\"" },
		{ "creator", NULL, "\"\"" },
		{ "features", NULL, "[\"encrypted-names\"]" },
		{ "features", NULL, "[\"plaintext-names\",\"long-names\"]" },
		{ "volume_id", NULL, "\"YGFiY2RlZmdoaWprbG1ucA\"" },
		{ "mac", NULL,
		  "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"" },
	};
	struct conf c, p;
	const char *why;
	char *json;

	make_conf(&c);
	json = conf_serialize(&c);
	CHECK(json != NULL);
	if (!json)
		return;
	CHECK(conf_parse(json, strlen(json), &p, &why) == 0 &&
	      conf_verify(&p, test_vk) == 0);
	for (size_t i = 0; i < sizeof(edits) / sizeof(*edits); i++) {
		why = conf_edit(json, edits[i].key, edits[i].sub, edits[i].val,
				&p);
		if (why) {
			fprintf(stderr, "  %s: parse failed: %s\n",
				edits[i].val, why);
			check_failed_now = 1;
			continue;
		}
		if (conf_verify(&p, test_vk) != -EBADMSG) {
			fprintf(stderr, "  %s%s%s = %s: MAC still verifies\n",
				edits[i].key, edits[i].sub ? "." : "",
				edits[i].sub ? edits[i].sub : "", edits[i].val);
			check_failed_now = 1;
		}
	}
	/* And one flipped bit of the MAC itself. */
	CHECK(conf_parse(json, strlen(json), &p, &why) == 0);
	p.mac[31] ^= 1;
	CHECK_EQ_INT(conf_verify(&p, test_vk), -EBADMSG);
	free(json);

	/* One bit of the wrapped volume key, or of the volume id. */
	make_conf(&c);
	c.vk.wrapped[10] ^= 1;
	json = conf_serialize(&c);
	CHECK(json && conf_parse(json, strlen(json), &p, &why) == 0);
	CHECK_EQ_INT(conf_verify(&p, test_vk), -EBADMSG);
	free(json);
	make_conf(&c);
	c.volume_id[0] ^= 1;
	json = conf_serialize(&c);
	CHECK(json && conf_parse(json, strlen(json), &p, &why) == 0);
	CHECK_EQ_INT(conf_verify(&p, test_vk), -EBADMSG);
	free(json);
}

/* A MAC that cannot be computed (here: no valid format to bind) is an
 * error of its own, never "the config has been modified". */
static void conf_mac_errors(void)
{
	struct conf c;

	make_conf(&c);
	CHECK_EQ_INT(conf_verify(&c, test_vk), 0);
	c.format = 0;
	CHECK_EQ_INT(conf_verify(&c, test_vk), -EINVAL);
	CHECK_EQ_INT(conf_seal(&c, test_vk), -EINVAL);
	c.format = CONF_FORMAT;
	c.mac[0] ^= 1;
	CHECK_EQ_INT(conf_verify(&c, test_vk), -EBADMSG);
	CHECK_EQ_INT(conf_seal(&c, test_vk), 0);
	CHECK_EQ_INT(conf_verify(&c, test_vk), 0);
}

/* A config of at most 64 KiB is read; anything larger is refused before
 * it is parsed. */
static void conf_size_limit(void)
{
	char *big = malloc(CONF_MAX_BYTES + 2), *json;
	struct conf c, p;
	const char *why;
	size_t n;

	CHECK(big != NULL);
	make_conf(&c);
	json = conf_serialize(&c);
	CHECK(json != NULL);
	if (!big || !json)
		goto out;
	n = strlen(json);
	memset(big, ' ', CONF_MAX_BYTES + 1);
	memcpy(big, json, n);
	CHECK(conf_parse(big, CONF_MAX_BYTES, &p, &why) == 0);
	CHECK_EQ_INT(conf_verify(&p, test_vk), 0);
	CHECK_EQ_INT(conf_parse(big, CONF_MAX_BYTES + 1, &p, &why), -EINVAL);
	CHECK(why && strstr(why, "too large"));
out:
	free(big);
	free(json);
}

/* init stores the config atomically and mount loads the same config
 * back; a missing or oversized file is reported as such. */
static void conf_store_load(void)
{
	char dir[] = "/tmp/hsmfs-conf-XXXXXX", path[64];
	struct conf c, p;
	const char *why;
	int dfd, fd;

	CHECK(mkdtemp(dir) != NULL);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	if (dfd < 0)
		return;
	CHECK_EQ_INT(conf_load(dfd, &p, &why), -ENOENT);
	CHECK(why && strstr(why, "no hsmfs.conf"));

	make_conf(&c);
	CHECK_EQ_INT(conf_store(dfd, &c), 0);
	CHECK(conf_load(dfd, &p, &why) == 0);
	CHECK(conf_same(&c, &p));
	CHECK_EQ_INT(conf_verify(&p, test_vk), 0);
	/* Stored again (a rewrap of the volume key) replaces it. */
	make_slot(&c.vk, 1, "testkek://k/v2", 72, 0x01);
	conf_seal(&c, test_vk);
	CHECK_EQ_INT(conf_store(dfd, &c), 0);
	CHECK(conf_load(dfd, &p, &why) == 0);
	CHECK(conf_same(&c, &p));
	CHECK_EQ_INT(conf_verify(&p, test_vk), 0);
	CHECK(faccessat(dfd, "hsmfs.conf.tmp", F_OK, 0) != 0);

	/* Oversized file. */
	snprintf(path, sizeof(path), "%s/hsmfs.conf", dir);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(ftruncate(fd, CONF_MAX_BYTES + 1) == 0);
		close(fd);
	}
	CHECK_EQ_INT(conf_load(dfd, &p, &why), -EINVAL);
	CHECK(why && strstr(why, "too large"));
	unlink(path);

	/* A FIFO in its place is refused at once, never waited on (the
	 * alarm turns a hang into a failed run). */
	CHECK(mkfifo(path, 0600) == 0);
	alarm(20);
	CHECK_EQ_INT(conf_load(dfd, &p, &why), -EINVAL);
	CHECK(why && strstr(why, "not a regular file"));
	alarm(0);
	unlink(path);
	close(dfd);
	rmdir(dir);
}

/* A volume-wrap config with nwk wrapping-key generations (1, 2) and
 * nescrow escrow KEKs testkek://e1.., each wrapping them all; sealed. */
static void make_conf_vw(struct conf *c, int nwk, int nescrow)
{
	make_conf(c);
	c->features |= FEAT_VOLUME_WRAP;
	for (int i = 0; i < nwk; i++)
		make_slot(&c->wk[i], (uint32_t)i + 1, i ? "testkek://k/v2"
							 : "testkek://k/v1",
			  40, (uint8_t)(0x10 * i));
	c->nwk = nwk;
	make_slot(&c->vk, 1, "", HDR_WK_WRAPPED_LEN, 0xa0);
	c->vk.alg = KEK_ALG_WK_SIV;
	hdr_wk_kid(c->volume_id, (uint32_t)nwk, c->vk.kid);
	for (int e = 0; e < nescrow; e++) {
		struct conf_escrow *x = &c->escrow[e];
		char kid[64];

		snprintf(x->kek, sizeof(x->kek), "testkek://e%d", e + 1);
		for (int i = 0; i < nwk; i++) {
			snprintf(kid, sizeof(kid), "%s/v%d", x->kek, i + 1);
			make_slot(&x->wk[i], (uint32_t)i + 1, kid, 40,
				  (uint8_t)(0x40 + 0x10 * e + i));
		}
	}
	c->nescrow = nescrow;
	conf_seal(c, test_vk);
}

/* "wrap_conversion": read back as written, only with volume-wrap and
 * only one of its two values; added, removed or turned round by anyone
 * without the volume key, the MAC says so. */
static void conf_conversion(void)
{
	struct conf c, p;
	const char *why;
	char *json, *plain;

	make_conf_vw(&c, 1, 1);
	c.conversion = CONF_CONV_TO_FILE;
	conf_seal(&c, test_vk);
	json = conf_serialize(&c);
	CHECK(json && strstr(json, "\"wrap_conversion\""));
	if (!json)
		return;
	CHECK(conf_parse(json, strlen(json), &p, &why) == 0);
	CHECK_EQ_INT(p.conversion, CONF_CONV_TO_FILE);
	CHECK_EQ_INT(conf_verify(&p, test_vk), 0);
	CHECK(conf_edit(json, "wrap_conversion", NULL, "\"to-volume\"",
			&p) == NULL);
	CHECK_EQ_INT(p.conversion, CONF_CONV_TO_VOLUME);
	CHECK_EQ_INT(conf_verify(&p, test_vk), -EBADMSG);
	CHECK(conf_edit(json, "wrap_conversion", NULL, NULL, &p) == NULL);
	CHECK_EQ_INT(p.conversion, CONF_CONV_NONE);
	CHECK_EQ_INT(conf_verify(&p, test_vk), -EBADMSG);
	why = conf_edit(json, "wrap_conversion", NULL, "\"to-nowhere\"", &p);
	CHECK(why && strstr(why, "unknown wrap_conversion"));
	why = conf_edit(json, "wrap_conversion", NULL, "1", &p);
	CHECK(why && strstr(why, "not a string"));
	free(json);

	/* None under way: no member, and the MAC of a config that never
	 * had one; adding one fails it. */
	make_conf_vw(&c, 1, 0);
	json = conf_serialize(&c);
	CHECK(json && !strstr(json, "wrap_conversion"));
	if (!json)
		return;
	CHECK(conf_edit(json, "wrap_conversion", NULL, "\"to-file\"", &p) ==
	      NULL);
	CHECK_EQ_INT(conf_verify(&p, test_vk), -EBADMSG);
	free(json);

	/* Without volume-wrap the parser refuses it outright. */
	make_conf(&c);
	plain = conf_serialize(&c);
	CHECK(plain != NULL);
	if (!plain)
		return;
	why = conf_edit(plain, "wrap_conversion", NULL, "\"to-volume\"", &p);
	CHECK(why && strstr(why, "wrap_conversion without the volume-wrap"));
	free(plain);
}

/* ---- escrow KEKs (FORMAT.md section 8.7) ------------------------------ */

/* s with every "from" replaced by "to"; malloc'd. */
static char *replace_all(const char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	const char *p = s;
	char *out, *o;

	while ((p = strstr(p, from)) && ++n)
		p += fl;
	if (!(o = out = malloc(strlen(s) + n * (tl + 1) + 1)))
		return NULL;
	for (p = s; (s = strstr(p, from)); p = s + fl) {
		memcpy(o, p, (size_t)(s - p));
		o += s - p;
		memcpy(o, to, tl);
		o += tl;
	}
	strcpy(o, p);
	return out;
}

/* Member key of a serialized config, as JSON text; malloc'd. */
static char *member_json(const char *json, const char *key)
{
	cJSON *root = cJSON_Parse(json);
	char *s = cJSON_PrintUnformatted(
		cJSON_GetObjectItemCaseSensitive(root, key));

	cJSON_Delete(root);
	return s;
}

/* The "escrow_keks" member of a serialized config, as JSON text. */
static char *escrows_json(const char *json)
{
	return member_json(json, "escrow_keks");
}

/* A volume-wrap config breaking a rule of FORMAT.md section 8.1 is
 * refused with its reason: each case replaces one member (or, with val
 * NULL, removes it) of a valid config with two generations. */
static void conf_wk_rejects(void)
{
	static const struct {
		const char *key, *val, *why;
	} cases[] = {
		{ "wrapping_keys", "[]", "not a non-empty array" },
		{ "wrapping_keys", NULL, "not a non-empty array" },
		{ "wrapping_keys", "{}", "not a non-empty array" },
		{ "features", "[\"encrypted-names\",\"long-names\"]",
		  "wrapping_keys without the volume-wrap feature" },
		{ "format", "2", "volume-wrap needs format 3" },
		{ "volume_key", "{\"alg\":\"RSA-OAEP-256\",\"kid\":"
		  "\"testkek://k/v1\",\"wrapped\":\"AAAA\"}",
		  "volume key not wrapped by a wrapping key" },
	};
	struct conf c, p;
	const char *why;
	char *json, *arr, *bad;

	make_conf_vw(&c, 2, 0);
	json = conf_serialize(&c);
	arr = json ? member_json(json, "wrapping_keys") : NULL;
	CHECK(arr != NULL);
	if (!arr)
		goto out;
	CHECK(conf_edit(json, "wrapping_keys", NULL, arr, &p) == NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = conf_edit(json, cases[i].key, NULL, cases[i].val, &p);
		CHECK(why && strstr(why, cases[i].why));
	}
	/* Within the array: order, range, count, who wraps, fields. */
	{
		static const struct {
			const char *from, *to, *why;
		} edits[] = {
			{ "\"generation\":2", "\"generation\":1",
			  "not in increasing generation" },
			{ "\"generation\":1", "\"generation\":3",
			  "not in increasing generation" },
			{ "\"generation\":1", "\"generation\":0",
			  "bad wrapping key generation" },
			{ "\"generation\":2", "\"generation\":4294967296",
			  "bad wrapping key generation" },
			{ "\"generation\":2", "\"generation\":1.5",
			  "bad wrapping key generation" },
			{ "\"generation\":2", "\"generation\":\"2\"",
			  "bad wrapping key generation" },
			{ "\"generation\":1,", "\"generation\":1,\"extra\":1,",
			  "unknown field in a wrapped key" },
		};

		for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
			bad = replace_all(arr, edits[i].from, edits[i].to);
			why = bad ? conf_edit(json, "wrapping_keys", NULL, bad,
					      &p) : NULL;
			CHECK(why && strstr(why, edits[i].why));
			free(bad);
		}
	}
	/* A third generation, and an entry wrapped locally. */
	bad = malloc(strlen(arr) * 2 + 4);
	if (bad) {
		snprintf(bad, strlen(arr) * 2 + 4, "%.*s,%s", (int)strlen(arr) - 1,
			 arr, arr + 1);
		why = conf_edit(json, "wrapping_keys", NULL, bad, &p);
		CHECK(why && (strstr(why, "too many wrapping_keys") ||
			      strstr(why, "not in increasing")));
		free(bad);
	}
	c.wk[1].alg = KEK_ALG_WK_SIV;
	conf_seal(&c, test_vk);
	free(json);
	json = conf_serialize(&c);
	CHECK(json && conf_parse(json, strlen(json), &p, &why) == -EINVAL &&
	      strstr(why, "must be wrapped by the KEK"));
	/* The volume key naming a generation the array lacks. */
	make_conf_vw(&c, 1, 0);
	hdr_wk_kid(c.volume_id, 7, c.vk.kid);
	conf_seal(&c, test_vk);
	free(json);
	json = conf_serialize(&c);
	CHECK(json && conf_parse(json, strlen(json), &p, &why) == -EINVAL &&
	      strstr(why, "wrapping key the config lacks"));
out:
	free(arr);
	free(json);
}

/* Every escrow KEK and its wrapped keys come back as written; the MAC
 * covers them, and a config without escrow KEKs keeps the MAC it had
 * before the member existed. */
static void conf_escrow_roundtrip(void)
{
	struct conf c, p, q;
	const char *why;
	char *json;

	make_conf_vw(&c, 2, 2);
	json = conf_serialize(&c);
	CHECK(json && strstr(json, "escrow_keks"));
	CHECK(json && conf_parse(json, strlen(json), &p, &why) == 0);
	free(json);
	CHECK_EQ_INT(p.nescrow, 2);
	CHECK_EQ_INT(conf_verify(&p, test_vk), 0);
	for (int e = 0; e < 2; e++)
		for (int i = 0; i < 2; i++) {
			CHECK(!strcmp(p.escrow[e].kek, c.escrow[e].kek));
			CHECK(!strcmp(p.escrow[e].wk[i].kid,
				      c.escrow[e].wk[i].kid));
			CHECK_EQ_INT(p.escrow[e].wk[i].gen, i + 1);
			CHECK(p.escrow[e].wk[i].wlen == c.escrow[e].wk[i].wlen &&
			      !memcmp(p.escrow[e].wk[i].wrapped,
				      c.escrow[e].wk[i].wrapped,
				      c.escrow[e].wk[i].wlen));
		}
	CHECK_EQ_INT(conf_escrow_find(&p, "testkek://e2"), 1);
	CHECK_EQ_INT(conf_escrow_find(&p, "testkek://k"), -1);

	/* Dropping one needs a new seal; with none left, the MAC is the
	 * one of a config that never had the member. */
	q = p;
	conf_escrow_drop(&q, 0);
	CHECK(q.nescrow == 1 && !strcmp(q.escrow[0].kek, "testkek://e2"));
	CHECK_EQ_INT(conf_verify(&q, test_vk), -EBADMSG);
	conf_escrow_drop(&q, 0);
	make_conf_vw(&p, 2, 0);
	CHECK_EQ_INT(q.nescrow, 0);
	CHECK_EQ_INT(conf_verify(&q, test_vk), -EBADMSG);
	conf_seal(&q, test_vk);
	CHECK(!memcmp(q.mac, p.mac, 32));
	json = conf_serialize(&p);
	CHECK(json && !strstr(json, "escrow_keks"));
	free(json);
}

/* An escrow_keks member that breaks a rule of section 8.7 is refused
 * with a reason. */
static void conf_escrow_rejects(void)
{
	struct conf c, p;
	const char *why;
	char *json, *arr, *v;
	struct {
		const char *from, *to, *why;
	} subst[] = {
		/* a control: the two entries swapped is a valid config */
		{ "testkek://e1", "testkek://eX", NULL },
		{ "testkek://e2", "testkek://k", "names the config's kek" },
		{ "testkek://e2", "testkek://e1", "duplicate URL" },
		{ "testkek://e1\"", "testkek://e 1\"", "bad URL" },
		{ "\"kek\"", "\"url\"", "unknown field in an escrow KEK" },
		{ "\"generation\":2", "\"generation\":3", "other wrapping key "
		  "generations" },
		{ "\"generation\":1", "\"generation\":0", "generation" },
		{ "\"alg\":\"CKM_AES_KEY_WRAP_PAD\"",
		  "\"alg\":\"HSMFS-WK-AES-SIV\"", "wrapped by a KEK" },
	};
	struct {
		const char *val, *why;
	} whole[] = {
		{ "[]", "not a non-empty array" },
		{ "{}", "not a non-empty array" },
		{ "[\"testkek://e1\"]", "not an object" },
		{ "[{\"wrapping_keys\":[]}]", "missing" },
		{ "[{\"kek\":\"testkek://e1\"}]", "does not wrap every" },
		{ "[{\"kek\":\"testkek://e1\",\"wrapping_keys\":[]}]",
		  "does not wrap every" },
	};

	make_conf_vw(&c, 2, 2);
	json = conf_serialize(&c);
	arr = json ? escrows_json(json) : NULL;
	CHECK(arr != NULL);
	if (!arr) {
		free(json);
		return;
	}
	for (size_t i = 0; i < sizeof(subst) / sizeof(*subst); i++) {
		v = replace_all(arr, subst[i].from, subst[i].to);
		why = conf_edit(json, "escrow_keks", NULL, v, &p);
		if (subst[i].why ? !why || !strstr(why, subst[i].why) : !!why) {
			fprintf(stderr, "  %s -> %s: got %s\n", subst[i].from,
				subst[i].to, why ? why : "(accepted)");
			check_failed_now = 1;
		}
		free(v);
	}
	for (size_t i = 0; i < sizeof(whole) / sizeof(*whole); i++) {
		why = conf_edit(json, "escrow_keks", NULL, whole[i].val, &p);
		if (!why || !strstr(why, whole[i].why)) {
			fprintf(stderr, "  %s: got %s\n", whole[i].val,
				why ? why : "(accepted)");
			check_failed_now = 1;
		}
	}
	/* An entry wrapping one generation of two. */
	make_conf_vw(&c, 1, 1);
	{
		char *json1 = conf_serialize(&c), *one = escrows_json(json1);

		why = conf_edit(json, "escrow_keks", NULL, one, &p);
		CHECK(why && strstr(why, "does not wrap every"));
		free(one);
		free(json1);
	}
	/* Four entries: one too many. */
	v = malloc(4 * strlen(arr) + 8);
	if (v) {
		char *e = replace_all(arr + 1, "testkek://e", "testkek://f");

		arr[strlen(arr) - 1] = '\0';
		sprintf(v, "%s,%s", arr, e);
		why = conf_edit(json, "escrow_keks", NULL, v, &p);
		CHECK(why && strstr(why, "too many"));
		free(e);
	}
	free(v);
	free(arr);
	/* Without volume-wrap, the member is refused. */
	make_conf(&c);
	free(json);
	json = conf_serialize(&c);
	why = conf_edit(json, "escrow_keks", NULL,
			"[{\"kek\":\"testkek://e1\",\"wrapping_keys\":[]}]", &p);
	CHECK(why && strstr(why, "without the volume-wrap"));
	free(json);
}

/* Well-formed edits of the escrow KEKs do not get past the MAC: nobody
 * without the volume key adds, drops, reorders or redirects one. */
static void conf_escrow_mac(void)
{
	static const struct {
		const char *from, *to;
	} subst[] = {
		{ "testkek://e2", "testkek://evil" },
		{ "testkek://e1/v2", "testkek://e1/v9" },
	};
	struct conf c, p;
	const char *why;
	char *json, *arr, *v;

	make_conf_vw(&c, 2, 2);
	json = conf_serialize(&c);
	arr = json ? escrows_json(json) : NULL;
	CHECK(arr != NULL);
	for (size_t i = 0; arr && i < sizeof(subst) / sizeof(*subst); i++) {
		v = replace_all(arr, subst[i].from, subst[i].to);
		why = conf_edit(json, "escrow_keks", NULL, v, &p);
		CHECK(!why && conf_verify(&p, test_vk) == -EBADMSG);
		free(v);
	}
	/* Swapped, dropped, one wrapped byte changed. */
	c.escrow[2] = c.escrow[0];
	c.escrow[0] = c.escrow[1];
	c.escrow[1] = c.escrow[2];
	memset(&c.escrow[2], 0, sizeof(c.escrow[2]));
	CHECK_EQ_INT(conf_verify(&c, test_vk), -EBADMSG);
	make_conf_vw(&c, 2, 2);
	c.nescrow = 1;
	CHECK_EQ_INT(conf_verify(&c, test_vk), -EBADMSG);
	make_conf_vw(&c, 2, 2);
	c.escrow[1].wk[0].wrapped[3] ^= 1;
	CHECK_EQ_INT(conf_verify(&c, test_vk), -EBADMSG);
	free(arr);
	free(json);
}

CHECK_MAIN("conf",
	   T(conf_roundtrip), T(conf_rejects), T(conf_mac_covers_all),
	   T(conf_mac_errors), T(conf_conversion),
	   T(conf_size_limit), T(conf_store_load), T(conf_escrow_roundtrip),
	   T(conf_escrow_rejects), T(conf_escrow_mac), T(conf_wk_rejects))
