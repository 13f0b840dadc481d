/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctl: setup commands for a running emulator. Talks HTTPS to DIR/url with
 * OpenSSL (peer verified against DIR/ca.pem), one HTTP/1.1 request per
 * connection, authorized by DIR/control.token. Secrets come from files or
 * stdin, never from argv.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ctl.h"
#include "emu.h"
#include "json.h"
#include "util.h"

#define RESP_MAX (4 * 1024 * 1024)
#define IO_TIMEOUT_S 30

static const char *const bare_flags[] = { "--managed-identity", "--no-wait", NULL };

/* Synopsis of the ctl commands. */
static void ctl_usage(FILE *f)
{
	fprintf(f,
		"usage: hsm-emulator ctl --state DIR <command>\n"
		"  status\n"
		"  key create NAME --kty RSA-HSM|EC-HSM|oct-HSM [--size 2048|3072|4096|128|192|256]\n"
		"                  [--crv P-256|P-384|P-521|P-256K]\n"
		"  key rotate NAME\n"
		"  key set NAME [--version V] [--enabled true|false] [--exp UNIX|none] [--nbf UNIX|none]\n"
		"  key delete NAME                  (soft delete: recoverable until purged)\n"
		"  key purge NAME\n"
		"  key recover NAME\n"
		"  key list\n"
		"  client add ID --secret-file FILE|-\n"
		"  client add ID --cert PEMFILE\n"
		"  client add ID --federated-issuer ISS --federated-subject SUB --federated-key PUBPEM\n"
		"                [--federated-audience AUD]\n"
		"  client add ID --managed-identity\n"
		"  client remove ID\n"
		"  client list\n"
		"  role assign --principal ID --role ROLE [--scope /|/keys|/keys/NAME]\n"
		"  role remove --principal ID --role ROLE [--scope ...]\n"
		"  role list\n"
		"  faults set [--latency-ms N] [--jitter-ms N] [--error-rate R] [--error-status S]\n"
		"             [--throttle-rate R] [--retry-after SEC|none] [--outage true|false]\n"
		"             [--count N] [--ops op1,op2]\n"
		"  faults clear\n"
		"  faults show\n");
	ctl_admin_usage(f);
}

/* Flags that take no value. */
static int is_bare(const char *f)
{
	for (int i = 0; bare_flags[i]; i++)
		if (!strcmp(f, bare_flags[i]))
			return 1;
	return 0;
}

/* Splits argv into positional words and --flag value pairs. */
static int parse_args(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "--", 2)) {
			if (a->npos == MAX_ARGS)
				return -1;
			a->pos[a->npos++] = argv[i];
			continue;
		}
		if (a->nflags == MAX_ARGS)
			return -1;
		a->flag[a->nflags] = argv[i];
		if (is_bare(argv[i])) {
			a->val[a->nflags++] = "true";
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "hsm-emulator: %s needs a value\n", argv[i]);
			return -1;
		}
		a->val[a->nflags++] = argv[++i];
	}
	return 0;
}

/* Value of a flag, or NULL. */
static const char *arg(const struct args *a, const char *flag)
{
	for (int i = 0; i < a->nflags; i++)
		if (!strcmp(a->flag[i], flag))
			return a->val[i];
	return NULL;
}

/* Rejects flags a command does not know (catches typos). */
static int only_flags(const struct args *a, const char *const *known)
{
	for (int i = 0; i < a->nflags; i++) {
		int ok = 0;
		for (int k = 0; known[k]; k++)
			ok |= !strcmp(a->flag[i], known[k]);
		if (!ok) {
			fprintf(stderr, "hsm-emulator: unknown option %s\n", a->flag[i]);
			return -1;
		}
	}
	return 0;
}

/* Reads DIR/url and DIR/control.token. */
static int ctl_load(struct ctl *c, const char *dir)
{
	char path[600], *url = NULL, *tok = NULL, *p, *colon;
	size_t n;
	int ret = -1;

	snprintf(emu.dir, sizeof(emu.dir), "%s", dir);
	if (state_path(path, sizeof(path), "url") || read_file(path, &url, &n, 512)) {
		fprintf(stderr, "hsm-emulator: cannot read %s/url (is the emulator running?)\n", dir);
		goto out;
	}
	url[strcspn(url, "\r\n")] = '\0';
	if (strncmp(url, "https://", 8))
		goto bad;
	p = url + 8;
	if (*p == '[') {
		char *rb = strchr(p, ']');
		if (!rb || rb[1] != ':')
			goto bad;
		*rb = '\0';
		p++;
		colon = rb + 1;
	} else {
		colon = strrchr(p, ':');
		if (!colon)
			goto bad;
		*colon = '\0';
	}
	if (strlen(p) >= sizeof(c->host) || strlen(colon + 1) >= sizeof(c->port))
		goto bad;
	snprintf(c->host, sizeof(c->host), "%s", p);
	snprintf(c->port, sizeof(c->port), "%s", colon + 1);
	if (state_path(path, sizeof(path), "control.token") ||
	    read_file(path, &tok, &n, sizeof(c->token) - 1)) {
		fprintf(stderr, "hsm-emulator: cannot read %s/control.token\n", dir);
		goto out;
	}
	tok[strcspn(tok, "\r\n")] = '\0';
	snprintf(c->token, sizeof(c->token), "%s", tok);
	ret = 0;
	goto out;
bad:
	fprintf(stderr, "hsm-emulator: %s/url is malformed\n", dir);
out:
	free(url);
	if (tok) {
		OPENSSL_cleanse(tok, strlen(tok));
		free(tok);
	}
	return ret;
}

/* TCP connection with I/O timeouts so that ctl never hangs. */
static int tcp_connect(const struct ctl *c)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	int fd = -1;

	if (getaddrinfo(c->host, c->port, &hints, &res))
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* TLS client pinned to DIR/ca.pem, checking the host name or IP. */
static SSL *tls_open(const struct ctl *c, SSL_CTX **ctxp, int fd)
{
	char ca[600];
	unsigned char tmp[16];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	int is_ip = inet_pton(AF_INET, c->host, tmp) == 1 ||
		    inet_pton(AF_INET6, c->host, tmp) == 1;

	*ctxp = ctx;
	if (!ctx || state_path(ca, sizeof(ca), "ca.pem") ||
	    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1)
		goto fail;
	if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->host) != 1
		  : (SSL_set_tlsext_host_name(ssl, c->host) != 1 ||
		     SSL_set1_host(ssl, c->host) != 1))
		goto fail;
	if (SSL_connect(ssl) != 1)
		goto fail;
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}

/* Writes all of p over TLS. */
static int ssl_write_all(SSL *ssl, const char *p, size_t n)
{
	while (n > 0) {
		int w = SSL_write(ssl, p, n > 65536 ? 65536 : (int)n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads until the peer closes (we send Connection: close). */
static char *ssl_read_all(SSL *ssl, size_t *len)
{
	size_t cap = 16384, n = 0;
	char *buf = malloc(cap + 1), *nb;

	while (buf) {
		int r;
		if (n == cap) {
			if (cap >= RESP_MAX)
				break;
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb)
				break;
			buf = nb;
		}
		r = SSL_read(ssl, buf + n, (int)(cap - n));
		if (r <= 0) {
			*len = n;
			buf[n] = '\0';
			return buf;
		}
		n += (size_t)r;
	}
	free(buf);
	return NULL;
}

/* Status code and JSON body (if any) from a raw HTTP/1.1 response. */
static int parse_response(char *raw, size_t n, int *status, cJSON **body)
{
	char *hdr_end = strstr(raw, "\r\n\r\n"), *cl;
	size_t blen;

	*body = NULL;
	if (!hdr_end || sscanf(raw, "HTTP/1.%*d %d", status) != 1)
		return -1;
	*hdr_end = '\0';
	blen = n - (size_t)(hdr_end + 4 - raw);
	cl = strcasestr(raw, "\r\ncontent-length:");
	if (cl) {
		unsigned long v = strtoul(cl + 17, NULL, 10);
		if (v < blen)
			blen = v;
	}
	if (blen)
		*body = cJSON_ParseWithLength(hdr_end + 4, blen);
	return 0;
}

/* One control request; *out gets the JSON answer (may be NULL). */
static int http_call(const struct ctl *c, const char *method, const char *path,
		     cJSON *req, int *status, cJSON **out)
{
	char *body = req ? cJSON_PrintUnformatted(req) : NULL, *head = NULL, *raw = NULL;
	int fd = tcp_connect(c), ret = -1, n;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	size_t blen = body ? strlen(body) : 0, rlen = 0;

	if (fd < 0) {
		fprintf(stderr, "hsm-emulator: cannot connect to %s:%s\n", c->host, c->port);
		goto out;
	}
	ssl = tls_open(c, &ctx, fd);
	if (!ssl) {
		fprintf(stderr, "hsm-emulator: TLS to %s:%s failed\n", c->host, c->port);
		ERR_print_errors_fp(stderr);
		goto out;
	}
	n = asprintf(&head, "%s %s HTTP/1.1\r\nHost: %s:%s\r\nX-Emulator-Control: %s\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n", method, path, c->host, c->port,
		     c->token, blen);
	if (n < 0) {
		head = NULL;
		goto out;
	}
	if (ssl_write_all(ssl, head, (size_t)n) || ssl_write_all(ssl, body ? body : "", blen))
		goto out;
	raw = ssl_read_all(ssl, &rlen);
	if (!raw || parse_response(raw, rlen, status, out)) {
		fprintf(stderr, "hsm-emulator: no valid HTTP answer\n");
		goto out;
	}
	ret = 0;
out:
	if (head) {
		OPENSSL_cleanse(head, strlen(head));
		free(head);
	}
	if (body) {
		OPENSSL_cleanse(body, blen);
		free(body);
	}
	free(raw);
	if (ssl)
		SSL_shutdown(ssl);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Calls and checks for 2xx; prints the service's message otherwise. */
static cJSON *call_ok(const struct ctl *c, const char *method, const char *path,
		      cJSON *req)
{
	cJSON *out = NULL;
	int status = 0;

	if (http_call(c, method, path, req, &status, &out))
		goto fail;
	if (status >= 200 && status < 300)
		return out ? out : cJSON_CreateObject();
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(out, "error");
	fprintf(stderr, "hsm-emulator: HTTP %d: %s\n", status,
		json_str(e, "message") ? json_str(e, "message") : "(no message)");
fail:
	cJSON_Delete(out);
	return NULL;
}

/* Pretty-prints a control answer. */
static void print_json(const cJSON *j)
{
	char *s = cJSON_Print(j);

	if (s)
		puts(s);
	free(s);
}

/* kid of a KeyBundle. */
static const char *bundle_kid(const cJSON *b)
{
	const char *kid = json_str(cJSON_GetObjectItemCaseSensitive(b, "key"), "kid");

	return kid ? kid : "?";
}

/* Parses "true"/"false"; -1 otherwise. */
static int parse_bool(const char *s)
{
	if (!s)
		return -1;
	if (!strcmp(s, "true"))
		return 1;
	return strcmp(s, "false") ? -1 : 0;
}

/* Unix time or "none" (clears) into member k of obj. */
static int add_time(cJSON *obj, const char *k, const char *v)
{
	char *end;
	long long t;

	if (!v)
		return 0;
	if (!strcmp(v, "none"))
		return cJSON_AddNullToObject(obj, k) ? 0 : -1;
	t = strtoll(v, &end, 10);
	if (!v[0] || *end || t < 0)
		return -1;
	return cJSON_AddNumberToObject(obj, k, (double)t) ? 0 : -1;
}

/* ctl key create|rotate|set|delete|list. */
static int cmd_key(const struct ctl *c, const struct args *a)
{
	static const char *const known[] = { "--kty", "--size", "--crv", "--version", "--enabled",
					     "--exp", "--nbf", NULL };
	const char *sub = a->npos > 1 ? a->pos[1] : "", *name = a->npos > 2 ? a->pos[2] : NULL;
	cJSON *req = cJSON_CreateObject(), *out = NULL, *attrs;
	char path[300];
	int ret = 1, en;

	if (!req || only_flags(a, known))
		goto out;
	if (!strcmp(sub, "list")) {
		const cJSON *it;
		out = call_ok(c, "GET", "/_emulator/keys", NULL);
		if (!out)
			goto out;
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(out, "value")) {
			const cJSON *at = cJSON_GetObjectItemCaseSensitive(it, "attributes");
			printf("%s enabled=%s\n", json_str(it, "kid") ? json_str(it, "kid") : "?",
			       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(at, "enabled")) ? "true" : "false");
		}
		ret = 0;
		goto out;
	}
	if (!name || strlen(name) > EMU_NAME_MAX) {
		ctl_usage(stderr);
		goto out;
	}
	if (!strcmp(sub, "create")) {
		const char *kty = arg(a, "--kty"), *size = arg(a, "--size");
		if (!kty) {
			fprintf(stderr, "hsm-emulator: key create needs --kty\n");
			goto out;
		}
		cJSON_AddStringToObject(req, "name", name);
		cJSON_AddStringToObject(req, "kty", kty);
		if (size)
			cJSON_AddNumberToObject(req, "key_size", atoi(size));
		if (arg(a, "--crv"))
			cJSON_AddStringToObject(req, "crv", arg(a, "--crv"));
		out = call_ok(c, "POST", "/_emulator/keys", req);
	} else if (!strcmp(sub, "rotate")) {
		snprintf(path, sizeof(path), "/_emulator/keys/%s/rotate", name);
		out = call_ok(c, "POST", path, NULL);
	} else if (!strcmp(sub, "delete")) {
		snprintf(path, sizeof(path), "/_emulator/keys/%s", name);
		out = call_ok(c, "DELETE", path, NULL);
	} else if (!strcmp(sub, "purge") || !strcmp(sub, "recover")) {
		snprintf(path, sizeof(path), "/_emulator/keys/%s/%s", name, sub);
		out = call_ok(c, "POST", path, NULL);
	} else if (!strcmp(sub, "set")) {
		attrs = cJSON_AddObjectToObject(req, "attributes");
		if (arg(a, "--version"))
			cJSON_AddStringToObject(req, "version", arg(a, "--version"));
		en = parse_bool(arg(a, "--enabled"));
		if (arg(a, "--enabled") && en < 0) {
			fprintf(stderr, "hsm-emulator: --enabled true|false\n");
			goto out;
		}
		if (en >= 0)
			cJSON_AddBoolToObject(attrs, "enabled", en);
		if (add_time(attrs, "exp", arg(a, "--exp")) || add_time(attrs, "nbf", arg(a, "--nbf"))) {
			fprintf(stderr, "hsm-emulator: --exp/--nbf take a Unix time or none\n");
			goto out;
		}
		snprintf(path, sizeof(path), "/_emulator/keys/%s/update", name);
		out = call_ok(c, "POST", path, req);
	} else {
		ctl_usage(stderr);
		goto out;
	}
	if (!out)
		goto out;
	if (!strcmp(sub, "set"))
		printf("%s enabled=%s\n", bundle_kid(out),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
			       cJSON_GetObjectItemCaseSensitive(out, "attributes"), "enabled"))
			       ? "true" : "false");
	else
		printf("%s\n", bundle_kid(out));
	ret = 0;
out:
	cJSON_Delete(req);
	cJSON_Delete(out);
	return ret;
}

/* Secret from a file or stdin; one trailing newline is dropped. */
static char *read_secret(const char *file)
{
	char *buf = NULL;
	size_t n = 0, cap = 1025;

	if (strcmp(file, "-")) {
		if (read_file(file, &buf, &n, cap - 1))
			return NULL;
	} else {
		ssize_t r;
		buf = malloc(cap);
		while (buf && n < cap - 1 && (r = read(0, buf + n, cap - 1 - n)) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				break;
			n += (size_t)r;
		}
		if (!buf)
			return NULL;
		buf[n] = '\0';
	}
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return buf;
}

/* Certificate only (never a private key) from a PEM file. */
static char *read_cert(const char *file)
{
	FILE *f = fopen(file, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long n;

	if (x && b && PEM_write_bio_X509(b, x) && (n = BIO_get_mem_data(b, &data)) > 0)
		s = strndup(data, (size_t)n);
	if (f)
		fclose(f);
	X509_free(x);
	BIO_free(b);
	return s;
}

/* Public key PEM from a public key, certificate or private key file. */
static char *read_pubkey(const char *file)
{
	char *text = NULL, *data, *s = NULL;
	size_t len;
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	BIO *in, *out = BIO_new(BIO_s_mem());
	long n;

	if (read_file(file, &text, &len, 65536))
		goto out;
	in = BIO_new_mem_buf(text, (int)len);
	if (in && !(k = PEM_read_bio_PUBKEY(in, NULL, NULL, NULL))) {
		BIO_reset(in);
		if ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)))
			k = X509_get_pubkey(x);
		else if (!BIO_reset(in))
			k = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
	}
	BIO_free(in);
	if (k && out && PEM_write_bio_PUBKEY(out, k) && (n = BIO_get_mem_data(out, &data)) > 0)
		s = strndup(data, (size_t)n);
out:
	if (text) {
		OPENSSL_cleanse(text, len);
		free(text);
	}
	EVP_PKEY_free(k);
	X509_free(x);
	BIO_free(out);
	return s;
}

/* Builds the client-add request from the flags; -1 on bad input. */
static int client_req(const struct args *a, cJSON *req)
{
	const char *sf = arg(a, "--secret-file"), *cert = arg(a, "--cert");
	const char *iss = arg(a, "--federated-issuer"), *sub = arg(a, "--federated-subject");
	const char *fkey = arg(a, "--federated-key"), *aud = arg(a, "--federated-audience");
	char *s;

	if (!sf && !cert && !iss && !arg(a, "--managed-identity")) {
		fprintf(stderr, "hsm-emulator: client add needs a credential option\n");
		return -1;
	}
	if (sf) {
		if (!(s = read_secret(sf))) {
			fprintf(stderr, "hsm-emulator: cannot read the secret from %s\n", sf);
			return -1;
		}
		cJSON_AddStringToObject(req, "secret", s);
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
	if (cert) {
		if (!(s = read_cert(cert))) {
			fprintf(stderr, "hsm-emulator: no certificate in %s\n", cert);
			return -1;
		}
		cJSON_AddStringToObject(req, "cert_pem", s);
		free(s);
	}
	if (iss || sub || fkey) {
		cJSON *f = cJSON_AddObjectToObject(req, "federated");
		if (!iss || !sub || !fkey || !f || !(s = read_pubkey(fkey))) {
			fprintf(stderr, "hsm-emulator: federated needs --federated-issuer, "
					"--federated-subject and a readable --federated-key\n");
			return -1;
		}
		cJSON_AddStringToObject(f, "issuer", iss);
		cJSON_AddStringToObject(f, "subject", sub);
		cJSON_AddStringToObject(f, "key_pem", s);
		if (aud)
			cJSON_AddStringToObject(f, "audience", aud);
		free(s);
	}
	if (arg(a, "--managed-identity"))
		cJSON_AddBoolToObject(req, "managed_identity", 1);
	return 0;
}

/* ctl client add|remove|list. */
static int cmd_client(const struct ctl *c, const struct args *a)
{
	static const char *const known[] = { "--secret-file", "--cert", "--federated-issuer",
					     "--federated-subject", "--federated-key",
					     "--federated-audience", "--managed-identity", NULL };
	const char *sub = a->npos > 1 ? a->pos[1] : "", *id = a->npos > 2 ? a->pos[2] : NULL;
	cJSON *req = cJSON_CreateObject(), *out = NULL;
	const cJSON *it;
	char path[300];
	int ret = 1;

	if (!req || only_flags(a, known))
		goto out;
	if (!strcmp(sub, "list")) {
		if (!(out = call_ok(c, "GET", "/_emulator/clients", NULL)))
			goto out;
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(out, "value"))
			printf("%s %s secret=%d cert=%d federated=%d managed_identity=%d\n",
			       json_str(it, "client_id"), json_str(it, "object_id"),
			       cJSON_IsTrue(cJSON_GetObjectItem(it, "secret")),
			       cJSON_IsTrue(cJSON_GetObjectItem(it, "certificate")),
			       json_str(it, "federated_issuer") != NULL,
			       cJSON_IsTrue(cJSON_GetObjectItem(it, "managed_identity")));
		ret = 0;
	} else if (!strcmp(sub, "add") && id && strlen(id) <= EMU_ID_MAX) {
		cJSON_AddStringToObject(req, "client_id", id);
		if (client_req(a, req) || !(out = call_ok(c, "POST", "/_emulator/clients", req)))
			goto out;
		printf("%s %s\n", json_str(out, "client_id"), json_str(out, "object_id"));
		ret = 0;
	} else if (!strcmp(sub, "remove") && id && strlen(id) <= EMU_ID_MAX) {
		snprintf(path, sizeof(path), "/_emulator/clients/%s", id);
		if ((out = call_ok(c, "DELETE", path, NULL)))
			ret = 0;
	} else {
		ctl_usage(stderr);
	}
out:
	cjson_wipe(req);
	cJSON_Delete(req);
	cJSON_Delete(out);
	return ret;
}

/* ctl role assign|remove|list. */
static int cmd_role(const struct ctl *c, const struct args *a)
{
	static const char *const known[] = { "--principal", "--role", "--scope", NULL };
	const char *sub = a->npos > 1 ? a->pos[1] : "";
	cJSON *req = cJSON_CreateObject(), *out = NULL;
	const cJSON *it;
	int ret = 1, rm = !strcmp(sub, "remove");

	if (!req || only_flags(a, known))
		goto out;
	if (!strcmp(sub, "list")) {
		if (!(out = call_ok(c, "GET", "/_emulator/roles", NULL)))
			goto out;
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(out, "value")) {
			const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "properties");
			printf("%s\t%s\t%s\t%s\n", json_str(p, "clientId"), json_str(p, "roleName"),
			       json_str(p, "scope"), json_str(it, "name"));
		}
		ret = 0;
	} else if (!strcmp(sub, "assign") || rm) {
		if (!arg(a, "--principal") || !arg(a, "--role")) {
			fprintf(stderr, "hsm-emulator: role %s needs --principal and --role\n", sub);
			goto out;
		}
		cJSON_AddStringToObject(req, "principal", arg(a, "--principal"));
		cJSON_AddStringToObject(req, "role", arg(a, "--role"));
		cJSON_AddStringToObject(req, "scope", arg(a, "--scope") ? arg(a, "--scope") : "/");
		out = call_ok(c, "POST", rm ? "/_emulator/roles/remove" : "/_emulator/roles", req);
		if (!out)
			goto out;
		if (!rm)
			printf("%s\n", json_str(out, "name") ? json_str(out, "name") : "");
		ret = 0;
	} else {
		ctl_usage(stderr);
	}
out:
	cJSON_Delete(req);
	cJSON_Delete(out);
	return ret;
}

/* Adds a numeric flag value as member k; -1 if not a number. */
static int add_num(cJSON *o, const char *k, const char *v)
{
	char *end;
	double d;

	if (!v)
		return 0;
	d = strtod(v, &end);
	if (!v[0] || *end)
		return -1;
	return cJSON_AddNumberToObject(o, k, d) ? 0 : -1;
}

/* faults set flags -> the control API's JSON. */
static int faults_req(const struct args *a, cJSON *req)
{
	const char *ra = arg(a, "--retry-after"), *out = arg(a, "--outage");
	const char *ops = arg(a, "--ops");

	if (add_num(req, "latency_ms", arg(a, "--latency-ms")) ||
	    add_num(req, "latency_jitter_ms", arg(a, "--jitter-ms")) ||
	    add_num(req, "error_rate", arg(a, "--error-rate")) ||
	    add_num(req, "error_status", arg(a, "--error-status")) ||
	    add_num(req, "throttle_rate", arg(a, "--throttle-rate")) ||
	    add_num(req, "count", arg(a, "--count")))
		return -1;
	if (ra && strcmp(ra, "none") && add_num(req, "retry_after", ra))
		return -1;
	if (out) {
		if (parse_bool(out) < 0)
			return -1;
		cJSON_AddBoolToObject(req, "outage", parse_bool(out));
	}
	if (ops) {
		cJSON *arr = cJSON_AddArrayToObject(req, "ops");
		char buf[512], *save = NULL, *t;
		snprintf(buf, sizeof(buf), "%s", ops);
		for (t = strtok_r(buf, ",", &save); arr && t; t = strtok_r(NULL, ",", &save))
			cJSON_AddItemToArray(arr, cJSON_CreateString(t));
	}
	return 0;
}

/* ctl faults set|clear|show. */
static int cmd_faults(const struct ctl *c, const struct args *a)
{
	static const char *const known[] = { "--latency-ms", "--jitter-ms", "--error-rate",
					     "--error-status", "--throttle-rate",
					     "--retry-after", "--outage", "--count", "--ops", NULL };
	const char *sub = a->npos > 1 ? a->pos[1] : "";
	cJSON *req = cJSON_CreateObject(), *out = NULL;
	int ret = 1;

	if (!req || only_flags(a, known))
		goto out;
	if (!strcmp(sub, "set")) {
		if (faults_req(a, req)) {
			fprintf(stderr, "hsm-emulator: bad faults option value\n");
			goto out;
		}
		out = call_ok(c, "POST", "/_emulator/faults", req);
	} else if (!strcmp(sub, "clear")) {
		out = call_ok(c, "DELETE", "/_emulator/faults", NULL);
	} else if (!strcmp(sub, "show")) {
		out = call_ok(c, "GET", "/_emulator/faults", NULL);
	} else {
		ctl_usage(stderr);
		goto out;
	}
	if (out) {
		print_json(out);
		ret = 0;
	}
out:
	cJSON_Delete(req);
	cJSON_Delete(out);
	return ret;
}

/* Entry point of "hsm-emulator ctl". */
int ctl_main(int argc, char **argv)
{
	struct args a;
	struct ctl c;
	const char *dir, *group;
	int ret = 2;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			ctl_usage(stdout);
			return 0;
		}
	if (parse_args(argc - 1, argv + 1, &a) || a.npos < 1) {
		ctl_usage(stderr);
		return 2;
	}
	/* Officers' steps that need no running emulator. */
	if ((ret = ctl_offline(&a)) >= 0)
		return ret;
	ret = 2;
	if (!(dir = arg(&a, "--state"))) {
		ctl_usage(stderr);
		return 2;
	}
	/* --state is consumed here; the commands never see it. */
	for (int i = 0; i < a.nflags; i++)
		if (!strcmp(a.flag[i], "--state")) {
			a.flag[i] = a.flag[--a.nflags];
			a.val[i] = a.val[a.nflags];
			break;
		}
	if (ctl_load(&c, dir))
		return 1;
	group = a.pos[0];
	if (!strcmp(group, "key"))
		ret = cmd_key(&c, &a);
	else if (!strcmp(group, "client"))
		ret = cmd_client(&c, &a);
	else if (!strcmp(group, "role"))
		ret = cmd_role(&c, &a);
	else if (!strcmp(group, "faults"))
		ret = cmd_faults(&c, &a);
	else if (ctl_admin_group(group))
		ret = ctl_admin(&c, &a);
	else if (!strcmp(group, "status")) {
		cJSON *out = call_ok(&c, "GET", "/_emulator/status", NULL);
		if (out)
			print_json(out);
		ret = out ? 0 : 1;
		cJSON_Delete(out);
	} else
		ctl_usage(stderr);
	OPENSSL_cleanse(c.token, sizeof(c.token));
	return ret;
}

/* arg() for the command files of other groups (ctl_admin.c). */
const char *ctl_arg(const struct args *a, const char *flag)
{
	return arg(a, flag);
}

/* only_flags() for the other command files. */
int ctl_only_flags(const struct args *a, const char *const *known)
{
	return only_flags(a, known);
}

/* call_ok() for the other command files. */
cJSON *ctl_call(const struct ctl *c, const char *method, const char *path, cJSON *req)
{
	return call_ok(c, method, path, req);
}

/* read_secret() for the other command files. */
char *ctl_read_secret(const char *file)
{
	return read_secret(file);
}
