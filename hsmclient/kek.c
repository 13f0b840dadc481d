/* SPDX-License-Identifier: Apache-2.0 */
/* Provider dispatch: pick the provider by URL scheme, forward calls. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kek.h"

static void seterr(char *err, const char *msg)
{
	snprintf(err, KEK_ERR_MAX, "%s", msg);
}

/* The length of url's scheme: what precedes the first ':' (and, for a
 * URL that is not opaque, "://"); 0 if it has none. */
static size_t scheme_len(const char *url, bool opaque)
{
	size_t n = strspn(url, "abcdefghijklmnopqrstuvwxyz"
			       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");

	if (!n || url[n] != ':' || (!opaque && strncmp(url + n, "://", 3)))
		return 0;
	return n;
}

/* The provider of url's scheme (compared without case, as RFC 3986
 * has it), or NULL. */
static const struct kek_provider *provider_of(const char *url)
{
	for (const struct kek_provider *const *p = kek_providers; *p; p++) {
		size_t n = scheme_len(url, (*p)->opaque);

		if (n && strlen((*p)->scheme) == n &&
		    strncasecmp((*p)->scheme, url, n) == 0)
			return *p;
	}
	return NULL;
}

enum kek_status kek_open(const char *url, const struct kek_opts *o,
			 struct kek **out, char err[KEK_ERR_MAX])
{
	const struct kek_provider *p = provider_of(url);
	size_t n = scheme_len(url, false);

	*out = NULL;
	if (p)
		return p->open(url, o, out, err);
	if (!n)
		seterr(err, "KEK URL has no scheme");
	else
		snprintf(err, KEK_ERR_MAX, "no KEK provider for URL scheme "
			 "'%.*s'", (int)n, url);
	return KEK_E_INVAL;
}

void kek_close(struct kek *k)
{
	if (k)
		k->prov->close(k);
}

enum kek_status kek_describe(struct kek *k, struct kek_info *info,
			     char err[KEK_ERR_MAX])
{
	memset(info, 0, sizeof(*info));
	return k->prov->describe(k, info, err);
}

enum kek_status kek_wrap(struct kek *k, const uint8_t *in, size_t inlen,
			 uint8_t out[KEK_WRAPPED_MAX], size_t *outlen,
			 char kid[KEK_KID_MAX], enum kek_alg *alg,
			 char err[KEK_ERR_MAX])
{
	return k->prov->wrap(k, in, inlen, out, outlen, kid, alg, err);
}

enum kek_status kek_unwrap(struct kek *k, const char *kid, enum kek_alg alg,
			   const uint8_t *in, size_t inlen, uint8_t *out,
			   size_t *outlen, char err[KEK_ERR_MAX])
{
	if (!k->prov->owns(k, kid)) {
		snprintf(err, KEK_ERR_MAX,
			 "key id '%.128s' does not belong to this KEK", kid);
		return KEK_E_INVAL;
	}
	return k->prov->unwrap(k, kid, alg, in, inlen, out, outlen, err);
}

bool kek_owns(struct kek *k, const char *kid)
{
	return k->prov->owns(k, kid);
}

void kek_stats(struct kek *k, struct kek_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (k->prov->stats)
		k->prov->stats(k, st);
}

void kek_url_about(const char *url, struct kek_about *about)
{
	const struct kek_provider *p = provider_of(url);

	memset(about, 0, sizeof(*about) * KEK_ABOUT_MAX);
	if (p && p->about)
		p->about(url, about);
}

const char *kek_status_str(enum kek_status st)
{
	switch (st) {
	case KEK_OK: return "ok";
	case KEK_E_INVAL: return "invalid argument";
	case KEK_E_AUTH: return "authentication failed";
	case KEK_E_FORBIDDEN: return "forbidden";
	case KEK_E_NOTFOUND: return "key not found";
	case KEK_E_THROTTLED: return "throttled";
	case KEK_E_UNAVAILABLE: return "HSM unavailable";
	case KEK_E_TIMEOUT: return "timed out";
	case KEK_E_PROTOCOL: return "bad response from HSM";
	case KEK_E_UNTRUSTED: return "TLS certificate not trusted";
	case KEK_E_CRYPTO: return "cryptographic failure";
	case KEK_E_NOMEM: return "out of memory";
	}
	return "unknown error";
}

void kek_seal_env(void)
{
	for (const struct kek_provider *const *p = kek_providers; *p; p++)
		if ((*p)->seal_env)
			(*p)->seal_env();
}

/* Bytes of url compared without case: the scheme, the host and the
 * first two path segments (Azure's "/keys/NAME"). */
static size_t folded_len(const char *url)
{
	const char *p = strstr(url, "://");

	if (!p)
		return 0;
	p += 3;
	p += strcspn(p, "/");
	for (int seg = 0; *p == '/' && seg < 2; seg++) {
		p++;
		p += strcspn(p, "/");
	}
	return (size_t)(p - url);
}

bool kek_url_same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), fa, fb;
	const struct kek_provider *pa = provider_of(a);

	if (pa && pa == provider_of(b) && pa->url_same)
		return pa->url_same(a, b);

	la -= la && a[la - 1] == '/';
	lb -= lb && b[lb - 1] == '/';
	fa = folded_len(a) < la ? folded_len(a) : la;
	fb = folded_len(b) < lb ? folded_len(b) : lb;
	return fa == fb && la - fa == lb - fb && strncasecmp(a, b, fa) == 0 &&
	       memcmp(a + fa, b + fb, la - fa) == 0;
}
