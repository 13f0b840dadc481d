/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/b64.h"
#include "json.h"
#include "keys.h"
#include "util.h"

#define MAX_KEYS 5000           /* Managed HSM: keys per HSM */
#define MAX_VERSIONS 100        /* Managed HSM: versions per key */
#define MAX_TAGS 15
#define MAX_TAG_LEN 256
#define POLICY_MIN_ROTATE (7 * 86400)    /* rotation at least 7 days apart */
#define POLICY_MIN_EXPIRY (28 * 86400)   /* expiryTime at least 28 days */

struct key_version {
	char version[33];
	enum kty kty;
	int bits;
	enum crv crv;
	EVP_PKEY *pkey;
	uint8_t k[32];
	int enabled;
	int64_t created, updated, nbf, exp;
	unsigned ops;
	cJSON *tags;
};

struct key {
	char name[EMU_NAME_MAX + 1];
	struct key_version **v;         /* oldest first */
	size_t nv;
	cJSON *policy;                  /* rotation policy as set, or NULL */
	int64_t policy_created, policy_updated;
	int64_t deleted, purge;         /* deleted keys: dates */
};

static struct key **keys;               /* sorted by name, no case */
static size_t nkeys;
static struct key **gone;               /* deleted keys, by deletion time */
static size_t ngone;

static const char *const crv_names[] = { "P-256", "P-384", "P-521", "P-256K" };
static const char *const crv_groups[] = { "P-256", "P-384", "P-521", "secp256k1" };
static const int crv_bits[] = { 256, 384, 521, 256 };

static struct key *gone_find(const char *name);
static struct key *key_detach(const char *name);
static int64_t policy_expiry(const cJSON *policy);

static const struct {
	const char *name;
	unsigned bit;
} op_names[] = {
	{ "encrypt", KOP_ENCRYPT }, { "decrypt", KOP_DECRYPT },
	{ "sign", KOP_SIGN },       { "verify", KOP_VERIFY },
	{ "wrapKey", KOP_WRAP },    { "unwrapKey", KOP_UNWRAP },
	{ "import", KOP_IMPORT },   { "export", KOP_EXPORT },
	{ "deriveKey", KOP_DERIVE },
};

#define OPS_RSA (KOP_ENCRYPT | KOP_DECRYPT | KOP_SIGN | KOP_VERIFY | \
		 KOP_WRAP | KOP_UNWRAP)
#define OPS_OCT (OPS_RSA | KOP_DERIVE)
#define OPS_EC (KOP_SIGN | KOP_VERIFY)

/* printf into a caller's error buffer. */
static int fail(char *err, size_t cap, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t cap, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return code;
}

/* Key names as the service accepts them: 1-127 of [0-9a-zA-Z-]. */
int key_name_ok(const char *name)
{
	return valid_ident(name, EMU_NAME_MAX, "-");
}

/* Versions are exactly 32 lowercase hex characters. */
int key_version_ok(const char *ver)
{
	size_t n = strlen(ver);

	return n == 32 && strspn(ver, "0123456789abcdef") == 32;
}

/* key_ops array -> bit mask; -1 on anything unknown. */
static int parse_ops(const cJSON *arr, unsigned *ops)
{
	const cJSON *it;

	if (!cJSON_IsArray(arr))
		return -1;
	*ops = 0;
	cJSON_ArrayForEach(it, arr) {
		size_t i;
		if (!cJSON_IsString(it))
			return -1;
		for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
			if (!strcmp(it->valuestring, op_names[i].name))
				break;
		if (i == sizeof(op_names) / sizeof(op_names[0]))
			return -1;
		*ops |= op_names[i].bit;
	}
	return 0;
}

/* tags: at most 15 string pairs of up to 256 chars; returns a copy. */
static int parse_tags(const cJSON *obj, cJSON **out)
{
	const cJSON *it;
	int n = 0;

	if (cJSON_IsNull(obj)) {
		*out = NULL;
		return 0;
	}
	if (!cJSON_IsObject(obj))
		return -1;
	cJSON_ArrayForEach(it, obj) {
		if (!cJSON_IsString(it) || ++n > MAX_TAGS || !it->string ||
		    strlen(it->string) > MAX_TAG_LEN ||
		    strlen(it->valuestring) > MAX_TAG_LEN)
			return -1;
	}
	*out = cJSON_Duplicate(obj, 1);
	return *out ? 0 : -1;
}

/* attributes {enabled, nbf, exp, exportable}: shared by create/update. */
static int parse_attrs(const cJSON *a, int *enabled, int64_t *nbf,
		       int64_t *exp, char *err, size_t cap)
{
	const int64_t tmax = 253402300799LL;    /* 9999-12-31 */
	int exportable = 0, r;

	if (!a || cJSON_IsNull(a))
		return 0;
	if (!cJSON_IsObject(a))
		return fail(err, cap, KE_BADPARAM, "attributes must be an object");
	if (json_bool(a, "enabled", enabled) < 0)
		return fail(err, cap, KE_BADPARAM, "attributes.enabled must be a boolean");
	r = json_int(a, "nbf", 0, tmax, nbf);
	if (r < 0)
		return fail(err, cap, KE_BADPARAM, "attributes.nbf must be a Unix time");
	if (r == 0 && cJSON_GetObjectItemCaseSensitive(a, "nbf"))
		*nbf = 0;
	r = json_int(a, "exp", 0, tmax, exp);
	if (r < 0)
		return fail(err, cap, KE_BADPARAM, "attributes.exp must be a Unix time");
	if (r == 0 && cJSON_GetObjectItemCaseSensitive(a, "exp"))
		*exp = 0;
	if (json_bool(a, "exportable", &exportable) < 0 || exportable)
		return fail(err, cap, KE_BADPARAM,
			    "Exportable keys must have release policy (the emulator does not support key release)");
	return 0;
}

/* EC curve by JWK name; P-256 when absent, as the service. */
static int parse_crv(const char *crv, struct key_params *p, char *err, size_t cap)
{
	for (int i = 0; i < 4; i++)
		if (!crv || !strcmp(crv, crv_names[i])) {
			p->crv = (enum crv)i;
			p->bits = crv_bits[i];
			return 0;
		}
	return fail(err, cap, KE_BADPARAM,
		    "crv '%.16s' is not supported (P-256, P-384, P-521, P-256K)", crv);
}

/* Maps kty/key_size of a create request onto what the emulator makes. */
static int parse_kty(const cJSON *body, struct key_params *p, char *err,
		     size_t cap)
{
	const char *kty = json_str(body, "kty");
	int64_t size = 0, pe = 0;

	if (!kty)
		return fail(err, cap, KE_BADPARAM, "kty is required");
	if (!strcmp(kty, "RSA") || !strcmp(kty, "RSA-HSM"))
		p->kty = KTY_RSA;
	else if (!strcmp(kty, "oct") || !strcmp(kty, "oct-HSM"))
		p->kty = KTY_OCT;
	else if (!strcmp(kty, "EC") || !strcmp(kty, "EC-HSM"))
		p->kty = KTY_EC;
	else
		return fail(err, cap, KE_BADPARAM,
			    "Key type '%.32s' is not supported (RSA-HSM, EC-HSM, oct-HSM)", kty);
	if (json_int(body, "key_size", 0, 65536, &size) < 0)
		return fail(err, cap, KE_BADPARAM, "key_size must be an integer");
	if (p->kty == KTY_EC)
		return parse_crv(json_str(body, "crv"), p, err, cap);
	if (json_str(body, "crv"))
		return fail(err, cap, KE_BADPARAM, "crv is only for EC keys");
	if (p->kty == KTY_RSA) {
		p->bits = size ? (int)size : 2048;
		if (p->bits != 2048 && p->bits != 3072 && p->bits != 4096)
			return fail(err, cap, KE_BADPARAM,
				    "RSA key_size must be 2048, 3072 or 4096");
	} else {
		p->bits = size ? (int)size : 256;
		if (p->bits != 128 && p->bits != 192 && p->bits != 256)
			return fail(err, cap, KE_BADPARAM,
				    "oct key_size must be 128, 192 or 256");
	}
	if (json_int(body, "public_exponent", 0, 1 << 30, &pe) < 0 ||
	    (pe && (p->kty != KTY_RSA || pe != 65537)))
		return fail(err, cap, KE_BADPARAM, "public_exponent must be 65537");
	return 0;
}

/* Validates a KeyCreateParameters body. */
int keys_parse_create(const cJSON *body, struct key_params *p, char *err,
		      size_t errcap)
{
	const cJSON *ops, *tags;
	int r;

	memset(p, 0, sizeof(*p));
	p->enabled = 1;
	if (!cJSON_IsObject(body))
		return fail(err, errcap, KE_BADPARAM, "request body must be a JSON object");
	r = parse_kty(body, p, err, errcap);
	if (r)
		return r;
	p->ops = p->kty == KTY_RSA ? OPS_RSA : p->kty == KTY_EC ? OPS_EC : OPS_OCT;
	ops = cJSON_GetObjectItemCaseSensitive(body, "key_ops");
	if (ops && !cJSON_IsNull(ops) && parse_ops(ops, &p->ops))
		return fail(err, errcap, KE_BADPARAM, "key_ops contains an unknown operation");
	r = parse_attrs(cJSON_GetObjectItemCaseSensitive(body, "attributes"),
			&p->enabled, &p->nbf, &p->exp, err, errcap);
	if (r)
		return r;
	if (cJSON_GetObjectItemCaseSensitive(body, "release_policy"))
		return fail(err, errcap, KE_BADPARAM,
			    "Non-exportable keys must not have release policy");
	tags = cJSON_GetObjectItemCaseSensitive(body, "tags");
	if (tags && parse_tags(tags, &p->tags))
		return fail(err, errcap, KE_BADPARAM,
			    "tags must be at most 15 string pairs of at most 256 characters");
	return 0;
}

/* Frees the tags owned by p. */
void key_params_clear(struct key_params *p)
{
	cJSON_Delete(p->tags);
	p->tags = NULL;
}

/* Key generation is slow for RSA, so it runs outside the store lock. */
int key_generate(const struct key_params *p, struct key_material *m)
{
	memset(m, 0, sizeof(*m));
	if (p->kty == KTY_OCT)
		return RAND_bytes(m->k, p->bits / 8) == 1 ? 0 : KE_CRYPTO;
	if (p->kty == KTY_EC)
		m->pkey = EVP_EC_gen(crv_groups[p->crv]);
	else
		m->pkey = EVP_RSA_gen((unsigned)p->bits);
	return m->pkey ? 0 : KE_CRYPTO;
}

/* Frees and wipes unused key material. */
void key_material_clear(struct key_material *m)
{
	EVP_PKEY_free(m->pkey);
	m->pkey = NULL;
	OPENSSL_cleanse(m->k, sizeof(m->k));
}

/* Frees a version and wipes its key. */
static void version_free(struct key_version *v)
{
	if (!v)
		return;
	EVP_PKEY_free(v->pkey);
	OPENSSL_cleanse(v->k, sizeof(v->k));
	cJSON_Delete(v->tags);
	free(v);
}

/* Frees a key and all its versions. */
static void key_free(struct key *k)
{
	for (size_t i = 0; i < k->nv; i++)
		version_free(k->v[i]);
	free(k->v);
	cJSON_Delete(k->policy);
	free(k);
}

/* Binary search position of name in the sorted key array. */
static size_t key_pos(const char *name, int *found)
{
	size_t lo = 0, hi = nkeys;

	*found = 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcasecmp(keys[mid]->name, name);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Key by name, case-insensitive like the service. */
static struct key *key_find(const char *name)
{
	int found;
	size_t i = key_pos(name, &found);

	return found ? keys[i] : NULL;
}

/* Version by id, or the latest for NULL/"". */
static struct key_version *version_find(const struct key *k, const char *ver)
{
	if (!ver || !ver[0])
		return k->nv ? k->v[k->nv - 1] : NULL;
	for (size_t i = 0; i < k->nv; i++)
		if (!strcmp(k->v[i]->version, ver))
			return k->v[i];
	return NULL;
}

/* Attaches a new, empty key at its sorted position. */
static struct key *key_insert(const char *name)
{
	struct key **nk, *k;
	int found;
	size_t pos = key_pos(name, &found);

	if (nkeys >= MAX_KEYS)
		return NULL;
	k = calloc(1, sizeof(*k));
	nk = realloc(keys, (nkeys + 1) * sizeof(*keys));
	if (!k || !nk) {
		free(k);
		if (nk)
			keys = nk;
		return NULL;
	}
	keys = nk;
	memmove(keys + pos + 1, keys + pos, (nkeys - pos) * sizeof(*keys));
	keys[pos] = k;
	nkeys++;
	snprintf(k->name, sizeof(k->name), "%s", name);
	return k;
}

/* Adds v as the newest version. */
static int version_append(struct key *k, struct key_version *v)
{
	struct key_version **nv = realloc(k->v, (k->nv + 1) * sizeof(*nv));

	if (!nv)
		return -1;
	k->v = nv;
	k->v[k->nv++] = v;
	return 0;
}

/* key_ops bit mask as the JSON array. */
static cJSON *ops_json(unsigned ops)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (ops & op_names[i].bit)
			cJSON_AddItemToArray(a, cJSON_CreateString(op_names[i].name));
	return a;
}

/* KeyAttributes as Managed HSM reports them. */
static cJSON *attrs_json(const struct key_version *v)
{
	cJSON *a = cJSON_CreateObject();

	if (!a)
		return NULL;
	cJSON_AddNumberToObject(a, "created", (double)v->created);
	cJSON_AddBoolToObject(a, "enabled", v->enabled);
	if (v->exp)
		cJSON_AddNumberToObject(a, "exp", (double)v->exp);
	cJSON_AddBoolToObject(a, "exportable", 0);
	if (v->nbf)
		cJSON_AddNumberToObject(a, "nbf", (double)v->nbf);
	/* Managed HSM: 90 days is the default retention, anything shorter
	 * is "customized". */
	cJSON_AddNumberToObject(a, "recoverableDays", emu.retention_days);
	cJSON_AddStringToObject(a, "recoveryLevel", emu.retention_days < 90
				? "CustomizedRecoverable+Purgeable" : "Recoverable+Purgeable");
	cJSON_AddNumberToObject(a, "updated", (double)v->updated);
	return a;
}

/* Key identifier: <base>/keys/<name>[/<version>]. */
static void kid_of(const struct key *k, const struct key_version *v,
		   char *out, size_t cap)
{
	if (v)
		snprintf(out, cap, "%s/keys/%s/%s", emu.base, k->name, v->version);
	else
		snprintf(out, cap, "%s/keys/%s", emu.base, k->name);
}

/* KeyBundle: public parts only, never d/p/q or k. */
static cJSON *bundle_json(const struct key *k, const struct key_version *v)
{
	cJSON *b = cJSON_CreateObject(), *jwk = cJSON_CreateObject();
	char kid[400];

	if (!b || !jwk)
		goto fail;
	kid_of(k, v, kid, sizeof(kid));
	cJSON_AddStringToObject(jwk, "kid", kid);
	cJSON_AddStringToObject(jwk, "kty", v->kty == KTY_RSA ? "RSA-HSM" :
				v->kty == KTY_EC ? "EC-HSM" : "oct-HSM");
	cJSON_AddItemToObject(jwk, "key_ops", ops_json(v->ops));
	if (v->kty == KTY_RSA &&
	    (jwk_add_bn(jwk, v->pkey, OSSL_PKEY_PARAM_RSA_N, "n", 0) ||
	     jwk_add_bn(jwk, v->pkey, OSSL_PKEY_PARAM_RSA_E, "e", 0)))
		goto fail;
	if (v->kty == KTY_EC &&
	    (!cJSON_AddStringToObject(jwk, "crv", crv_names[v->crv]) ||
	     jwk_add_bn(jwk, v->pkey, OSSL_PKEY_PARAM_EC_PUB_X, "x", (v->bits + 7) / 8) ||
	     jwk_add_bn(jwk, v->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, "y", (v->bits + 7) / 8)))
		goto fail;
	cJSON_AddItemToObject(b, "key", jwk);
	jwk = NULL;
	cJSON_AddItemToObject(b, "attributes", attrs_json(v));
	if (v->tags)
		cJSON_AddItemToObject(b, "tags", cJSON_Duplicate(v->tags, 1));
	return b;
fail:
	cJSON_Delete(jwk);
	cJSON_Delete(b);
	return NULL;
}

/* KeyItem for list results (no key material). */
static cJSON *item_json(const struct key *k, const struct key_version *v,
			int versioned)
{
	cJSON *it = cJSON_CreateObject();
	char kid[400];

	if (!it)
		return NULL;
	kid_of(k, versioned ? v : NULL, kid, sizeof(kid));
	cJSON_AddStringToObject(it, "kid", kid);
	cJSON_AddItemToObject(it, "attributes", attrs_json(v));
	if (v->tags)
		cJSON_AddItemToObject(it, "tags", cJSON_Duplicate(v->tags, 1));
	return it;
}

/* Adds a version; creates the key on first use. */
int keys_add(const char *name, struct key_params *p, struct key_material *m,
	     int must_exist, cJSON **bundle, char *err, size_t errcap)
{
	struct key *k = key_find(name);
	struct key_version *v = NULL;
	int created_key = 0;

	if (!k && gone_find(name))
		return fail(err, errcap, KE_CONFLICT,
			    "Key %s is currently in a deleted but recoverable state, and its name "
			    "cannot be reused; in this state, the key can only be recovered or purged.",
			    name);
	if (!k && must_exist)
		return fail(err, errcap, KE_NOTFOUND,
			    "A key with (name/id) %s was not found in this key vault", name);
	if (k && k->nv >= MAX_VERSIONS)
		return fail(err, errcap, KE_BADPARAM,
			    "Key %s already has %d versions", name, MAX_VERSIONS);
	v = calloc(1, sizeof(*v));
	if (!v || rand_hex(v->version, 16))
		goto nomem;
	if (!k) {
		k = key_insert(name);
		if (!k)
			goto nomem;
		created_key = 1;
	}
	v->kty = p->kty;
	v->bits = p->bits;
	v->crv = p->crv;
	v->pkey = m->pkey;
	m->pkey = NULL;
	memcpy(v->k, m->k, sizeof(v->k));
	OPENSSL_cleanse(m->k, sizeof(m->k));
	v->enabled = p->enabled;
	v->nbf = p->nbf;
	v->exp = p->exp;
	v->ops = p->ops;
	v->tags = p->tags;
	p->tags = NULL;
	v->created = v->updated = now_unix();
	if (version_append(k, v))
		goto nomem;
	*bundle = bundle_json(k, v);
	return KE_OK;
nomem:
	version_free(v);
	if (created_key)
		key_free(key_detach(name));
	return fail(err, errcap, KE_NOMEM, "out of memory");
}

/* Rotation keeps kty, size, key_ops and tags of the latest. */
int keys_rotate_params(const char *name, struct key_params *p)
{
	struct key *k = key_find(name);
	struct key_version *v = k ? version_find(k, NULL) : NULL;

	memset(p, 0, sizeof(*p));
	if (!v)
		return KE_NOTFOUND;
	p->kty = v->kty;
	p->bits = v->bits;
	p->crv = v->crv;
	p->ops = v->ops;
	p->enabled = 1;
	/* A rotation policy's expiryTime dates the new version. */
	if (k->policy && policy_expiry(k->policy) > 0)
		p->exp = now_unix() + policy_expiry(k->policy);
	p->tags = v->tags ? cJSON_Duplicate(v->tags, 1) : NULL;
	return KE_OK;
}

/* Applies a KeyUpdateParameters body to one version. */
int keys_update(const char *name, const char *ver, const cJSON *body,
		cJSON **bundle, char *err, size_t errcap)
{
	struct key *k = key_find(name);
	struct key_version *v = k ? version_find(k, ver) : NULL;
	const cJSON *ops, *tags;
	unsigned nops;
	int enabled, r;
	int64_t nbf, exp;
	cJSON *nt = NULL;

	if (!v)
		return fail(err, errcap, KE_NOTFOUND,
			    "A key with (name/id) %s was not found in this key vault", name);
	if (!cJSON_IsObject(body))
		return fail(err, errcap, KE_BADPARAM, "request body must be a JSON object");
	enabled = v->enabled;
	nbf = v->nbf;
	exp = v->exp;
	nops = v->ops;
	r = parse_attrs(cJSON_GetObjectItemCaseSensitive(body, "attributes"),
			&enabled, &nbf, &exp, err, errcap);
	if (r)
		return r;
	ops = cJSON_GetObjectItemCaseSensitive(body, "key_ops");
	if (ops && !cJSON_IsNull(ops) && parse_ops(ops, &nops))
		return fail(err, errcap, KE_BADPARAM, "key_ops contains an unknown operation");
	tags = cJSON_GetObjectItemCaseSensitive(body, "tags");
	if (tags && parse_tags(tags, &nt))
		return fail(err, errcap, KE_BADPARAM, "invalid tags");
	if (tags) {
		cJSON_Delete(v->tags);
		v->tags = nt;
	}
	v->enabled = enabled;
	v->nbf = nbf;
	v->exp = exp;
	v->ops = nops;
	v->updated = now_unix();
	*bundle = bundle_json(k, v);
	return KE_OK;
}

/* KeyBundle of a version (latest for NULL/""). */
int keys_get(const char *name, const char *ver, cJSON **bundle)
{
	struct key *k = key_find(name);
	struct key_version *v = k ? version_find(k, ver) : NULL;

	if (!v)
		return KE_NOTFOUND;
	*bundle = bundle_json(k, v);
	return *bundle ? KE_OK : KE_NOMEM;
}

/* Takes a key out of the live list; NULL if there is none. */
static struct key *key_detach(const char *name)
{
	int found;
	size_t i = key_pos(name, &found);
	struct key *k;

	if (!found)
		return NULL;
	k = keys[i];
	memmove(keys + i, keys + i + 1, (nkeys - i - 1) * sizeof(*keys));
	nkeys--;
	return k;
}

/* DeletedKeyBundle (or DeletedKeyItem): the latest version plus the
 * recovery id and the dates. */
static cJSON *deleted_json(const struct key *k, int item)
{
	cJSON *b = item ? item_json(k, k->v[k->nv - 1], 0) : bundle_json(k, k->v[k->nv - 1]);
	char rid[300];

	snprintf(rid, sizeof(rid), "%s/deletedkeys/%s", emu.base, k->name);
	if (b) {
		cJSON_AddStringToObject(b, "recoveryId", rid);
		cJSON_AddNumberToObject(b, "deletedDate", (double)k->deleted);
		cJSON_AddNumberToObject(b, "scheduledPurgeDate", (double)k->purge);
	}
	return b;
}

/* Deleted key by name, no case. */
static struct key *gone_find(const char *name)
{
	for (size_t i = 0; i < ngone; i++)
		if (!strcasecmp(gone[i]->name, name))
			return gone[i];
	return NULL;
}

/* Takes a deleted key out of the deleted list. */
static struct key *gone_detach(const char *name)
{
	for (size_t i = 0; i < ngone; i++)
		if (!strcasecmp(gone[i]->name, name)) {
			struct key *k = gone[i];
			memmove(gone + i, gone + i + 1, (ngone - i - 1) * sizeof(*gone));
			ngone--;
			return k;
		}
	return NULL;
}

/* The service purges a deleted key once its scheduled purge date passes;
 * here that happens whenever deleted keys are looked at. */
static void gone_expire(void)
{
	int64_t now = now_unix();
	size_t o = 0;

	for (size_t i = 0; i < ngone; i++) {
		if (gone[i]->purge <= now)
			key_free(gone[i]);
		else
			gone[o++] = gone[i];
	}
	ngone = o;
}

/* Appends a deleted key (its dates set). */
static int gone_add(struct key *k)
{
	struct key **ng = realloc(gone, (ngone + 1) * sizeof(*gone));

	if (!ng)
		return -1;
	gone = ng;
	gone[ngone++] = k;
	return 0;
}

/* Soft delete: the key keeps its versions for the retention period. */
int keys_delete(const char *name, cJSON **deleted)
{
	struct key *k = key_find(name);

	gone_expire();
	if (!k || !k->nv)
		return KE_NOTFOUND;
	k->deleted = now_unix();
	k->purge = k->deleted + (int64_t)emu.retention_days * 86400;
	if (gone_add(k))
		return KE_NOMEM;
	key_detach(name);
	if (deleted)
		*deleted = deleted_json(k, 0);
	return KE_OK;
}

/* GET /deletedkeys/{name}. */
int keys_deleted_get(const char *name, cJSON **bundle)
{
	struct key *k;

	gone_expire();
	k = gone_find(name);
	if (!k)
		return KE_NOTFOUND;
	*bundle = deleted_json(k, 0);
	return *bundle ? KE_OK : KE_NOMEM;
}

/* DeletedKeyItems [skip, skip+max), oldest deletion first. */
cJSON *keys_deleted_list(size_t skip, size_t max, int *more)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	gone_expire();
	for (i = skip; arr && i < ngone && i < skip + max; i++)
		cJSON_AddItemToArray(arr, deleted_json(gone[i], 1));
	*more = i < ngone;
	return arr;
}

/* DELETE /deletedkeys/{name}: gone for good. */
int keys_purge(const char *name)
{
	struct key *k;

	gone_expire();
	k = gone_detach(name);
	if (!k)
		return KE_NOTFOUND;
	key_free(k);
	return KE_OK;
}

/* POST /deletedkeys/{name}/recover: back with all its versions. */
int keys_recover(const char *name, cJSON **bundle)
{
	struct key *k, *live;

	gone_expire();
	k = gone_find(name);
	if (!k)
		return KE_NOTFOUND;
	live = key_insert(k->name);
	if (!live)
		return KE_NOMEM;
	gone_detach(name);
	/* key_insert made an empty key at the right place: fill it. */
	*live = *k;
	live->deleted = live->purge = 0;
	free(k);
	*bundle = bundle_json(live, live->v[live->nv - 1]);
	return *bundle ? KE_OK : KE_NOMEM;
}

/* KeyItems of keys [skip, skip+max). */
cJSON *keys_list(size_t skip, size_t max, int *more)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	for (i = skip; arr && i < nkeys && i < skip + max; i++)
		if (keys[i]->nv)
			cJSON_AddItemToArray(arr, item_json(keys[i],
					     keys[i]->v[keys[i]->nv - 1], 0));
	*more = i < nkeys;
	return arr;
}

/* KeyItems of one key's versions [skip, skip+max). */
int keys_list_versions(const char *name, size_t skip, size_t max,
		       int *more, cJSON **page)
{
	struct key *k = key_find(name);
	size_t i;

	if (!k)
		return KE_NOTFOUND;
	*page = cJSON_CreateArray();
	for (i = skip; *page && i < k->nv && i < skip + max; i++)
		cJSON_AddItemToArray(*page, item_json(k, k->v[i], 1));
	*more = i < k->nv;
	return *page ? KE_OK : KE_NOMEM;
}

/* Copies a version for crypto outside the store lock. */
int keys_snap(const char *name, const char *ver, struct key_snap *s)
{
	struct key *k = key_find(name);
	struct key_version *v = k ? version_find(k, ver) : NULL;

	memset(s, 0, sizeof(*s));
	if (!v)
		return KE_NOTFOUND;
	snprintf(s->name, sizeof(s->name), "%s", k->name);
	memcpy(s->version, v->version, sizeof(s->version));
	s->kty = v->kty;
	s->bits = v->bits;
	s->crv = v->crv;
	if (v->pkey && EVP_PKEY_up_ref(v->pkey))
		s->pkey = v->pkey;
	memcpy(s->k, v->k, sizeof(s->k));
	s->enabled = v->enabled;
	s->nbf = v->nbf;
	s->exp = v->exp;
	s->ops = v->ops;
	return (v->kty != KTY_OCT && !s->pkey) ? KE_NOMEM : KE_OK;
}

/* Drops a snapshot and wipes its key bytes. */
void key_snap_clear(struct key_snap *s)
{
	EVP_PKEY_free(s->pkey);
	OPENSSL_cleanse(s, sizeof(*s));
}

/* RSA-OAEP-256 / RSA-OAEP / RSA1_5 with the RSA key. */
static int rsa_wrap(const struct key_snap *s, const char *alg, int unwrap,
		    const uint8_t *in, size_t inlen, uint8_t *out,
		    size_t *outlen, char *err, size_t cap)
{
	const EVP_MD *md = NULL;
	int pad = RSA_PKCS1_OAEP_PADDING, ret = KE_BADPARAM;
	EVP_PKEY_CTX *ctx;

	if (!strcmp(alg, "RSA-OAEP-256"))
		md = EVP_sha256();
	else if (!strcmp(alg, "RSA-OAEP"))
		md = EVP_sha1();
	else if (!strcmp(alg, "RSA1_5"))
		pad = RSA_PKCS1_PADDING;
	else
		return fail(err, cap, KE_BADPARAM,
			    "Algorithm '%.32s' is not supported for key type RSA-HSM", alg);
	ctx = EVP_PKEY_CTX_new(s->pkey, NULL);
	if (!ctx)
		return fail(err, cap, KE_NOMEM, "out of memory");
	if ((unwrap ? EVP_PKEY_decrypt_init(ctx) : EVP_PKEY_encrypt_init(ctx)) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, pad) <= 0 ||
	    (md && (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0))) {
		ret = fail(err, cap, KE_CRYPTO, "cannot set up %s", alg);
		goto out;
	}
	if ((unwrap ? EVP_PKEY_decrypt(ctx, out, outlen, in, inlen)
		    : EVP_PKEY_encrypt(ctx, out, outlen, in, inlen)) <= 0) {
		ret = fail(err, cap, KE_BADPARAM, unwrap
			   ? "The ciphertext could not be decrypted with this key"
			   : "The value is too long for %s with this key", alg);
		goto out;
	}
	ret = KE_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

/* Picks the AES key-wrap cipher for alg and the key's size. */
static const EVP_CIPHER *aes_wrap_cipher(const char *alg, int bits, int *pad)
{
	static const char *const kw[] = { "A128KW", "A192KW", "A256KW" };
	int idx = bits == 128 ? 0 : bits == 192 ? 1 : 2;

	*pad = 0;
	if (!strcmp(alg, "CKM_AES_KEY_WRAP_PAD"))
		*pad = 1;
	else if (strcmp(alg, "CKM_AES_KEY_WRAP") && strcmp(alg, kw[idx]))
		return NULL;
	if (*pad)
		return idx == 0 ? EVP_aes_128_wrap_pad() :
		       idx == 1 ? EVP_aes_192_wrap_pad() : EVP_aes_256_wrap_pad();
	return idx == 0 ? EVP_aes_128_wrap() :
	       idx == 1 ? EVP_aes_192_wrap() : EVP_aes_256_wrap();
}

/* RFC 3394 (A*KW, CKM_AES_KEY_WRAP) or RFC 5649 (CKM_AES_KEY_WRAP_PAD). */
static int aes_wrap(const struct key_snap *s, const char *alg, int unwrap,
		    const uint8_t *in, size_t inlen, uint8_t *out,
		    size_t *outlen, char *err, size_t cap)
{
	const EVP_CIPHER *c;
	EVP_CIPHER_CTX *ctx = NULL;
	int pad, n = 0, f = 0, ret = KE_BADPARAM;
	size_t min = unwrap ? 16 : 1;

	c = aes_wrap_cipher(alg, s->bits, &pad);
	if (!c)
		return fail(err, cap, KE_BADPARAM,
			    "Algorithm '%.32s' is not supported for oct-HSM key of %d bits",
			    alg, s->bits);
	if (!pad)
		min = unwrap ? 24 : 16;
	if (inlen < min || ((!pad || unwrap) && inlen % 8) || inlen > 4096 ||
	    *outlen < inlen + 16)
		return fail(err, cap, KE_BADPARAM,
			    "Invalid value length %zu for %s", inlen, alg);
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return fail(err, cap, KE_NOMEM, "out of memory");
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (!EVP_CipherInit_ex(ctx, c, NULL, s->k, NULL, !unwrap) ||
	    !EVP_CipherUpdate(ctx, out, &n, in, (int)inlen) ||
	    !EVP_CipherFinal_ex(ctx, out + n, &f)) {
		ret = fail(err, cap, KE_BADPARAM, unwrap
			   ? "The wrapped key failed the integrity check of %s"
			   : "Cannot wrap with %s", alg);
		goto out;
	}
	*outlen = (size_t)n + (size_t)f;
	ret = KE_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

/* Dispatches on the key type. */
int key_wrap(const struct key_snap *s, const char *alg, int unwrap,
	     const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen,
	     char *err, size_t errcap)
{
	if (s->kty == KTY_RSA)
		return rsa_wrap(s, alg, unwrap, in, inlen, out, outlen, err, errcap);
	if (s->kty == KTY_EC)
		return fail(err, errcap, KE_BADPARAM,
			    "Algorithm '%.32s' is not supported for key type EC-HSM", alg);
	return aes_wrap(s, alg, unwrap, in, inlen, out, outlen, err, errcap);
}

/* State-file form of a version, private key included. */
static cJSON *version_to_json(const struct key_version *v)
{
	cJSON *o = cJSON_CreateObject();
	char *priv;

	if (!o)
		return NULL;
	priv = v->kty != KTY_OCT ? pkey_to_pem(v->pkey)
				 : b64url_alloc(v->k, (size_t)v->bits / 8);
	if (!priv) {
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_AddStringToObject(o, "version", v->version);
	cJSON_AddStringToObject(o, "kty", v->kty == KTY_RSA ? "RSA" :
				v->kty == KTY_EC ? "EC" : "oct");
	cJSON_AddNumberToObject(o, "bits", v->bits);
	if (v->kty == KTY_EC)
		cJSON_AddStringToObject(o, "crv", crv_names[v->crv]);
	cJSON_AddStringToObject(o, "private", priv);
	OPENSSL_cleanse(priv, strlen(priv));
	free(priv);
	cJSON_AddBoolToObject(o, "enabled", v->enabled);
	cJSON_AddNumberToObject(o, "created", (double)v->created);
	cJSON_AddNumberToObject(o, "updated", (double)v->updated);
	cJSON_AddNumberToObject(o, "nbf", (double)v->nbf);
	cJSON_AddNumberToObject(o, "exp", (double)v->exp);
	cJSON_AddItemToObject(o, "key_ops", ops_json(v->ops));
	if (v->tags)
		cJSON_AddItemToObject(o, "tags", cJSON_Duplicate(v->tags, 1));
	return o;
}

/* State-file form of one key: versions, rotation policy, deletion dates. */
static cJSON *key_to_json(const struct key *key)
{
	cJSON *k = cJSON_CreateObject(), *vs = cJSON_CreateArray();

	if (!k || !vs) {
		cJSON_Delete(k);
		cJSON_Delete(vs);
		return NULL;
	}
	cJSON_AddStringToObject(k, "name", key->name);
	cJSON_AddItemToObject(k, "versions", vs);
	for (size_t j = 0; j < key->nv; j++) {
		cJSON *v = version_to_json(key->v[j]);
		if (!v) {
			cjson_wipe(k);
			cJSON_Delete(k);
			return NULL;
		}
		cJSON_AddItemToArray(vs, v);
	}
	if (key->policy) {
		cJSON_AddItemToObject(k, "rotation_policy", cJSON_Duplicate(key->policy, 1));
		cJSON_AddNumberToObject(k, "policy_created", (double)key->policy_created);
		cJSON_AddNumberToObject(k, "policy_updated", (double)key->policy_updated);
	}
	if (key->deleted) {
		cJSON_AddNumberToObject(k, "deleted", (double)key->deleted);
		cJSON_AddNumberToObject(k, "purge", (double)key->purge);
	}
	return k;
}

/* State-file form of all keys, live and deleted. */
cJSON *keys_to_json(void)
{
	cJSON *arr = cJSON_CreateArray(), *k;

	for (size_t i = 0; arr && i < nkeys + ngone; i++) {
		k = key_to_json(i < nkeys ? keys[i] : gone[i - nkeys]);
		if (!k) {
			cjson_wipe(arr);
			cJSON_Delete(arr);
			return NULL;
		}
		cJSON_AddItemToArray(arr, k);
	}
	return arr;
}

/* Loads one stored version; checks that the material fits its kind. */
static struct key_version *version_from_json(const cJSON *o)
{
	struct key_version *v = calloc(1, sizeof(*v));
	const char *ver = json_str(o, "version"), *kty = json_str(o, "kty");
	const char *priv = json_str(o, "private");
	int64_t bits = 0;
	BIO *b = NULL;

	if (!v || !ver || !kty || !priv || !key_version_ok(ver) ||
	    json_int(o, "bits", 128, 4096, &bits) != 1)
		goto fail;
	memcpy(v->version, ver, 33);
	v->bits = (int)bits;
	if (!strcmp(kty, "RSA")) {
		v->kty = KTY_RSA;
		b = BIO_new_mem_buf(priv, -1);
		v->pkey = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
		if (!v->pkey || !EVP_PKEY_is_a(v->pkey, "RSA") ||
		    EVP_PKEY_get_bits(v->pkey) != v->bits)
			goto fail;
	} else if (!strcmp(kty, "EC")) {
		struct key_params p = { 0 };
		char e[64];
		v->kty = KTY_EC;
		b = BIO_new_mem_buf(priv, -1);
		v->pkey = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
		if (!json_str(o, "crv") || parse_crv(json_str(o, "crv"), &p, e, sizeof(e)) ||
		    !v->pkey || !EVP_PKEY_is_a(v->pkey, "EC") || p.bits != v->bits)
			goto fail;
		v->crv = p.crv;
	} else if (!strcmp(kty, "oct")) {
		v->kty = KTY_OCT;
		if (b64_decode_any(priv, strlen(priv), v->k, sizeof(v->k)) !=
		    v->bits / 8 || (v->bits != 128 && v->bits != 192 && v->bits != 256))
			goto fail;
	} else {
		goto fail;
	}
	if (json_bool(o, "enabled", &v->enabled) != 1 ||
	    json_int(o, "created", 0, INT64_MAX / 2, &v->created) != 1 ||
	    json_int(o, "updated", 0, INT64_MAX / 2, &v->updated) != 1 ||
	    json_int(o, "nbf", 0, INT64_MAX / 2, &v->nbf) < 0 ||
	    json_int(o, "exp", 0, INT64_MAX / 2, &v->exp) < 0 ||
	    parse_ops(cJSON_GetObjectItemCaseSensitive(o, "key_ops"), &v->ops))
		goto fail;
	if (cJSON_GetObjectItemCaseSensitive(o, "tags") &&
	    parse_tags(cJSON_GetObjectItemCaseSensitive(o, "tags"), &v->tags))
		goto fail;
	BIO_free(b);
	return v;
fail:
	BIO_free(b);
	version_free(v);
	return NULL;
}

/* Fills a key's versions, policy and deletion dates from its stored form. */
static int key_fill(struct key *k, const cJSON *ko)
{
	const cJSON *vo, *pol = cJSON_GetObjectItemCaseSensitive(ko, "rotation_policy");

	cJSON_ArrayForEach(vo, cJSON_GetObjectItemCaseSensitive(ko, "versions")) {
		struct key_version *v = version_from_json(vo);
		if (!v || k->nv >= MAX_VERSIONS || version_append(k, v)) {
			version_free(v);
			return -1;
		}
	}
	if (!k->nv)
		return -1;
	if (pol && (!cJSON_IsObject(pol) || !(k->policy = cJSON_Duplicate(pol, 1)) ||
		    json_int(ko, "policy_created", 0, INT64_MAX / 2, &k->policy_created) < 0 ||
		    json_int(ko, "policy_updated", 0, INT64_MAX / 2, &k->policy_updated) < 0))
		return -1;
	if (json_int(ko, "deleted", 0, INT64_MAX / 2, &k->deleted) < 0 ||
	    json_int(ko, "purge", 0, INT64_MAX / 2, &k->purge) < 0)
		return -1;
	return 0;
}

/* Loads keys from the state file; any bad entry fails the load. */
int keys_from_json(const cJSON *arr)
{
	const cJSON *ko;

	if (!cJSON_IsArray(arr))
		return -1;
	cJSON_ArrayForEach(ko, arr) {
		const char *name = json_str(ko, "name");
		struct key *k;
		int deleted = cJSON_GetObjectItemCaseSensitive(ko, "deleted") != NULL;
		if (!key_name_ok(name) || key_find(name) || gone_find(name))
			return -1;
		if (deleted) {
			k = calloc(1, sizeof(*k));
			if (!k || gone_add(k)) {
				free(k);
				return -1;
			}
			snprintf(k->name, sizeof(k->name), "%s", name);
		} else if (!(k = key_insert(name))) {
			return -1;
		}
		if (key_fill(k, ko) || (deleted && !k->deleted))
			return -1;
	}
	return 0;
}

/* ---- rotation policy ---- */

/* ISO 8601 duration (PnYnMnDTnHnMnS, PnW) in seconds, with a year of 365
 * days and a month of 30; -1 if malformed. */
static int64_t iso_duration(const char *s)
{
	int64_t total = 0;
	int time = 0, any = 0;

	if (!s || *s++ != 'P')
		return -1;
	while (*s) {
		char *end;
		long long n;
		if (*s == 'T' && !time) {
			time = 1;
			s++;
			continue;
		}
		if (*s < '0' || *s > '9')
			return -1;
		n = strtoll(s, &end, 10);
		if (n < 0 || n > 100000)
			return -1;
		switch (*end) {
		case 'Y': if (time) return -1; total += n * 365 * 86400; break;
		case 'M': total += time ? n * 60 : n * 30 * 86400; break;
		case 'W': if (time) return -1; total += n * 7 * 86400; break;
		case 'D': if (time) return -1; total += n * 86400; break;
		case 'H': if (!time) return -1; total += n * 3600; break;
		case 'S': if (!time) return -1; total += n; break;
		default: return -1;
		}
		any = 1;
		s = end + 1;
	}
	return any ? total : -1;
}

/* expiryTime of a policy in seconds, 0 if none. */
static int64_t policy_expiry(const cJSON *policy)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(policy, "attributes");
	int64_t d = iso_duration(json_str(a, "expiryTime"));

	return d > 0 ? d : 0;
}

/* KeyRotationPolicy as the service answers it. */
static cJSON *policy_json(const struct key *k)
{
	cJSON *o = cJSON_CreateObject(), *la, *at;
	const cJSON *p = k->policy, *src;
	char id[300];

	if (!o)
		return NULL;
	snprintf(id, sizeof(id), "%s/keys/%s/rotationpolicy", emu.base, k->name);
	cJSON_AddStringToObject(o, "id", id);
	src = cJSON_GetObjectItemCaseSensitive(p, "lifetimeActions");
	la = src ? cJSON_Duplicate(src, 1) : cJSON_CreateArray();
	cJSON_AddItemToObject(o, "lifetimeActions", la);
	at = cJSON_AddObjectToObject(o, "attributes");
	if (at && p) {
		src = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "attributes"),
						       "expiryTime");
		if (cJSON_IsString(src))
			cJSON_AddStringToObject(at, "expiryTime", src->valuestring);
		cJSON_AddNumberToObject(at, "created", (double)k->policy_created);
		cJSON_AddNumberToObject(at, "updated", (double)k->policy_updated);
	}
	return o;
}

/* GET /keys/{name}/rotationpolicy: no actions until one is set. */
int keys_policy_get(const char *name, cJSON **policy)
{
	struct key *k = key_find(name);

	if (!k)
		return KE_NOTFOUND;
	*policy = policy_json(k);
	return *policy ? KE_OK : KE_NOMEM;
}

/* One lifetimeAction: a trigger (timeAfterCreate or timeBeforeExpiry,
 * ISO 8601) and an action type Rotate or Notify. */
static int action_ok(const cJSON *la, int64_t expiry, char *err, size_t cap)
{
	const cJSON *tr = cJSON_GetObjectItemCaseSensitive(la, "trigger");
	const cJSON *ac = cJSON_GetObjectItemCaseSensitive(la, "action");
	const char *type = json_str(ac, "type");
	const char *after = json_str(tr, "timeAfterCreate"), *before = json_str(tr, "timeBeforeExpiry");
	int64_t d = iso_duration(after ? after : before);

	if (!type || (strcasecmp(type, "Rotate") && strcasecmp(type, "Notify")))
		return fail(err, cap, KE_BADPARAM, "lifetimeActions[].action.type must be Rotate or Notify");
	if ((after && before) || d < 0)
		return fail(err, cap, KE_BADPARAM,
			    "a trigger has one of timeAfterCreate or timeBeforeExpiry, an ISO 8601 duration");
	if (after && !strcasecmp(type, "Rotate") && d < POLICY_MIN_ROTATE)
		return fail(err, cap, KE_BADPARAM, "The minimum rotation time is 7 days (P7D)");
	if (before && expiry && expiry - d < POLICY_MIN_ROTATE)
		return fail(err, cap, KE_BADPARAM,
			    "timeBeforeExpiry must leave at least 7 days after creation");
	return 0;
}

/* PUT /keys/{name}/rotationpolicy: validated, then stored as given. */
int keys_policy_set(const char *name, const cJSON *body, cJSON **policy,
		    char *err, size_t errcap)
{
	struct key *k = key_find(name);
	const cJSON *la = cJSON_GetObjectItemCaseSensitive(body, "lifetimeActions"), *it;
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(body, "attributes");
	const char *et = json_str(at, "expiryTime");
	int64_t expiry = et ? iso_duration(et) : 0;
	cJSON *copy;
	int rc;

	if (!k)
		return fail(err, errcap, KE_NOTFOUND,
			    "A key with (name/id) %s was not found in this key vault", name);
	if (!cJSON_IsObject(body) || (la && !cJSON_IsArray(la)) || cJSON_GetArraySize(la) > 2)
		return fail(err, errcap, KE_BADPARAM,
			    "The policy needs lifetimeActions (at most 2) and attributes");
	if (expiry < 0 || (et && expiry < POLICY_MIN_EXPIRY))
		return fail(err, errcap, KE_BADPARAM,
			    "attributes.expiryTime must be an ISO 8601 duration of at least 28 days");
	cJSON_ArrayForEach(it, la)
		if ((rc = action_ok(it, expiry, err, errcap)))
			return rc;
	copy = cJSON_CreateObject();
	if (!copy)
		return KE_NOMEM;
	cJSON_AddItemToObject(copy, "lifetimeActions", la ? cJSON_Duplicate(la, 1) : cJSON_CreateArray());
	if (at)
		cJSON_AddItemToObject(copy, "attributes", cJSON_Duplicate(at, 1));
	cJSON_Delete(k->policy);
	k->policy = copy;
	k->policy_updated = now_unix();
	if (!k->policy_created)
		k->policy_created = k->policy_updated;
	*policy = policy_json(k);
	return *policy ? KE_OK : KE_NOMEM;
}

/* ---- single-key backup ---- */

/* The key's whole stored form (private material included). */
int keys_backup(const char *name, cJSON **doc)
{
	struct key *k = key_find(name);

	if (!k)
		return KE_NOTFOUND;
	*doc = key_to_json(k);
	return *doc ? KE_OK : KE_NOMEM;
}

/* Restores a backed-up key under its name; the name must be free. */
int keys_restore(const cJSON *doc, cJSON **bundle, char *err, size_t errcap)
{
	const char *name = json_str(doc, "name");
	struct key tmp = { 0 }, *k;

	if (!key_name_ok(name) || cJSON_GetObjectItemCaseSensitive(doc, "deleted"))
		return fail(err, errcap, KE_BADPARAM, "The backup blob is invalid");
	if (key_find(name) || gone_find(name))
		return fail(err, errcap, KE_CONFLICT,
			    "Key %s already exists (or is deleted and recoverable); "
			    "a backup restores only under a free name", name);
	snprintf(tmp.name, sizeof(tmp.name), "%s", name);
	if (key_fill(&tmp, doc)) {
		for (size_t i = 0; i < tmp.nv; i++)
			version_free(tmp.v[i]);
		free(tmp.v);
		cJSON_Delete(tmp.policy);
		return fail(err, errcap, KE_BADPARAM, "The backup blob is invalid");
	}
	k = key_insert(name);
	if (!k) {
		for (size_t i = 0; i < tmp.nv; i++)
			version_free(tmp.v[i]);
		free(tmp.v);
		cJSON_Delete(tmp.policy);
		return fail(err, errcap, KE_NOMEM, "too many keys");
	}
	*k = tmp;
	*bundle = bundle_json(k, k->v[k->nv - 1]);
	return *bundle ? KE_OK : KE_NOMEM;
}

/* Drops all keys at shutdown. */
void keys_free_all(void)
{
	for (size_t i = 0; i < nkeys; i++)
		key_free(keys[i]);
	free(keys);
	keys = NULL;
	nkeys = 0;
	for (size_t i = 0; i < ngone; i++)
		key_free(gone[i]);
	free(gone);
	gone = NULL;
	ngone = 0;
}
