/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/b64.h"
#include "conf.h"
#include "layout.h"
#include "names.h"

static const struct {
	const char *name;
	unsigned bit;
} features[] = {
	{ "encrypted-names", FEAT_ENCRYPTED_NAMES },
	{ "long-names", FEAT_LONG_NAMES },
	{ "plaintext-names", FEAT_PLAINTEXT_NAMES },
	{ "volume-wrap", FEAT_VOLUME_WRAP },
};

#define NFEATURES (sizeof(features) / sizeof(features[0]))

static const char *const known_fields[] = {
	"creator", "format", "volume_id", "features", "kek", "volume_key",
	"mac", "previous_keks", "wrapping_keys", "wrap_conversion",
	"escrow_keks",
};

static const char *const conversions[] = {
	[CONF_CONV_TO_VOLUME] = "to-volume",
	[CONF_CONV_TO_FILE] = "to-file",
};

const char *conf_feature_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(features) / sizeof(*features); i++)
		if (features[i].bit == bit)
			return features[i].name;
	return NULL;
}

const char *conf_conversion_name(enum conf_conversion cv)
{
	return cv == CONF_CONV_TO_VOLUME || cv == CONF_CONV_TO_FILE ?
	       conversions[cv] : NULL;
}


static const char *get_str(const cJSON *o, const char *k, size_t max,
			   char *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsString(v) || !v->valuestring)
		return "missing string field";
	if (strlen(v->valuestring) > max)
		return "field too long";
	strcpy(out, v->valuestring);
	return NULL;
}

static const char *get_b64(const cJSON *o, const char *k, uint8_t *out,
			   size_t want_min, size_t cap, size_t *got)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	long n;

	if (!cJSON_IsString(v) || !v->valuestring)
		return "missing base64 field";
	n = b64url_decode(v->valuestring, strlen(v->valuestring), out, cap);
	if (n < (long)want_min)
		return "bad base64 field";
	if (got)
		*got = (size_t)n;
	else if ((size_t)n != want_min)
		return "base64 field has the wrong length";
	return NULL;
}

static const char *parse_features(const cJSON *arr, unsigned *out)
{
	const cJSON *f;
	size_t i;

	if (!cJSON_IsArray(arr))
		return "missing features";
	*out = 0;
	cJSON_ArrayForEach(f, arr) {
		if (!cJSON_IsString(f))
			return "feature flag is not a string";
		for (i = 0; i < NFEATURES; i++)
			if (strcmp(f->valuestring, features[i].name) == 0)
				break;
		if (i == NFEATURES)
			return "unknown feature flag (made by a newer hsmfs?)";
		if (*out & features[i].bit)
			return "duplicate feature flag";
		*out |= features[i].bit;
	}
	if (!(*out & FEAT_ENCRYPTED_NAMES) == !(*out & FEAT_PLAINTEXT_NAMES))
		return "exactly one of encrypted-names, plaintext-names needed";
	return NULL;
}

static const char *const vk_fields[] = { "alg", "kid", "wrapped",
					 "generation" };

/* The same rule as for a header's kid: printable ASCII, nothing else,
 * since it goes into requests and log lines before the MAC is checked. */
static int kid_printable(const char *kid)
{
	if (!*kid)
		return 0;
	for (; *kid; kid++)
		if (*kid < 0x21 || *kid > 0x7e)
			return 0;
	return 1;
}

static int known_in(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

/* A wrapped key: {alg, kid, wrapped}, and "generation" where gen is
 * not NULL (a wrapping key). */
static const char *parse_wrapped(const cJSON *o, struct hdr_slot *s,
				 bool gen)
{
	const cJSON *it, *g;
	char alg[32];
	size_t wl;
	const char *why;

	if (!cJSON_IsObject(o))
		return "missing volume_key or wrapping key";
	cJSON_ArrayForEach(it, o)
		if (!known_in(it->string, vk_fields, gen ? 4 : 3))
			return "unknown field in a wrapped key";
	if ((why = get_str(o, "alg", sizeof(alg) - 1, alg)))
		return why;
	s->alg = kek_alg_from_name(alg);
	if (s->alg == KEK_ALG_NONE)
		return "unknown key-wrap algorithm";
	if ((why = get_str(o, "kid", HDR_KID_MAX, s->kid)))
		return why;
	if (!kid_printable(s->kid))
		return "bad key id";
	if ((why = get_b64(o, "wrapped", s->wrapped, 1, HDR_WRAPPED_MAX, &wl)))
		return why;
	s->wlen = (uint16_t)wl;
	s->gen = 1;
	if (!gen)
		return NULL;
	g = cJSON_GetObjectItemCaseSensitive(o, "generation");
	if (!cJSON_IsNumber(g) || g->valuedouble < 1 ||
	    g->valuedouble > 4294967295.0 ||
	    g->valuedouble != (double)(uint32_t)g->valuedouble)
		return "bad wrapping key generation";
	s->gen = (uint32_t)g->valuedouble;
	return NULL;
}

/* "wrapping_keys": 1..CONF_WK_MAX wrapping keys, each wrapped by the KEK,
 * by increasing generation. */
static const char *parse_wks(const cJSON *arr, struct conf *c)
{
	const cJSON *it;
	const char *why;

	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1)
		return "wrapping_keys is not a non-empty array";
	cJSON_ArrayForEach(it, arr) {
		struct hdr_slot *s = &c->wk[c->nwk];

		if (c->nwk == CONF_WK_MAX)
			return "too many wrapping_keys";
		if ((why = parse_wrapped(it, s, true)))
			return why;
		if (s->alg == KEK_ALG_WK_SIV)
			return "a wrapping key must be wrapped by the KEK";
		if (c->nwk > 0 && s->gen <= c->wk[c->nwk - 1].gen)
			return "wrapping_keys not in increasing generation";
		c->nwk++;
	}
	return NULL;
}

/* Who wraps the volume key: the KEK, or with volume-wrap one of the
 * config's own wrapping keys. */
static const char *check_wrap_mode(const cJSON *root, struct conf *c)
{
	const cJSON *wks = cJSON_GetObjectItemCaseSensitive(root,
							   "wrapping_keys");
	const char *why;
	uint32_t g;

	if (!(c->features & FEAT_VOLUME_WRAP)) {
		if (wks)
			return "wrapping_keys without the volume-wrap feature";
		if (c->conversion)
			return "wrap_conversion without the volume-wrap "
			       "feature";
		return c->vk.alg == KEK_ALG_WK_SIV ?
		       "volume key wrapped locally without volume-wrap" : NULL;
	}
	if (c->format < LAY_V3)
		return "volume-wrap needs format 3";
	if ((why = parse_wks(wks, c)))
		return why;
	if (c->vk.alg != KEK_ALG_WK_SIV || c->vk.wlen != HDR_WK_WRAPPED_LEN ||
	    hdr_wk_kid_gen(c->vk.kid, c->volume_id, &g) != 0)
		return "volume key not wrapped by a wrapping key";
	for (int i = 0; i < c->nwk; i++)
		if (c->wk[i].gen == g)
			return NULL;
	return "volume key wrapped by a wrapping key the config lacks";
}

/* "wrap_conversion": optional, one of the names above. */
static const char *parse_conversion(const cJSON *v, struct conf *c)
{
	if (!v)
		return NULL;
	if (!cJSON_IsString(v) || !v->valuestring)
		return "wrap_conversion is not a string";
	for (int i = CONF_CONV_TO_VOLUME; i <= CONF_CONV_TO_FILE; i++)
		if (strcmp(v->valuestring, conversions[i]) == 0) {
			c->conversion = (enum conf_conversion)i;
			return NULL;
		}
	return "unknown wrap_conversion";
}

/* One escrow KEK: {kek, wrapping_keys}, the wrapping keys being the
 * config's generations in the same order, each wrapped by a KEK (that
 * it is a version of this entry's kek is the volume's check, vol.c). */
static const char *parse_escrow(const cJSON *o, const struct conf *c,
				struct conf_escrow *e)
{
	static const char *const fields[] = { "kek", "wrapping_keys" };
	const cJSON *it, *arr;
	const char *why;
	int n = 0;

	if (!cJSON_IsObject(o))
		return "an escrow KEK is not an object";
	cJSON_ArrayForEach(it, o)
		if (!known_in(it->string, fields, 2))
			return "unknown field in an escrow KEK";
	if ((why = get_str(o, "kek", HDR_KID_MAX, e->kek)))
		return why;
	if (!kid_printable(e->kek))
		return "bad URL in escrow_keks";
	if (strcmp(e->kek, c->kek) == 0)
		return "escrow_keks names the config's kek";
	if (conf_escrow_find(c, e->kek) >= 0)
		return "duplicate URL in escrow_keks";
	arr = cJSON_GetObjectItemCaseSensitive(o, "wrapping_keys");
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != c->nwk)
		return "an escrow KEK does not wrap every wrapping key "
		       "generation of the config";
	cJSON_ArrayForEach(it, arr) {
		struct hdr_slot *s = &e->wk[n];

		if ((why = parse_wrapped(it, s, true)))
			return why;
		if (s->alg == KEK_ALG_WK_SIV)
			return "a wrapping key must be wrapped by a KEK";
		if (s->gen != c->wk[n++].gen)
			return "an escrow KEK wraps other wrapping key "
			       "generations than the config";
	}
	return NULL;
}

/* "escrow_keks": optional, volume-wrap only, 1..CONF_ESCROW_MAX. */
static const char *parse_escrows(const cJSON *arr, struct conf *c)
{
	const cJSON *it;
	const char *why;

	if (!arr)
		return NULL;
	if (!(c->features & FEAT_VOLUME_WRAP))
		return "escrow_keks without the volume-wrap feature";
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1)
		return "escrow_keks is not a non-empty array";
	cJSON_ArrayForEach(it, arr) {
		if (c->nescrow == CONF_ESCROW_MAX)
			return "too many escrow_keks";
		if ((why = parse_escrow(it, c, &c->escrow[c->nescrow])))
			return why;
		c->nescrow++;
	}
	return NULL;
}

int conf_escrow_find(const struct conf *c, const char *url)
{
	for (int i = 0; i < c->nescrow; i++)
		if (strcmp(c->escrow[i].kek, url) == 0)
			return i;
	return -1;
}

void conf_escrow_drop(struct conf *c, int i)
{
	if (i < 0 || i >= c->nescrow)
		return;
	memmove(&c->escrow[i], &c->escrow[i + 1],
		(size_t)(c->nescrow - i - 1) * sizeof(c->escrow[0]));
	c->nescrow--;
	memset(&c->escrow[c->nescrow], 0, sizeof(c->escrow[0]));
}

/* "previous_keks": optional, 1..CONF_PREV_MAX distinct printable URLs,
 * none equal to "kek". */
static const char *parse_prev(const cJSON *arr, struct conf *c)
{
	const cJSON *it;

	if (!arr)
		return NULL;
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1)
		return "previous_keks is not a non-empty array";
	cJSON_ArrayForEach(it, arr) {
		char *url = c->prev_kek[c->nprev];

		if (c->nprev == CONF_PREV_MAX)
			return "too many previous_keks";
		if (!cJSON_IsString(it) || !it->valuestring ||
		    strlen(it->valuestring) > HDR_KID_MAX ||
		    !kid_printable(it->valuestring))
			return "bad URL in previous_keks";
		strcpy(url, it->valuestring);
		if (strcmp(url, c->kek) == 0)
			return "previous_keks names the current kek";
		for (int i = 0; i < c->nprev; i++)
			if (strcmp(c->prev_kek[i], url) == 0)
				return "duplicate URL in previous_keks";
		c->nprev++;
	}
	return NULL;
}

static const char *parse_obj(const cJSON *root, struct conf *c)
{
	const cJSON *it, *fmt;
	const char *why;

	if (!cJSON_IsObject(root))
		return "not a JSON object";
	cJSON_ArrayForEach(it, root)
		if (!known_in(it->string, known_fields,
			      sizeof(known_fields) / sizeof(*known_fields)))
			return "unknown field";
	fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
	if (!cJSON_IsNumber(fmt) || (fmt->valuedouble != LAY_PACKED &&
				      fmt->valuedouble != LAY_ALIGNED &&
				      fmt->valuedouble != LAY_V3))
		return "unsupported format version";
	c->format = (uint8_t)fmt->valueint;
	if ((why = get_str(root, "creator", sizeof(c->creator) - 1,
			   c->creator)) ||
	    (why = get_b64(root, "volume_id", c->volume_id, ID_LEN, ID_LEN,
			   NULL)) ||
	    (why = parse_features(
		     cJSON_GetObjectItemCaseSensitive(root, "features"),
		     &c->features)) ||
	    (why = get_str(root, "kek", HDR_KID_MAX, c->kek)) ||
	    (why = parse_wrapped(cJSON_GetObjectItemCaseSensitive(root,
								   "volume_key"),
				 &c->vk, false)) ||
	    (why = get_b64(root, "mac", c->mac, 32, 32, NULL)) ||
	    (why = parse_conversion(cJSON_GetObjectItemCaseSensitive(
		     root, "wrap_conversion"), c)) ||
	    (why = check_wrap_mode(root, c)) ||
	    (why = parse_escrows(cJSON_GetObjectItemCaseSensitive(
					 root, "escrow_keks"), c)))
		return why;
	return parse_prev(cJSON_GetObjectItemCaseSensitive(root,
							  "previous_keks"), c);
}

int conf_parse(const char *json, size_t n, struct conf *c, const char **why)
{
	cJSON *root;

	memset(c, 0, sizeof(*c));
	*why = NULL;
	if (n > CONF_MAX_BYTES)
		*why = "config too large";
	else if (!(root = cJSON_ParseWithLength(json, n)))
		*why = "config is not valid JSON";
	else {
		*why = parse_obj(root, c);
		cJSON_Delete(root);
	}
	return *why ? -EINVAL : 0;
}

static int add_b64(cJSON *o, const char *k, const uint8_t *p, size_t n)
{
	char buf[B64_ENC_LEN(HDR_WRAPPED_MAX) + 1];

	b64url_encode(p, n, buf);
	return cJSON_AddStringToObject(o, k, buf) ? 0 : -1;
}

/* Wrapping keys wk[0..n) into the JSON array arr. */
static int add_wk_array(cJSON *arr, const struct hdr_slot *wk, int n)
{
	cJSON *o;

	for (int i = 0; arr && i < n; i++) {
		const struct hdr_slot *s = &wk[i];

		if (!(o = cJSON_CreateObject()) ||
		    !cJSON_AddItemToArray(arr, o) ||
		    !cJSON_AddNumberToObject(o, "generation", s->gen) ||
		    !cJSON_AddStringToObject(o, "alg", kek_alg_name(s->alg)) ||
		    !cJSON_AddStringToObject(o, "kid", s->kid) ||
		    add_b64(o, "wrapped", s->wrapped, s->wlen))
			return -1;
	}
	return arr ? 0 : -1;
}

static int add_wks(cJSON *root, const struct conf *c)
{
	return add_wk_array(cJSON_AddArrayToObject(root, "wrapping_keys"),
			    c->wk, c->nwk);
}

static int add_escrows(cJSON *root, const struct conf *c)
{
	cJSON *arr = cJSON_AddArrayToObject(root, "escrow_keks"), *o;

	for (int i = 0; arr && i < c->nescrow; i++)
		if (!(o = cJSON_CreateObject()) ||
		    !cJSON_AddItemToArray(arr, o) ||
		    !cJSON_AddStringToObject(o, "kek", c->escrow[i].kek) ||
		    add_wk_array(cJSON_AddArrayToObject(o, "wrapping_keys"),
				 c->escrow[i].wk, c->nwk))
			return -1;
	return arr ? 0 : -1;
}

static int add_prev(cJSON *root, const struct conf *c)
{
	cJSON *arr = cJSON_AddArrayToObject(root, "previous_keks");

	for (int i = 0; arr && i < c->nprev; i++)
		if (!cJSON_AddItemToArray(arr,
					  cJSON_CreateString(c->prev_kek[i])))
			return -1;
	return arr ? 0 : -1;
}

char *conf_serialize(const struct conf *c)
{
	cJSON *root = cJSON_CreateObject(), *feat, *vk;
	char *out = NULL;

	if (!root || !lay_valid(c->format)) {
		cJSON_Delete(root);
		return NULL;
	}
	feat = cJSON_AddArrayToObject(root, "features");
	for (size_t i = 0; feat && i < NFEATURES; i++)
		if (c->features & features[i].bit)
			cJSON_AddItemToArray(feat,
					     cJSON_CreateString(features[i].name));
	vk = cJSON_CreateObject();
	if (!feat || !vk || !cJSON_AddStringToObject(root, "creator", c->creator) ||
	    !cJSON_AddNumberToObject(root, "format", c->format) ||
	    add_b64(root, "volume_id", c->volume_id, ID_LEN) ||
	    !cJSON_AddStringToObject(root, "kek", c->kek) ||
	    !cJSON_AddStringToObject(vk, "alg", kek_alg_name(c->vk.alg)) ||
	    !cJSON_AddStringToObject(vk, "kid", c->vk.kid) ||
	    add_b64(vk, "wrapped", c->vk.wrapped, c->vk.wlen)) {
		cJSON_Delete(vk);
		goto out;
	}
	cJSON_AddItemToObject(root, "volume_key", vk);
	if (c->nprev > 0 && add_prev(root, c) != 0)
		goto out;
	if ((c->features & FEAT_VOLUME_WRAP) && add_wks(root, c) != 0)
		goto out;
	if ((c->features & FEAT_VOLUME_WRAP) && c->nescrow > 0 &&
	    add_escrows(root, c) != 0)
		goto out;
	if (conf_conversion_name(c->conversion) &&
	    !cJSON_AddStringToObject(root, "wrap_conversion",
				     conf_conversion_name(c->conversion)))
		goto out;
	if (add_b64(root, "mac", c->mac, 32) == 0)
		out = cJSON_Print(root);
out:
	cJSON_Delete(root);
	return out;
}

/* The MAC covers every field but itself, each as u32 length || bytes, so
 * that no two configs share an encoding. */
static size_t put_field(uint8_t *buf, size_t off, const void *p, size_t n)
{
	buf[off] = (uint8_t)(n >> 24);
	buf[off + 1] = (uint8_t)(n >> 16);
	buf[off + 2] = (uint8_t)(n >> 8);
	buf[off + 3] = (uint8_t)n;
	memcpy(buf + off + 4, p, n);
	return off + 4 + n;
}

/* A wrapping key's fields: generation, alg number, kid, wrapped bytes. */
#define WK_FIELDS_MAX (4 + 4 + 4 + 1 + 4 + HDR_KID_MAX + 4 + HDR_WRAPPED_MAX)

static size_t put_wk(uint8_t *msg, size_t o, const struct hdr_slot *s)
{
	uint8_t g[4] = { (uint8_t)(s->gen >> 24), (uint8_t)(s->gen >> 16),
			 (uint8_t)(s->gen >> 8), (uint8_t)s->gen };
	uint8_t a = (uint8_t)s->alg;

	o = put_field(msg, o, g, 4);
	o = put_field(msg, o, &a, 1);
	o = put_field(msg, o, s->kid, strlen(s->kid));
	return put_field(msg, o, s->wrapped, s->wlen);
}

/* Only when present, as each member added since: the escrow KEKs in
 * order, each its URL then its wrapping keys. */
static size_t put_escrows(uint8_t *msg, size_t o, const struct conf *c)
{
	if (!(c->features & FEAT_VOLUME_WRAP) || c->nescrow == 0)
		return o;
	o = put_field(msg, o, "escrow_keks", 11);
	for (int i = 0; i < c->nescrow; i++) {
		o = put_field(msg, o, c->escrow[i].kek,
			      strlen(c->escrow[i].kek));
		for (int j = 0; j < c->nwk; j++)
			o = put_wk(msg, o, &c->escrow[i].wk[j]);
	}
	return o;
}

static int conf_mac(const struct conf *c, const uint8_t vk[KEY_LEN],
		    uint8_t mac[32])
{
	uint8_t msg[1024 + HDR_WRAPPED_MAX +
		    (CONF_PREV_MAX + 1) * (HDR_KID_MAX + 4) +
		    CONF_WK_MAX * WK_FIELDS_MAX + 4 + 11 +
		    CONF_ESCROW_MAX * (4 + HDR_KID_MAX +
				       CONF_WK_MAX * WK_FIELDS_MAX) +
		    2 * (4 + 16)], mk[KEY_LEN];
	uint8_t feat[4] = { 0, 0, 0, (uint8_t)c->features };
	uint8_t alg = (uint8_t)c->vk.alg, fmt = c->format;
	const char *conv = conf_conversion_name(c->conversion);
	size_t o = 0;
	int ret;

	if (!lay_valid(c->format))
		return -EINVAL;
	o = put_field(msg, o, "hsmfs.conf v1", 13);
	o = put_field(msg, o, &fmt, 1);
	o = put_field(msg, o, c->creator, strlen(c->creator));
	o = put_field(msg, o, c->volume_id, ID_LEN);
	o = put_field(msg, o, feat, sizeof(feat));
	o = put_field(msg, o, c->kek, strlen(c->kek));
	o = put_field(msg, o, &alg, 1);
	o = put_field(msg, o, c->vk.kid, strlen(c->vk.kid));
	o = put_field(msg, o, c->vk.wrapped, c->vk.wlen);
	/* Only when present, so that configs without it keep their MAC. */
	if (c->nprev > 0)
		o = put_field(msg, o, "previous_keks", 13);
	for (int i = 0; i < c->nprev; i++)
		o = put_field(msg, o, c->prev_kek[i], strlen(c->prev_kek[i]));
	/* The same for volume-wrap: what older configs lack adds nothing. */
	if (c->features & FEAT_VOLUME_WRAP)
		o = put_field(msg, o, "wrapping_keys", 13);
	for (int i = 0; (c->features & FEAT_VOLUME_WRAP) && i < c->nwk; i++)
		o = put_wk(msg, o, &c->wk[i]);
	o = put_escrows(msg, o, c);
	/* Likewise: a config with no conversion under way keeps its MAC. */
	if (conv) {
		o = put_field(msg, o, "wrap_conversion", 15);
		o = put_field(msg, o, conv, strlen(conv));
	}
	ret = keys_hkdf(vk, KEY_LEN, KDF_CONF_MAC, mk, sizeof(mk));
	if (!ret)
		ret = keys_hmac(mk, msg, o, mac);
	secmem_wipe(mk, sizeof(mk));
	return ret;
}

int conf_seal(struct conf *c, const uint8_t vk[KEY_LEN])
{
	return conf_mac(c, vk, c->mac);
}

int conf_verify(const struct conf *c, const uint8_t vk[KEY_LEN])
{
	uint8_t mac[32];
	int err = conf_mac(c, vk, mac);

	if (err)
		return err;
	return keys_equal(mac, c->mac, 32) ? 0 : -EBADMSG;
}

int conf_load(int dirfd, struct conf *c, const char **why)
{
	char *buf = malloc(CONF_MAX_BYTES + 1);
	struct stat st;
	ssize_t n;
	int fd, err = 0;

	*why = "out of memory";
	if (!buf)
		return -ENOMEM;
	/* Never waited on: a FIFO in its place must not hang the mount. */
	fd = openat(dirfd, CONF_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
				      O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		*why = err == -ENOENT ? "no hsmfs.conf: not an hsmfs volume"
				      : "cannot open hsmfs.conf";
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err = -EINVAL;
		*why = "hsmfs.conf is not a regular file";
		close(fd);
		goto out;
	}
	n = read(fd, buf, CONF_MAX_BYTES + 1);
	if (n < 0) {
		err = -errno;
		*why = "cannot read hsmfs.conf";
	} else if (n > CONF_MAX_BYTES) {
		err = -EINVAL;
		*why = "hsmfs.conf too large";
	} else {
		err = conf_parse(buf, (size_t)n, c, why);
	}
	close(fd);
out:
	free(buf);
	return err;
}

int conf_store(int dirfd, const struct conf *c)
{
	char *json = conf_serialize(c);
	const char *tmp = CONF_NAME ".tmp";
	size_t len;
	int fd, err = 0;

	if (!json)
		return -ENOMEM;
	len = strlen(json);
	unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if (write(fd, json, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
	    fsync(fd) != 0)
		err = errno ? -errno : -EIO;
	close(fd);
	if (!err && renameat(dirfd, tmp, dirfd, CONF_NAME) != 0)
		err = -errno;
	if (!err)
		fsync(dirfd);
	else
		unlinkat(dirfd, tmp, 0);
out:
	free(json);
	return err;
}
