/* SPDX-License-Identifier: Apache-2.0 */
/* Azure key URLs, kids, endpoint bases and token scopes. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/parse.h"
#include "hsmclient/azure/url.h"

/* Host name or IPv4 literal: [a-z0-9.-], no empty label; or [IPv6]. */
static bool host_ok(const char *h, size_t n)
{
	if (n == 0)
		return false;
	if (h[0] == '[') {
		if (n < 3 || h[n - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < n; i++)
			if (!isxdigit((unsigned char)h[i]) && h[i] != ':' &&
			    h[i] != '.')
				return false;
		return true;
	}
	if (h[0] == '.' || h[0] == '-' || h[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.')
			return false;
		if (h[i] == '.' && h[i + 1] == '.')
			return false;
	}
	return true;
}

/* The port between colon and end: 1 to 5 digits, 1..65535. */
static bool port_ok(const char *colon, const char *end, unsigned *port)
{
	char digits[6];
	size_t n = (size_t)(end - colon - 1);

	if (n == 0 || n >= sizeof(digits))
		return false;
	memcpy(digits, colon + 1, n);
	digits[n] = '\0';
	return parse_uint(digits, 65535, port) == 0 && *port != 0;
}

/* Parses "https://host[:port]" at the start of s; *rest is what follows. */
static enum kek_status parse_authority(const char *s, const char **rest,
				       char *base, char *host, char *err)
{
	const char *p, *h, *end, *colon = NULL;
	unsigned port = 443;
	size_t hn;

	if (strncasecmp(s, "https://", 8) != 0) {
		snprintf(err, KEK_ERR_MAX, "HSM URL must start with https:// "
			 "(bearer tokens never travel over plain HTTP)");
		return KEK_E_INVAL;
	}
	h = s + 8;
	end = h + strcspn(h, "/?#");
	if (memchr(h, '@', (size_t)(end - h))) {
		snprintf(err, KEK_ERR_MAX, "HSM URL must not carry user info");
		return KEK_E_INVAL;
	}
	p = h[0] == '[' ? memchr(h, ']', (size_t)(end - h)) : h;
	if (!p)
		goto bad;
	colon = memchr(p, ':', (size_t)(end - p));
	hn = (size_t)((colon ? colon : end) - h);
	if (!host_ok(h, hn) || hn >= HTTP_BASE_MAX - 16)
		goto bad;
	if (colon && !port_ok(colon, end, &port))
		goto bad;
	for (size_t i = 0; i < hn; i++)
		host[i] = (char)tolower((unsigned char)h[i]);
	host[hn] = '\0';
	if (port == 443)
		snprintf(base, HTTP_BASE_MAX, "https://%s", host);
	else
		snprintf(base, HTTP_BASE_MAX, "https://%s:%u", host, port);
	*rest = end;
	return KEK_OK;
bad:
	snprintf(err, KEK_ERR_MAX, "bad host or port in HSM URL '%.120s'", s);
	return KEK_E_INVAL;
}

enum kek_status azure_parse_base(const char *s, char base[HTTP_BASE_MAX],
				 char host[HTTP_BASE_MAX], char err[KEK_ERR_MAX])
{
	const char *rest;
	enum kek_status st = parse_authority(s, &rest, base, host, err);

	if (st != KEK_OK)
		return st;
	if (rest[0] == '/' && rest[1] == '\0')
		rest++;
	if (*rest) {
		snprintf(err, KEK_ERR_MAX, "HSM endpoint must be "
			 "https://host[:port], got '%.120s'", s);
		return KEK_E_INVAL;
	}
	return KEK_OK;
}

/* Copies a segment of at most max chars of the given class; 0 if bad. */
static size_t segment(const char *p, char *out, size_t max, bool hex)
{
	size_t n = 0;

	while (p[n] && p[n] != '/') {
		unsigned char c = (unsigned char)p[n];
		if (hex ? !isxdigit(c) : !(isalnum(c) || c == '-'))
			return 0;
		if (++n > max)
			return 0;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return n;
}

enum kek_status azure_parse_key_url(const char *url, bool kid,
				    struct az_keyurl *u, char err[KEK_ERR_MAX])
{
	const char *p;
	enum kek_status st;
	size_t n;

	memset(u, 0, sizeof(*u));
	if (strlen(url) >= KEK_KID_MAX + 8) {
		snprintf(err, KEK_ERR_MAX, "HSM key URL too long");
		return KEK_E_INVAL;
	}
	st = parse_authority(url, &p, u->base, u->host, err);
	if (st != KEK_OK)
		return st;
	if (strncmp(p, "/keys/", 6) != 0)
		goto bad;
	p += 6;
	n = segment(p, u->name, AZ_NAME_MAX - 1, false);
	if (!n)
		goto bad;
	p += n;
	if (*p == '/' && p[1]) {
		n = segment(p + 1, u->version, AZ_VERSION_LEN, true);
		if (n != AZ_VERSION_LEN)
			goto bad;
		p += 1 + n;
	}
	if (!kid && *p == '/')
		p++;
	if (*p || (kid && !u->version[0]))
		goto bad;
	return KEK_OK;
bad:
	snprintf(err, KEK_ERR_MAX, "bad HSM key %s '%.120s': want "
		 "https://HOST/keys/NAME%s (NAME [0-9a-zA-Z-]{1,127}, "
		 "VERSION 32 hex digits)", kid ? "id" : "URL", url,
		 kid ? "/VERSION" : "[/VERSION]");
	return KEK_E_INVAL;
}

static const struct {
	const char *suffix, *scope;
} known_hosts[] = {
	{ ".managedhsm.azure.net", "https://managedhsm.azure.net/.default" },
	{ ".vault.azure.net", "https://vault.azure.net/.default" },
};

const char *azure_scope_for_host(const char *host)
{
	size_t n = strlen(host);

	for (size_t i = 0; i < sizeof(known_hosts) / sizeof(known_hosts[0]);
	     i++) {
		size_t m = strlen(known_hosts[i].suffix);
		if (n > m && strcasecmp(host + n - m, known_hosts[i].suffix) == 0)
			return known_hosts[i].scope;
	}
	return NULL;
}

const char *azure_domain_for_scope(const char *scope)
{
	for (size_t i = 0; i < sizeof(known_hosts) / sizeof(known_hosts[0]);
	     i++)
		if (strcmp(scope, known_hosts[i].scope) == 0)
			return known_hosts[i].suffix;
	return NULL;
}

bool azure_scope_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > AZ_SCOPE_MAX)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~' || *s == '"' || *s == '\\')
			return false;
	return true;
}
