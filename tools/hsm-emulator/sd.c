/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "admin.h"
#include "common/b64.h"
#include "domain.h"
#include "json.h"
#include "pki.h"
#include "sd.h"
#include "sdcrypto.h"
#include "store.h"
#include "util.h"

#define EXCHANGE_BITS 2048
#define EXCHANGE_DAYS 30

struct op_status {
	char status[16];        /* Success, Failed; "" = never asked */
	char details[300];
};

/* One security-domain operation at a time; guards all below. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct op_status dl, ul;
static EVP_PKEY *xkey;          /* the exchange key, until an upload */
static X509 *xcert;

/* Records an operation's outcome for its /pending. */
static void set_status(struct op_status *s, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_status(struct op_status *s, const char *status, const char *fmt, ...)
{
	va_list ap;

	snprintf(s->status, sizeof(s->status), "%s", status);
	va_start(ap, fmt);
	vsnprintf(s->details, sizeof(s->details), fmt, ap);
	va_end(ap);
}

/* 409 for either operation on an HSM that already has a domain. */
static int refuse_if_active(struct reply *rp)
{
	if (!domain_active())
		return 0;
	reply_error(rp, 409, "Conflict", NULL,
		    "The managed HSM is already activated: it has a security domain.");
	return 1;
}

/* Compares a JWK member with the one made from the certificate. */
static int same_member(const cJSON *jwk, const cJSON *mine, const char *k)
{
	const char *a = json_str(jwk, k);

	return !cJSON_GetObjectItemCaseSensitive(jwk, k) ||
	       (a && json_str(mine, k) && !strcmp(a, json_str(mine, k)));
}

/* One SecurityDomainJsonWebKey: x5c[0] an RSA certificate of 2048 bits
 * or more, and x5t#S256 (required), n and e (if given) consistent with it. */
static X509 *parse_cert(const cJSON *jwk, int i, char *err, size_t cap)
{
	X509 *x = sd_cert_from_x5c(jwk);
	EVP_PKEY *k = x ? X509_get0_pubkey(x) : NULL;
	static const char *const none[] = { NULL };
	cJSON *mine = NULL;
	const char *why = NULL, *kty = json_str(jwk, "kty");

	if (!x)
		why = "x5c[0] must be a base64 DER certificate";
	else if (!k || !EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_get_bits(k) < 2048)
		why = "the certificate must hold an RSA key of 2048 bits or more";
	else if (kty && strcmp(kty, "RSA"))
		why = "kty must be RSA";
	else if (!(mine = sd_cert_jwk(x, "", none)))
		why = "the certificate cannot be read";
	else if (!json_str(jwk, "x5t#S256") || !same_member(jwk, mine, "x5t#S256"))
		why = "x5t#S256 must be the SHA-256 thumbprint of x5c[0]";
	else if (!same_member(jwk, mine, "n") || !same_member(jwk, mine, "e"))
		why = "n and e must be the certificate's key";
	cJSON_Delete(mine);
	if (!why)
		return x;
	snprintf(err, cap, "certificates[%d]: %s", i, why);
	X509_free(x);
	return NULL;
}

/* CertificateInfoObject: 3 to 10 distinct certificates, required 2..n. */
static int parse_certs(const cJSON *body, X509 **certs, int *n, int *required,
		       char *err, size_t cap)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "certificates"), *it;
	int count = cJSON_GetArraySize(arr);
	int64_t q = SD_MIN_QUORUM;

	*n = 0;
	if (!cJSON_IsArray(arr) || count < SD_MIN_SHARES || count > SD_MAX_SHARES) {
		snprintf(err, cap, "certificates must hold %d to %d certificates (JWK with x5c); got %d",
			 SD_MIN_SHARES, SD_MAX_SHARES, cJSON_IsArray(arr) ? count : 0);
		return -1;
	}
	if (json_int(body, "required", 0, 1000, &q) < 0 || q < SD_MIN_QUORUM ||
	    q > SD_MAX_SHARES || q > count) {
		snprintf(err, cap, "required (the quorum) must be between %d and the number of certificates (%d)",
			 SD_MIN_QUORUM, count);
		return -1;
	}
	cJSON_ArrayForEach(it, arr) {
		if (!(certs[*n] = parse_cert(it, *n, err, cap)))
			return -1;
		for (int j = 0; j < *n; j++)
			if (!X509_cmp(certs[j], certs[*n])) {
				snprintf(err, cap, "certificates[%d] repeats certificates[%d]: each share needs a key of its own",
					 *n, j);
				X509_free(certs[*n]);
				return -1;
			}
		(*n)++;
	}
	*required = (int)q;
	return 0;
}

/* {"compact_jwe","tag"}: the domain secret under KDF(master, tag). */
static cJSON *data_item(const uint8_t *master, const uint8_t *dom)
{
	uint8_t cek[SD_CEK_LEN];
	char *jwe = NULL;
	cJSON *it = NULL;

	if (!sd_kdf(master, SD_MASTER_LEN, SD_ITEM_TAG, cek) &&
	    (jwe = jwe_seal_dir(cek, SD_ITEM_TAG, dom, DOMAIN_SECRET_LEN)) &&
	    (it = cJSON_CreateObject())) {
		cJSON_AddStringToObject(it, "compact_jwe", jwe);
		cJSON_AddStringToObject(it, "tag", SD_ITEM_TAG);
	}
	OPENSSL_cleanse(cek, sizeof(cek));
	free(jwe);
	return it;
}

/* {"enc_key","x5t_256"}: one share, to one certificate's key. */
static cJSON *share_item(X509 *x, const uint8_t *share)
{
	char t[48], *jwe = NULL;
	cJSON *it = NULL;

	if (!sd_thumbprint(x, EVP_sha256(), t) &&
	    (jwe = jwe_seal_rsa(X509_get0_pubkey(x), share, 2 * SD_MASTER_LEN)) &&
	    (it = cJSON_CreateObject())) {
		cJSON_AddStringToObject(it, "enc_key", jwe);
		cJSON_AddStringToObject(it, "x5t_256", t);
	}
	free(jwe);
	return it;
}

/* The security domain file: EncData (the domain secret under a fresh
 * master key) and SharedKeys (that master key, split n ways). */
static char *make_sd(X509 *const *certs, int n, int required, const uint8_t *dom)
{
	uint8_t master[SD_MASTER_LEN], *shares[SD_MAX_SHARES] = { NULL };
	cJSON *doc = cJSON_CreateObject(), *enc, *data, *sk, *es, *it;
	char *text = NULL;

	if (!doc || RAND_bytes(master, sizeof(master)) != 1 ||
	    shamir_split(master, SD_MASTER_LEN, n, required, shares))
		goto out;
	enc = cJSON_AddObjectToObject(doc, "EncData");
	data = cJSON_AddArrayToObject(enc, "data");
	if (!(it = data_item(master, dom)) || !cJSON_AddItemToArray(data, it))
		goto out;
	cJSON_AddStringToObject(enc, "kdf", "sp108_kdf");
	sk = cJSON_AddObjectToObject(doc, "SharedKeys");
	es = cJSON_AddArrayToObject(sk, "enc_shares");
	for (int i = 0; i < n; i++)
		if (!(it = share_item(certs[i], shares[i])) || !cJSON_AddItemToArray(es, it))
			goto out;
	cJSON_AddStringToObject(sk, "key_algorithm", "shamir_share");
	cJSON_AddNumberToObject(sk, "required", required);
	cJSON_AddNumberToObject(doc, "version", 2);
	text = cJSON_PrintUnformatted(doc);
out:
	OPENSSL_cleanse(master, sizeof(master));
	for (int i = 0; i < n; i++) {
		if (shares[i])
			OPENSSL_cleanse(shares[i], 2 * SD_MASTER_LEN);
		free(shares[i]);
	}
	cJSON_Delete(doc);
	return text;
}

/* From now on the HSM holds dom and its state is sealed under it. */
static int install(const uint8_t *dom)
{
	int rc;

	store_lock();
	rc = domain_install(dom) || store_save();
	store_unlock();
	return rc ? -1 : 0;
}

/* POST /securitydomain/download: activates the HSM with a new domain. */
void sd_download(struct req *r, struct reply *rp, const char *job)
{
	cJSON *body = req_json(r), *out;
	X509 *certs[SD_MAX_SHARES];
	uint8_t dom[DOMAIN_SECRET_LEN];
	char err[300], *sd = NULL;
	int n = 0, required = 0;

	(void)job;
	pthread_mutex_lock(&lock);
	if (refuse_if_active(rp))
		goto out;
	if (!body || parse_certs(body, certs, &n, &required, err, sizeof(err))) {
		reply_error(rp, 400, "BadParameter", NULL, "%s",
			    body ? err : "The request body must be a JSON object");
		goto out;
	}
	if (domain_generate(dom) || !(sd = make_sd(certs, n, required, dom)) || install(dom)) {
		reply_error(rp, 500, "InternalError", NULL, "cannot make the security domain");
		goto out;
	}
	set_status(&dl, "Success", "The security domain has been downloaded (%d shares, quorum %d): the HSM is activated",
		   n, required);
	out = cJSON_CreateObject();
	if (out)
		cJSON_AddStringToObject(out, "value", sd);
	reply_json(rp, 202, out);
	admin_async_op(rp, "/securitydomain/download/pending");
out:
	pthread_mutex_unlock(&lock);
	OPENSSL_cleanse(dom, sizeof(dom));
	while (n > 0)
		X509_free(certs[--n]);
	free(sd);
	cJSON_Delete(body);
}

/* SecurityDomainOperationStatus: status and status_details. */
static void reply_status(struct reply *rp, const struct op_status *s)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddStringToObject(o, "status", s->status);
		cJSON_AddStringToObject(o, "status_details", s->details);
	}
	reply_json(rp, 200, o);
}

/* The status of the last operation; before any, what the HSM is. */
static void status_of(struct reply *rp, const struct op_status *s, const char *what)
{
	struct op_status now;

	pthread_mutex_lock(&lock);
	now = *s;
	pthread_mutex_unlock(&lock);
	if (!now.status[0])
		set_status(&now, "Failed", "No security domain %s has been made; the HSM is %s",
			   what, domain_active() ? "activated" : "not activated");
	reply_status(rp, &now);
}

/* GET /securitydomain/download/pending. */
void sd_download_status(struct req *r, struct reply *rp, const char *job)
{
	(void)r;
	(void)job;
	status_of(rp, &dl, "download");
}

/* GET /securitydomain/upload/pending. */
void sd_upload_status(struct req *r, struct reply *rp, const char *job)
{
	(void)r;
	(void)job;
	status_of(rp, &ul, "upload");
}

/* GET /securitydomain/upload: the exchange key (made on first use, kept
 * until an upload succeeds; a restart makes a new one). */
void sd_transfer_key(struct req *r, struct reply *rp, const char *job)
{
	static const char *const ops[] = { "encrypt", NULL };
	char kid[300];
	cJSON *out = NULL, *jwk = NULL;

	(void)r;
	(void)job;
	pthread_mutex_lock(&lock);
	if (refuse_if_active(rp))
		goto out;
	if (!xkey && (xkey = EVP_RSA_gen(EXCHANGE_BITS)) &&
	    !(xcert = pki_self_signed(xkey, "hsm-emulator security domain exchange key",
				       EXCHANGE_DAYS))) {
		EVP_PKEY_free(xkey);
		xkey = NULL;
	}
	snprintf(kid, sizeof(kid), "%s/securitydomain/upload/transfer_key", emu.base);
	if (!xcert || !(jwk = sd_cert_jwk(xcert, kid, ops)) || !(out = cJSON_CreateObject())) {
		cJSON_Delete(jwk);
		reply_error(rp, 500, "InternalError", NULL, "cannot make the exchange key");
		goto out;
	}
	cJSON_AddStringToObject(out, "key_format", "jwk");
	cJSON_AddItemToObject(out, "transfer_key", jwk);
	reply_json(rp, 200, out);
out:
	pthread_mutex_unlock(&lock);
}

/* The restore blob is JSON text (as the CLI sends it) or, as the REST
 * examples show it, base64 of that text. */
static cJSON *blob_json(const char *v)
{
	size_t n = strlen(v);
	uint8_t *buf;
	long m;
	cJSON *j = NULL;

	if (*v == '{')
		return cJSON_Parse(v);
	buf = malloc(n + 1);
	m = buf ? b64_decode_any(v, n, buf, n) : -1;
	if (m > 0)
		j = cJSON_ParseWithLength((const char *)buf, (size_t)m);
	free(buf);
	return j;
}

/* The domain secret from the data item of our tag, under the master key. */
static int open_item(const cJSON *data, const uint8_t *m, size_t mn, uint8_t *dom,
		     char *err, size_t cap)
{
	const cJSON *it;
	uint8_t cek[SD_CEK_LEN], *pt = NULL;
	size_t pn = 0;
	int ret = -1;

	cJSON_ArrayForEach(it, data) {
		const char *tag = json_str(it, "tag");
		if (!tag || strcmp(tag, SD_ITEM_TAG))
			continue;
		if (sd_kdf(m, mn, tag, cek) || jwe_open_dir(cek, json_str(it, "compact_jwe"), &pt, &pn) ||
		    pn != DOMAIN_SECRET_LEN) {
			snprintf(err, cap, "The security domain's data does not open under the wrapped master key");
		} else {
			memcpy(dom, pt, DOMAIN_SECRET_LEN);
			ret = 0;
		}
		goto out;
	}
	snprintf(err, cap, "The blob holds no hsm-emulator security domain (no data item tagged " SD_ITEM_TAG ")");
out:
	OPENSSL_cleanse(cek, sizeof(cek));
	if (pt)
		OPENSSL_cleanse(pt, pn);
	free(pt);
	return ret;
}

/* WrappedKey (the new master key, to our exchange key), then EncData. */
static int take_blob(const cJSON *blob, uint8_t *dom, char *err, size_t cap)
{
	const cJSON *wk = cJSON_GetObjectItemCaseSensitive(blob, "WrappedKey");
	const cJSON *ed = cJSON_GetObjectItemCaseSensitive(blob, "EncData");
	const char *ek = json_str(wk, "enc_key"), *t = json_str(wk, "x5t_256");
	const char *kdf = json_str(ed, "kdf");
	uint8_t *m = NULL;
	size_t mn = 0;
	char want[48];
	int ret = -1;

	if (!ek || !t || !kdf || strcmp(kdf, "sp108_kdf") || sd_thumbprint(xcert, EVP_sha256(), want))
		snprintf(err, cap, "Not a security domain restore blob: EncData (kdf sp108_kdf) and WrappedKey (enc_key, x5t_256) are needed");
	else if (strcmp(t, want))
		snprintf(err, cap, "The blob is wrapped to another exchange key (x5t_256 %.48s; this HSM's is %s)",
			 t, want);
	else if (jwe_open_rsa(xkey, ek, &m, &mn) || mn != SD_MASTER_LEN)
		snprintf(err, cap, "WrappedKey does not open with this HSM's exchange key");
	else
		ret = open_item(cJSON_GetObjectItemCaseSensitive(ed, "data"), m, mn, dom, err, cap);
	if (m)
		OPENSSL_cleanse(m, mn);
	free(m);
	return ret;
}

/* POST /securitydomain/upload: recovers the HSM into the uploaded domain. */
void sd_upload(struct req *r, struct reply *rp, const char *job)
{
	cJSON *body = req_json(r), *blob = NULL;
	const char *v = json_str(body, "value");
	uint8_t dom[DOMAIN_SECRET_LEN];
	char err[300];

	(void)job;
	pthread_mutex_lock(&lock);
	if (refuse_if_active(rp))
		goto out;
	if (!xkey) {
		reply_error(rp, 400, "BadParameter", NULL,
			    "There is no exchange key: get it first (GET /securitydomain/upload)");
		goto out;
	}
	if (!v || !(blob = blob_json(v))) {
		reply_error(rp, 400, "BadParameter", NULL,
			    "The body must be {\"value\": \"<security domain restore blob>\"}");
		goto out;
	}
	if (take_blob(blob, dom, err, sizeof(err))) {
		set_status(&ul, "Failed", "%s", err);
		reply_error(rp, 400, "BadParameter", NULL, "%s", err);
		goto out;
	}
	if (install(dom)) {
		reply_error(rp, 500, "InternalError", NULL, "cannot keep the security domain");
		goto out;
	}
	set_status(&ul, "Success", "The security domain has been uploaded: the HSM is activated");
	EVP_PKEY_free(xkey);
	X509_free(xcert);
	xkey = NULL;
	xcert = NULL;
	reply_status(rp, &ul);
	rp->status = 202;
	admin_async_op(rp, "/securitydomain/upload/pending");
out:
	pthread_mutex_unlock(&lock);
	OPENSSL_cleanse(dom, sizeof(dom));
	cJSON_Delete(blob);
	cjson_wipe(body);
	cJSON_Delete(body);
}
