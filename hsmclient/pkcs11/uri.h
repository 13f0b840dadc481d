/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 URIs (RFC 7512) naming a KEK, and the kids made of them.
 *
 *   pkcs11:token=T;object=O;type=private|secret-key[;id=%01%02]
 *          [?module-name=M|module-path=/P][&pin-source=/F]
 *
 * Attribute values are percent-decoded; text values (token, object,
 * module and PIN file names) may not hold NUL. Any other attribute is
 * refused, pin-value= above all (a PIN does not belong in a URL, which
 * ends up in configs, command lines and logs). A kid is the canonical
 * URI of one version: "pkcs11:token=T;object=O;id=ID;type=TYPE" with
 * every byte outside [A-Za-z0-9._~-] percent-encoded (upper-case hex,
 * each id byte encoded), no query. Kids come from untrusted headers:
 * p11uri_parse_kid accepts exactly that canonical form. Calls return a
 * kek_status and on failure write one line into err[KEK_ERR_MAX].
 */
#ifndef HSMFS_P11_URI_H
#define HSMFS_P11_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsmclient/kek.h"

#define P11_SCHEME "pkcs11"
#define P11_TOKEN_MAX 32  /* CK_TOKEN_INFO.label */
#define P11_LABEL_MAX 128 /* object labels hsmfs accepts */
#define P11_ID_MAX 64     /* CKA_ID bytes hsmfs accepts */
#define P11_PATH_MAX 1024

enum p11_type {
	P11_TYPE_PRIVATE = 1, /* an RSA key pair: the private key unwraps */
	P11_TYPE_SECRET,      /* an AES key */
};

struct p11uri {
	char token[P11_TOKEN_MAX + 1];
	char object[P11_LABEL_MAX + 1];
	uint8_t id[P11_ID_MAX];
	size_t idlen;
	bool has_id; /* id= given: the KEK is pinned to that version */
	enum p11_type type;
	char module_name[P11_LABEL_MAX + 1]; /* "" if not given */
	char module_path[P11_PATH_MAX];     /* "" if not given */
	char pin_source[P11_PATH_MAX];      /* a path, "" if not given */
};

/* A KEK URI as an operator (or a volume config) writes it. */
enum kek_status p11uri_parse(const char *s, struct p11uri *u, char *err);
/* A kid: the canonical form only; *u gets token, object, id, type. */
enum kek_status p11uri_parse_kid(const char *s, struct p11uri *u, char *err);
/* The kid of version id of u's key into kid[KEK_KID_MAX]; KEK_E_INVAL if
 * it would not fit. */
enum kek_status p11uri_kid(const struct p11uri *u, const uint8_t *id,
			   size_t idlen, char *kid, char *err);
/* True if a and b name the same key reached the same way: every
 * attribute given, decoded, equal (module and PIN source included: they
 * decide what code runs and what it is told). Order and escaping
 * do not matter. */
bool p11uri_same(const char *a, const char *b);
/* Unsigned big-endian comparison of two CKA_IDs, the longer greater:
 * <0, 0, >0. */
int p11uri_id_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl);
/* type= as written in a URI: "private", "secret-key". */
const char *p11uri_type_name(enum p11_type t);

#endif
