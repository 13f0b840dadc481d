/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "emu.h"
#include "pki.h"
#include "util.h"

#define CA_DAYS 3650
#define SERVER_DAYS 825

/* Writes a key or certificate PEM crash-safely with the given mode. */
static int save_pem(const char *name, EVP_PKEY *key, X509 *crt, mode_t mode)
{
	char path[600];
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int ret = -1;

	if (!b || state_path(path, sizeof(path), name))
		goto out;
	if (key && !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL))
		goto out;
	if (crt && !PEM_write_bio_X509(b, crt))
		goto out;
	n = BIO_get_mem_data(b, &data);
	if (n <= 0 || write_file_atomic(path, data, (size_t)n, mode))
		goto out;
	ret = 0;
out:
	BIO_free(b);
	return ret;
}

/* Reads DIR/name as a key or certificate; NULL if absent or malformed. */
static void *load_pem(const char *name, int is_key)
{
	char path[600];
	void *obj = NULL;
	FILE *f;

	if (state_path(path, sizeof(path), name))
		return NULL;
	f = fopen(path, "r");
	if (!f)
		return NULL;
	if (is_key)
		obj = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	else
		obj = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return obj;
}

/* Adds one X509v3 extension given in openssl.cnf syntax. */
static int add_ext(X509 *crt, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, crt, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	ok = X509_add_ext(crt, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* A fresh certificate skeleton: random serial, validity, subject CN. */
static X509 *new_cert(EVP_PKEY *key, const char *cn, int days)
{
	unsigned char serial[16];
	X509 *crt = X509_new();
	BIGNUM *bn = NULL;
	X509_NAME *name;

	if (!crt || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(crt)))
		goto fail;
	BN_free(bn);
	bn = NULL;
	if (!X509_set_version(crt, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(crt), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(crt), (long)days * 86400) ||
	    !X509_set_pubkey(crt, key))
		goto fail;
	name = X509_get_subject_name(crt);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					(const unsigned char *)"hsmfs", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0))
		goto fail;
	return crt;
fail:
	BN_free(bn);
	X509_free(crt);
	return NULL;
}

/* Self-signed CA that tests trust through DIR/ca.pem. */
static int make_ca(EVP_PKEY **key_out, X509 **crt_out)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *crt = NULL;

	if (!key)
		goto fail;
	crt = new_cert(key, "hsm-emulator local CA", CA_DAYS);
	if (!crt ||
	    !X509_set_issuer_name(crt, X509_get_subject_name(crt)) ||
	    add_ext(crt, crt, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    add_ext(crt, crt, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(crt, crt, NID_subject_key_identifier, "hash") ||
	    !X509_sign(crt, key, EVP_sha256()))
		goto fail;
	if (save_pem("ca.key", key, NULL, 0600) ||
	    save_pem("ca.pem", NULL, crt, 0644))
		goto fail;
	*key_out = key;
	*crt_out = crt;
	log_info("created a new CA in %s/ca.pem", emu.dir);
	return 0;
fail:
	EVP_PKEY_free(key);
	X509_free(crt);
	return -1;
}

/* SAN covering loopback names plus the listen host if it is an address. */
static void san_value(const char *host, char *out, size_t cap)
{
	unsigned char tmp[16];
	int n = snprintf(out, cap, "IP:127.0.0.1,IP:::1,DNS:localhost");

	if (!strcmp(host, "127.0.0.1") || !strcmp(host, "::1") ||
	    !strcmp(host, "localhost") || n < 0 || (size_t)n >= cap)
		return;
	if (inet_pton(AF_INET, host, tmp) == 1 ||
	    inet_pton(AF_INET6, host, tmp) == 1)
		snprintf(out + n, cap - (size_t)n, ",IP:%s", host);
	else
		snprintf(out + n, cap - (size_t)n, ",DNS:%s", host);
}

/* Server certificate (ECDSA P-256) issued by the local CA. */
static int make_server(EVP_PKEY *ca_key, X509 *ca, const char *host,
		       EVP_PKEY **key_out, X509 **crt_out)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *crt = NULL;
	char san[300];

	if (!key)
		goto fail;
	san_value(host, san, sizeof(san));
	crt = new_cert(key, "hsm-emulator", SERVER_DAYS);
	if (!crt || !X509_set_issuer_name(crt, X509_get_subject_name(ca)) ||
	    add_ext(crt, ca, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(crt, ca, NID_key_usage, "critical,digitalSignature") ||
	    add_ext(crt, ca, NID_ext_key_usage, "serverAuth") ||
	    add_ext(crt, ca, NID_subject_alt_name, san) ||
	    add_ext(crt, ca, NID_authority_key_identifier, "keyid:always") ||
	    !X509_sign(crt, ca_key, EVP_sha256()))
		goto fail;
	if (save_pem("server.key", key, NULL, 0600) ||
	    save_pem("server.pem", NULL, crt, 0644))
		goto fail;
	*key_out = key;
	*crt_out = crt;
	log_info("issued a new server certificate for %s", host);
	return 0;
fail:
	EVP_PKEY_free(key);
	X509_free(crt);
	return -1;
}

/* An existing server certificate is reused only if it still fits. */
static int server_usable(X509 *crt, EVP_PKEY *key, X509 *ca, const char *host)
{
	EVP_PKEY *ca_pub = X509_get0_pubkey(ca);
	time_t soon = time(NULL) + 7 * 86400;

	if (!crt || !key || !ca_pub || X509_verify(crt, ca_pub) != 1)
		return 0;
	if (X509_check_private_key(crt, key) != 1)
		return 0;
	if (X509_cmp_time(X509_get0_notAfter(crt), &soon) <= 0)
		return 0;
	if (X509_check_ip_asc(crt, host, 0) == 1 ||
	    X509_check_host(crt, host, 0, 0, NULL) == 1)
		return 1;
	return !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
}

/* Serialises a key or certificate to a malloc'd PEM string. */
char *pki_pem(EVP_PKEY *key, X509 *crt)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long n;

	if (!b)
		return NULL;
	if (key ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)
		: PEM_write_bio_X509(b, crt)) {
		n = BIO_get_mem_data(b, &data);
		s = n > 0 ? malloc((size_t)n + 1) : NULL;
		if (s) {
			memcpy(s, data, (size_t)n);
			s[n] = '\0';
		}
		OPENSSL_cleanse(data, (size_t)(n > 0 ? n : 0));
	}
	BIO_free(b);
	return s;
}

/* CA and server certificate are reused across restarts. */
int pki_ensure(const char *host, char **cert_pem, char **key_pem)
{
	EVP_PKEY *ca_key = load_pem("ca.key", 1), *key = NULL;
	X509 *ca = load_pem("ca.pem", 0), *crt = NULL;
	int ret = -1;

	if (!ca_key || !ca || X509_check_private_key(ca, ca_key) != 1) {
		EVP_PKEY_free(ca_key);
		X509_free(ca);
		ca_key = NULL;
		ca = NULL;
		if (make_ca(&ca_key, &ca))
			goto out;
	}
	key = load_pem("server.key", 1);
	crt = load_pem("server.pem", 0);
	if (!server_usable(crt, key, ca, host)) {
		EVP_PKEY_free(key);
		X509_free(crt);
		key = NULL;
		crt = NULL;
		if (make_server(ca_key, ca, host, &key, &crt))
			goto out;
	}
	*cert_pem = pki_pem(NULL, crt);
	*key_pem = pki_pem(key, NULL);
	if (!*cert_pem || !*key_pem)
		goto out;
	ret = 0;
out:
	if (ret)
		log_err("cannot set up TLS certificates in %s", emu.dir);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	X509_free(ca);
	X509_free(crt);
	return ret;
}

/* Officers' wrapping keys and the security domain exchange key are
 * certified by themselves, as the Azure CLI's openssl recipe makes them. */
X509 *pki_self_signed(EVP_PKEY *key, const char *cn, int days)
{
	X509 *crt = new_cert(key, cn, days);

	if (!crt || !X509_set_issuer_name(crt, X509_get_subject_name(crt)) ||
	    add_ext(crt, crt, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(crt, crt, NID_key_usage, "critical,keyEncipherment") ||
	    !X509_sign(crt, key, EVP_sha256())) {
		X509_free(crt);
		return NULL;
	}
	return crt;
}
