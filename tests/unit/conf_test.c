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

/* A volume-wrap config: generation 1 wrapped by the KEK, the volume key
 * wrapped locally by it (bytes that only look the part: the parser and
 * the MAC do not open them). */
static void make_vw_conf(struct conf *c, enum conf_conversion cv)
{
	make_conf(c);
	c->features |= FEAT_VOLUME_WRAP;
	make_slot(&c->wk[0], 1, "testkek://k/v1", 64, 0x30);
	c->wk[0].alg = KEK_ALG_AES_KW_PAD;
	c->nwk = 1;
	memset(&c->vk, 0, sizeof(c->vk));
	c->vk.alg = KEK_ALG_WK_SIV;
	hdr_wk_kid(c->volume_id, 1, c->vk.kid);
	c->vk.wlen = HDR_WK_WRAPPED_LEN;
	fill_seq(c->vk.wrapped, HDR_WK_WRAPPED_LEN, 0x50);
	c->conversion = cv;
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

	make_vw_conf(&c, CONF_CONV_TO_FILE);
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
	make_vw_conf(&c, CONF_CONV_NONE);
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

CHECK_MAIN("conf",
	   T(conf_roundtrip), T(conf_rejects), T(conf_mac_covers_all),
	   T(conf_mac_errors), T(conf_conversion),
	   T(conf_size_limit), T(conf_store_load))
