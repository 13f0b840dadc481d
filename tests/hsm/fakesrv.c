/* SPDX-License-Identifier: Apache-2.0 */
/* Canned-bytes HTTPS server for protocol-fault tests. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "fakesrv.h"

struct fakesrv {
	int fd;
	SSL_CTX *ctx;
	pthread_t thr;
	atomic_int stop;
	atomic_uint count;
	pthread_mutex_t lock;
	char *reply;
	size_t reply_len;
	char base[64];
};

static const char token_body[] =
	"{\"token_type\":\"Bearer\",\"expires_in\":3600,"
	"\"access_token\":\"fake.tok.en\"}";

int fake_make_cert(EVP_PKEY **key, X509 **cert, const char *cn,
		   const char *cert_path)
{
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	X509_NAME *nm;
	X509 *x;
	FILE *f;

	*key = EVP_RSA_gen(2048);
	x = X509_new();
	if (!*key || !x)
		return -1;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)getpid());
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, *key);
	nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, nm);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
				  "IP:127.0.0.1,DNS:localhost");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
				  "critical,CA:TRUE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!X509_sign(x, *key, EVP_sha256()))
		return -1;
	*cert = x;
	if (cert_path) {
		f = fopen(cert_path, "w");
		if (!f)
			return -1;
		PEM_write_X509(f, x);
		fclose(f);
	}
	return 0;
}

/* Reads a request head and its Content-Length body; 1 if a token call. */
static int read_request(SSL *ssl)
{
	char buf[16384], *end;
	size_t n = 0, want;
	const char *cl;
	int r;

	while (n + 1 < sizeof(buf)) {
		r = SSL_read(ssl, buf + n, (int)(sizeof(buf) - 1 - n));
		if (r <= 0)
			return -1;
		n += (size_t)r;
		buf[n] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		cl = strcasestr(buf, "\r\nContent-Length:");
		want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
		if (n >= want || want >= sizeof(buf))
			break;
	}
	return strstr(buf, "/oauth2/v2.0/token") != NULL;
}

static void serve_one(struct fakesrv *s, int c)
{
	SSL *ssl = SSL_new(s->ctx);
	char *raw = NULL;
	size_t len = 0;
	int tok;

	SSL_set_fd(ssl, c);
	if (SSL_accept(ssl) != 1)
		goto out;
	tok = read_request(ssl);
	if (tok < 0)
		goto out;
	atomic_fetch_add(&s->count, 1);
	if (tok) {
		char t[512];
		int tn = snprintf(t, sizeof(t), "HTTP/1.1 200 OK\r\n"
				  "Content-Type: application/json\r\n"
				  "Connection: close\r\nContent-Length: %zu"
				  "\r\n\r\n%s", strlen(token_body),
				  token_body);
		SSL_write(ssl, t, tn);
		goto out;
	}
	pthread_mutex_lock(&s->lock);
	if (s->reply) {
		raw = malloc(s->reply_len);
		if (raw)
			memcpy(raw, s->reply, s->reply_len);
		len = s->reply_len;
	}
	pthread_mutex_unlock(&s->lock);
	for (size_t off = 0; raw && off < len;) {
		int w = SSL_write(ssl, raw + off, (int)(len - off));
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(raw);
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	ERR_clear_error();
	close(c);
}

static void *loop(void *arg)
{
	struct fakesrv *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		int c = accept(s->fd, NULL, NULL);
		if (c >= 0)
			serve_one(s, c);
	}
	return NULL;
}

struct fakesrv *fake_start(const char *ca_path)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	struct fakesrv *s = calloc(1, sizeof(*s));
	EVP_PKEY *key;
	X509 *cert;

	if (!s || fake_make_cert(&key, &cert, "fake-hsm", ca_path) != 0)
		return NULL;
	s->ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_use_certificate(s->ctx, cert);
	SSL_CTX_use_PrivateKey(s->ctx, key);
	X509_free(cert);
	EVP_PKEY_free(key);
	pthread_mutex_init(&s->lock, NULL);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(s->fd, 16) != 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &al) != 0)
		return NULL;
	snprintf(s->base, sizeof(s->base), "https://127.0.0.1:%u",
		 ntohs(a.sin_port));
	if (pthread_create(&s->thr, NULL, loop, s) != 0)
		return NULL;
	return s;
}

void fake_stop(struct fakesrv *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, 1);
	pthread_join(s->thr, NULL);
	close(s->fd);
	SSL_CTX_free(s->ctx);
	free(s->reply);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const char *fake_base(const struct fakesrv *s)
{
	return s->base;
}

void fake_set_reply(struct fakesrv *s, const char *raw, size_t len)
{
	pthread_mutex_lock(&s->lock);
	free(s->reply);
	s->reply = malloc(len);
	if (s->reply)
		memcpy(s->reply, raw, len);
	s->reply_len = len;
	pthread_mutex_unlock(&s->lock);
}

unsigned fake_count(struct fakesrv *s)
{
	return atomic_load(&s->count);
}
