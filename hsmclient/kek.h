/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KEK providers: the only way hsmfs touches a key-encryption key.
 *
 * A KEK is addressed by a URL; its scheme (what precedes the first ':',
 * "https", "pkcs11") picks the provider. The key
 * material never enters this process (for RSA keys only the public half
 * does, to wrap locally). Every call returns an enum kek_status and, on
 * failure, writes one human-readable line into err[KEK_ERR_MAX]. Once the
 * program requests a stop (common/stop.h), calls waiting on an HSM give
 * up at once (KEK_E_UNAVAILABLE).
 */
#ifndef HSMFS_KEK_H
#define HSMFS_KEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/wrap.h"

#define KEK_ERR_MAX 512
#define KEK_MAX_ENDPOINTS 4

enum kek_status {
	KEK_OK = 0,
	KEK_E_INVAL,       /* bad URL, argument or kid */
	KEK_E_AUTH,        /* no token: bad credentials, 401 */
	KEK_E_FORBIDDEN,   /* 403: role missing, key disabled, op not allowed */
	KEK_E_NOTFOUND,    /* 404: key or version unknown */
	KEK_E_THROTTLED,   /* 429 after the retry budget */
	KEK_E_UNAVAILABLE, /* connection refused, 5xx, all endpoints down */
	KEK_E_TIMEOUT,     /* connect or total timeout */
	KEK_E_PROTOCOL,    /* malformed or unexpected response */
	KEK_E_UNTRUSTED,   /* the server's TLS certificate does not verify */
	KEK_E_CRYPTO,      /* local crypto failed, or bad wrapped bytes */
	KEK_E_NOMEM,
};

struct kek_opts {
	const char *ca_file;      /* extra CA bundle (private CA, emulator) */
	const char *scope;        /* token scope; NULL: derived from host */
	const char *api_version;  /* NULL: "7.4" */
	/* Base URLs ("https://host[:port]") serving the same keys, in order
	 * of preference; endpoints[0] NULL means the URL's own host only. */
	const char *endpoints[KEK_MAX_ENDPOINTS + 1];
	unsigned connect_timeout_ms; /* 0: provider default */
	unsigned total_timeout_ms;   /* 0: provider default */
	/* Algorithm for symmetric (oct) keys: KEK_ALG_NONE means the
	 * provider default (A256KW); KEK_ALG_AES_KW_PAD selects
	 * CKM_AES_KEY_WRAP_PAD. RSA keys always use RSA-OAEP-256. */
	enum kek_alg alg;
	/* Bound on one whole call, all retries and endpoints included;
	 * 0: provider default. */
	unsigned deadline_ms;
	/* The operator named the URL's host (the caller knows how: a URL
	 * given on the command line, one it pinned or verified). If not, a
	 * provider sends a token or a wrapped key only to endpoints[] and to
	 * hosts within the official domain of the token's audience, and
	 * refuses any other at open, before any request: a KEK URL may come
	 * from untrusted storage. */
	bool host_named;
	/* A file of credential settings (the Azure provider: AZURE_*=
	 * lines; PKCS#11: a PKCS11_PIN= line), read at open; NULL: the
	 * environment and systemd credentials only. */
	const char *credential_file;
	/* Calls the caller may make at once (the daemon's threads); a
	 * provider that keeps a connection or session per call in flight
	 * (PKCS#11) keeps at most this many. 0: provider default. */
	unsigned concurrency;
};

struct kek_info {
	char kid[KEK_KID_MAX]; /* the version wraps will use */
	char kty[16];          /* "RSA-HSM", "oct-HSM", ... */
	unsigned bits;
	enum kek_alg alg;      /* algorithm hsmfs uses with this key */
	bool enabled;
};

/* One line about where a KEK lives, for operators (status, info): key
 * names it in JSON, label in text; an empty key ends a list. */
#define KEK_ABOUT_MAX 6
struct kek_about {
	char key[16];
	char label[16];
	char value[200];
};

struct kek_stats {
	unsigned long long calls[4][3]; /* [op][outcome]: see KEK_OP_, KEK_OUT_ */
	unsigned long long retries;
	unsigned lat_p50_ms, lat_p90_ms, lat_p99_ms;
	char endpoint[128];             /* base URL in use now */
	char last_error[KEK_ERR_MAX];
	bool no_tokens; /* the provider asks for no access tokens (PKCS#11) */
	struct kek_about about[KEK_ABOUT_MAX]; /* what the provider adds */
};
enum { KEK_OP_GET, KEK_OP_WRAP, KEK_OP_UNWRAP, KEK_OP_TOKEN };
enum { KEK_OUT_OK, KEK_OUT_CLIENT_ERR, KEK_OUT_SERVER_ERR };

struct kek;

/* A provider implements these; struct kek is its handle's first member. */
struct kek_provider {
	const char *scheme; /* URL scheme, e.g. "https", "pkcs11" */
	/* Its URLs are opaque ("pkcs11:..."); otherwise the scheme must be
	 * followed by "://". */
	bool opaque;
	enum kek_status (*open)(const char *url, const struct kek_opts *o,
				struct kek **out, char *err);
	void (*close)(struct kek *k);
	enum kek_status (*describe)(struct kek *k, struct kek_info *info,
				    char *err);
	enum kek_status (*wrap)(struct kek *k, const uint8_t *in, size_t inlen,
				uint8_t *out, size_t *outlen,
				char kid[KEK_KID_MAX], enum kek_alg *alg,
				char *err);
	enum kek_status (*unwrap)(struct kek *k, const char *kid,
				  enum kek_alg alg, const uint8_t *in,
				  size_t inlen, uint8_t *out, size_t *outlen,
				  char *err);
	bool (*owns)(struct kek *k, const char *kid);
	void (*stats)(struct kek *k, struct kek_stats *st);
	/* Optional: moves credentials out of the environment (kek_seal_env). */
	void (*seal_env)(void);
	/* Optional: lines about url (read, never opened) into about. */
	void (*about)(const char *url, struct kek_about *about);
	/* Optional: kek_url_same for two URLs of this scheme; NULL: the
	 * Azure rule kek_url_same states. */
	bool (*url_same)(const char *a, const char *b);
};

struct kek {
	const struct kek_provider *prov;
};

/* The providers linked into this program, NULL-terminated. The shipped
 * binary links hsmclient/providers.c; test programs add a software one. */
extern const struct kek_provider *const kek_providers[];

enum kek_status kek_open(const char *url, const struct kek_opts *o,
			 struct kek **out, char err[KEK_ERR_MAX]);
void kek_close(struct kek *k);
enum kek_status kek_describe(struct kek *k, struct kek_info *info,
			     char err[KEK_ERR_MAX]);
/* Wraps in[] with the key's current version; returns the kid and alg used. */
enum kek_status kek_wrap(struct kek *k, const uint8_t *in, size_t inlen,
			 uint8_t out[KEK_WRAPPED_MAX], size_t *outlen,
			 char kid[KEK_KID_MAX], enum kek_alg *alg,
			 char err[KEK_ERR_MAX]);
/* Unwraps with exactly the version named by kid. *outlen is in/out. */
enum kek_status kek_unwrap(struct kek *k, const char *kid, enum kek_alg alg,
			   const uint8_t *in, size_t inlen, uint8_t *out,
			   size_t *outlen, char err[KEK_ERR_MAX]);
/* True if kid names a version of this key (on any of its endpoints). Only
 * such kids are ever sent anywhere: a header is untrusted input. */
bool kek_owns(struct kek *k, const char *kid);
void kek_stats(struct kek *k, struct kek_stats *st);
/* True if two KEK URLs, both as an operator may write them, name the same
 * key: scheme, host and key name ("/keys/NAME") compared without case,
 * as Azure treats vault, HSM and key names; what follows (a version)
 * exactly; a trailing slash ignored. A provider may have a rule of its
 * own (PKCS#11: every attribute, decoded, compared exactly). Not for
 * kids from untrusted places: a provider's owns() judges those. */
bool kek_url_same(const char *a, const char *b);

/* What a KEK URL says about where its key lives, offline (no provider
 * is opened): lines into about[KEK_ABOUT_MAX], none for a provider with
 * nothing to add (Azure: the URL says it all) or a URL of no provider. */
void kek_url_about(const char *url, struct kek_about *about);

const char *kek_status_str(enum kek_status st);

/* For a long-lived process (the daemon), once, after secmem_init and
 * before any thread starts: each provider copies the credentials it
 * takes from the environment (Azure: AZURE_*) into locked memory and
 * wipes the secrets from the environment, whose original block stays
 * readable in /proc/PID/environ for the process's life. Later opens use
 * the copies; later changes to the environment are not seen. */
void kek_seal_env(void);

#endif
