/* SPDX-License-Identifier: Apache-2.0 */
/* PKCS#11 URIs of KEKs and kids (RFC 7512). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/b64.h"
#include "hsmclient/pkcs11/uri.h"

#define URI_MAX 4096

static enum kek_status bad(char *err, const char *what, const char *name)
{
	snprintf(err, KEK_ERR_MAX, "PKCS#11 URI: %s%s%.40s%s", what,
		 name ? " '" : "", name ? name : "", name ? "'" : "");
	return KEK_E_INVAL;
}

/* Percent-decodes v[0..n) into out (at most cap bytes); -1 if malformed
 * or too long. */
static long pct_decode(const char *v, size_t n, uint8_t *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)v[i];

		if (c == '%') {
			if (i + 2 >= n || hex_digit(v[i + 1]) < 0 ||
			    hex_digit(v[i + 2]) < 0)
				return -1;
			c = hex_digit(v[i + 1]) * 16 + hex_digit(v[i + 2]);
			i += 2;
		} else if (c <= ' ' || c >= 0x7f || strchr("\"<>\\^`{|}#[]", c)) {
			return -1;
		}
		if (o == cap)
			return -1;
		out[o++] = (uint8_t)c;
	}
	return (long)o;
}

/* A text value into out[cap] (NUL-terminated, no NUL inside, not empty). */
static enum kek_status text_attr(const char *name, const char *v, size_t n,
				 char *out, size_t cap, char *err)
{
	long l = pct_decode(v, n, (uint8_t *)out, cap - 1);

	if (l <= 0 || memchr(out, '\0', (size_t)l))
		return bad(err, l == 0 ? "empty value of" :
			   "malformed or too long value of", name);
	out[l] = '\0';
	return KEK_OK;
}

static enum kek_status type_attr(const char *v, size_t n, struct p11uri *u,
				 char *err)
{
	if (n == 7 && !strncmp(v, "private", n))
		u->type = P11_TYPE_PRIVATE;
	else if (n == 10 && !strncmp(v, "secret-key", n))
		u->type = P11_TYPE_SECRET;
	else
		return bad(err, "type must be 'private' (RSA) or 'secret-key' "
			   "(AES), not", v);
	return KEK_OK;
}

/* pin-source: a path, or a file: URI of one. */
static enum kek_status pin_source(const char *v, size_t n, struct p11uri *u,
				  char *err)
{
	enum kek_status st = text_attr("pin-source", v, n, u->pin_source,
				       sizeof(u->pin_source), err);
	char *p = u->pin_source;

	if (st != KEK_OK)
		return st;
	if (!strncmp(p, "file://", 7))
		memmove(p, p + 7, strlen(p + 7) + 1);
	else if (!strncmp(p, "file:", 5))
		memmove(p, p + 5, strlen(p + 5) + 1);
	if (p[0] != '/')
		return bad(err, "pin-source must be an absolute path or "
			   "file:/PATH", NULL);
	return KEK_OK;
}

/* One name=value of the path (query: false) or the query (true). */
static enum kek_status attr(const char *a, size_t n, bool query,
			    struct p11uri *u, unsigned *seen, char *err)
{
	static const char *const path_names[] = { "token", "object", "id",
						  "type" };
	static const char *const query_names[] = { "module-name",
						   "module-path", "pin-source" };
	const char *const *names = query ? query_names : path_names;
	const char *eq = memchr(a, '=', n);
	char name[48];
	size_t nl, vl;
	int i;

	if (!eq || eq == a || (size_t)(eq - a) >= sizeof(name))
		return bad(err, "attribute is not NAME=VALUE", NULL);
	nl = (size_t)(eq - a);
	vl = n - nl - 1;
	memcpy(name, a, nl);
	name[nl] = '\0';
	if (!strcmp(name, "pin-value"))
		return bad(err, "pin-value= is refused: a PIN does not belong "
			   "in a URL (configs, command lines, logs); use "
			   "pin-source=FILE, credential_file= or a systemd "
			   "credential", NULL);
	for (i = 0; i < (query ? 3 : 4) && strcmp(name, names[i]); i++)
		;
	if (i == (query ? 3 : 4))
		return bad(err, "unsupported attribute", name);
	if (*seen & (1u << (i + (query ? 4 : 0))))
		return bad(err, "attribute given twice:", name);
	*seen |= 1u << (i + (query ? 4 : 0));
	eq++;
	if (!query && i == 0)
		return text_attr(name, eq, vl, u->token, sizeof(u->token), err);
	if (!query && i == 1)
		return text_attr(name, eq, vl, u->object, sizeof(u->object), err);
	if (!query && i == 2) {
		long l = pct_decode(eq, vl, u->id, sizeof(u->id));

		if (l <= 0)
			return bad(err, "empty, malformed or too long id", NULL);
		u->idlen = (size_t)l;
		u->has_id = true;
		return KEK_OK;
	}
	if (!query)
		return type_attr(eq, vl, u, err);
	if (i == 0)
		return text_attr(name, eq, vl, u->module_name,
				 sizeof(u->module_name), err);
	if (i == 1)
		return text_attr(name, eq, vl, u->module_path,
				 sizeof(u->module_path), err);
	return pin_source(eq, vl, u, err);
}

/* Splits s[0..n) at sep and parses each attribute. */
static enum kek_status attrs(const char *s, size_t n, char sep, bool query,
			     struct p11uri *u, unsigned *seen, char *err)
{
	const char *end = s + n, *e;
	enum kek_status st;

	while (s < end) {
		e = memchr(s, sep, (size_t)(end - s));
		if (!e)
			e = end;
		st = attr(s, (size_t)(e - s), query, u, seen, err);
		if (st != KEK_OK)
			return st;
		s = e + 1;
	}
	return KEK_OK;
}

enum kek_status p11uri_parse(const char *s, struct p11uri *u, char *err)
{
	size_t sl = strnlen(s, URI_MAX), pl;
	unsigned seen = 0;
	const char *q;
	enum kek_status st;

	memset(u, 0, sizeof(*u));
	if (sl >= URI_MAX || strncasecmp(s, P11_SCHEME ":", 7) != 0)
		return bad(err, "not a pkcs11: URI", NULL);
	s += 7;
	sl -= 7;
	q = memchr(s, '?', sl);
	pl = q ? (size_t)(q - s) : sl;
	st = attrs(s, pl, ';', false, u, &seen, err);
	if (st == KEK_OK && q)
		st = attrs(q + 1, sl - pl - 1, '&', true, u, &seen, err);
	if (st != KEK_OK)
		return st;
	if (!u->token[0] || !u->object[0] || !u->type)
		return bad(err, "token=, object= and type= are required", NULL);
	if (u->module_name[0] && u->module_path[0])
		return bad(err, "give module-name= or module-path=, not both",
			   NULL);
	if (u->module_path[0] && u->module_path[0] != '/')
		return bad(err, "module-path must be absolute", NULL);
	return KEK_OK;
}

const char *p11uri_type_name(enum p11_type t)
{
	return t == P11_TYPE_PRIVATE ? "private" : "secret-key";
}

/* Appends v[0..n) percent-encoded (all bytes if every) at *o. */
static bool put_enc(char *kid, size_t *o, const uint8_t *v, size_t n,
		    bool every)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		uint8_t c = v[i];
		bool keep = !every && c < 0x80 &&
			    (((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
			     (c >= '0' && c <= '9') || strchr("-._~", c));

		if (*o + 4 > KEK_KID_MAX)
			return false;
		if (keep) {
			kid[(*o)++] = (char)c;
			continue;
		}
		kid[(*o)++] = '%';
		kid[(*o)++] = hex[c >> 4];
		kid[(*o)++] = hex[c & 15];
	}
	return true;
}

static bool put_str(char *kid, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (*o + n + 1 > KEK_KID_MAX)
		return false;
	memcpy(kid + *o, s, n);
	*o += n;
	return true;
}

enum kek_status p11uri_kid(const struct p11uri *u, const uint8_t *id,
			   size_t idlen, char *kid, char *err)
{
	size_t o = 0;
	bool ok = put_str(kid, &o, P11_SCHEME ":token=") &&
		  put_enc(kid, &o, (const uint8_t *)u->token,
			  strlen(u->token), false) &&
		  put_str(kid, &o, ";object=") &&
		  put_enc(kid, &o, (const uint8_t *)u->object,
			  strlen(u->object), false) &&
		  put_str(kid, &o, ";id=") &&
		  put_enc(kid, &o, id, idlen, true) &&
		  put_str(kid, &o, ";type=") &&
		  put_str(kid, &o, p11uri_type_name(u->type));

	if (!ok || idlen == 0) {
		kid[0] = '\0';
		snprintf(err, KEK_ERR_MAX, "PKCS#11 key '%.64s': token, label "
			 "and CKA_ID (%zu bytes) make a key id longer than %d "
			 "bytes", u->object, idlen, KEK_KID_MAX - 1);
		return KEK_E_INVAL;
	}
	kid[o] = '\0';
	return KEK_OK;
}

enum kek_status p11uri_parse_kid(const char *s, struct p11uri *u, char *err)
{
	char canon[KEK_KID_MAX];

	if (!s || strnlen(s, KEK_KID_MAX) >= KEK_KID_MAX ||
	    strncmp(s, P11_SCHEME ":", 7) != 0 || strchr(s, '?'))
		return bad(err, "not a PKCS#11 key id", NULL);
	if (p11uri_parse(s, u, err) != KEK_OK || !u->has_id ||
	    p11uri_kid(u, u->id, u->idlen, canon, err) != KEK_OK ||
	    strcmp(canon, s) != 0)
		return bad(err, "not a canonical PKCS#11 key id", NULL);
	return KEK_OK;
}

bool p11uri_same(const char *a, const char *b)
{
	struct p11uri ua, ub;
	char err[KEK_ERR_MAX];

	if (p11uri_parse(a, &ua, err) != KEK_OK ||
	    p11uri_parse(b, &ub, err) != KEK_OK)
		return strcmp(a, b) == 0;
	return !strcmp(ua.token, ub.token) && !strcmp(ua.object, ub.object) &&
	       ua.type == ub.type && ua.has_id == ub.has_id &&
	       ua.idlen == ub.idlen && !memcmp(ua.id, ub.id, ua.idlen) &&
	       !strcmp(ua.module_name, ub.module_name) &&
	       !strcmp(ua.module_path, ub.module_path) &&
	       !strcmp(ua.pin_source, ub.pin_source);
}

int p11uri_id_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	if (al != bl)
		return al < bl ? -1 : 1;
	return al ? memcmp(a, b, al) : 0;
}
