/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key store: named keys, each a list of versions (oldest first), with
 * attributes, key_ops and tags, and a rotation policy; deleted keys kept
 * for the retention period; KeyBundle rendering; wrap/unwrap.
 * Functions taking no snapshot require the store lock (see store.h).
 */
#ifndef HSMEMU_KEYS_H
#define HSMEMU_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "emu.h"

enum kty { KTY_RSA = 1, KTY_OCT = 2, KTY_EC = 3 };

/* EC curves (JWK crv): P-256, P-384, P-521, P-256K. */
enum crv { CRV_P256, CRV_P384, CRV_P521, CRV_P256K };

enum key_op {
	KOP_ENCRYPT = 1 << 0,
	KOP_DECRYPT = 1 << 1,
	KOP_SIGN = 1 << 2,
	KOP_VERIFY = 1 << 3,
	KOP_WRAP = 1 << 4,
	KOP_UNWRAP = 1 << 5,
	KOP_IMPORT = 1 << 6,
	KOP_EXPORT = 1 << 7,
	KOP_DERIVE = 1 << 8,
};

/* Result codes of the key functions (messages go to err). */
enum {
	KE_OK = 0,
	KE_NOTFOUND = -1,
	KE_BADPARAM = -2,
	KE_NOMEM = -3,
	KE_CRYPTO = -4,
	KE_CONFLICT = -5,       /* the name is held by a deleted key */
};

/* Validated create/update parameters. */
struct key_params {
	enum kty kty;
	int bits;
	enum crv crv;           /* EC */
	unsigned ops;
	int enabled;
	int64_t nbf, exp;       /* 0 = not set */
	cJSON *tags;            /* owned; NULL = none */
};

/* Fresh key material, made without the store lock. */
struct key_material {
	EVP_PKEY *pkey;         /* RSA, EC */
	uint8_t k[32];          /* oct */
};

/* Copy of one version for use outside the lock. */
struct key_snap {
	char name[EMU_NAME_MAX + 1];
	char version[33];
	enum kty kty;
	int bits;
	enum crv crv;
	EVP_PKEY *pkey;         /* referenced */
	uint8_t k[32];
	int enabled;
	int64_t nbf, exp;
	unsigned ops;
};

int key_name_ok(const char *name);
int key_version_ok(const char *ver);

int keys_parse_create(const cJSON *body, struct key_params *p,
		      char *err, size_t errcap);
void key_params_clear(struct key_params *p);
int key_generate(const struct key_params *p, struct key_material *m);
void key_material_clear(struct key_material *m);

/* Adds a version (creating the key if new unless must_exist); takes m. */
int keys_add(const char *name, struct key_params *p, struct key_material *m,
	     int must_exist, cJSON **bundle, char *err, size_t errcap);
/* Parameters for a rotation: those of the latest version. */
int keys_rotate_params(const char *name, struct key_params *p);
int keys_update(const char *name, const char *ver, const cJSON *body,
		cJSON **bundle, char *err, size_t errcap);
int keys_get(const char *name, const char *ver, cJSON **bundle);
/* Soft delete: the key moves to the deleted keys until purged, recovered
 * or its scheduled purge date (emu.retention_days) passes. */
int keys_delete(const char *name, cJSON **deleted);
/* Deleted keys: DeletedKeyBundle, one page of DeletedKeyItems, purge,
 * recover (answers the KeyBundle). */
int keys_deleted_get(const char *name, cJSON **bundle);
cJSON *keys_deleted_list(size_t skip, size_t max, int *more);
int keys_purge(const char *name);
int keys_recover(const char *name, cJSON **bundle);
/* Rotation policy of a key (a default one if none was set). */
int keys_policy_get(const char *name, cJSON **policy);
int keys_policy_set(const char *name, const cJSON *body, cJSON **policy,
		    char *err, size_t errcap);
/* A key with all its versions and private material, for a backup blob
 * (the caller seals and wipes it), and the way back. */
int keys_backup(const char *name, cJSON **doc);
int keys_restore(const cJSON *doc, cJSON **bundle, char *err, size_t errcap);
/* One page of KeyItems; *more set if items remain after it. */
cJSON *keys_list(size_t skip, size_t max, int *more);
int keys_list_versions(const char *name, size_t skip, size_t max,
		       int *more, cJSON **page);

int keys_snap(const char *name, const char *ver, struct key_snap *s);
void key_snap_clear(struct key_snap *s);
/* wrapKey (unwrap=0) or unwrapKey (unwrap=1) with alg. */
int key_wrap(const struct key_snap *s, const char *alg, int unwrap,
	     const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen,
	     char *err, size_t errcap);

cJSON *keys_to_json(void);
int keys_from_json(const cJSON *arr);
void keys_free_all(void);

#endif
