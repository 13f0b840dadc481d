/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctl sd|backup|restore|jobs: the disaster-recovery lifecycle from the
 * operator's side. The security domain steps are the ones the Azure CLI
 * takes (az keyvault security-domain download, init-recovery, restore-blob,
 * upload), with the same files: officers' keys KEY with the certificate
 * beside it (KEY's name with .cer), the security domain file, the exchange
 * key certificate (PEM), the restore blob. The quorum's private keys are
 * only ever read here, never sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "ctl.h"
#include "json.h"
#include "pki.h"
#include "sdcrypto.h"
#include "util.h"

#define API "?api-version=7.5"
#define SD_FILE_MAX (4 * 1024 * 1024)
#define POLL_MS 100
#define POLL_MAX 1200           /* 120 s */
#define OFFICER_BITS 2048
#define OFFICER_DAYS 3650

static const char *const sd_download_ops[] = { "verify", "encrypt", "wrapKey", NULL };

/* Synopsis of these groups, after ctl's own. */
void ctl_admin_usage(FILE *f)
{
	fprintf(f,
		"  sd keys --out DIR [--count 3..10]     officers' key pairs DIR/officerN.key + .cer (offline)\n"
		"  sd download --cert CER (3 to 10 times) [--quorum 2..N] --out SDFILE\n"
		"                                        activates the HSM; writes its security domain\n"
		"  sd exchange-key --out CER             the HSM's exchange key (init-recovery)\n"
		"  sd restore-blob --sd-file SDFILE --exchange-key CER --key KEY (quorum times)\n"
		"                  --out BLOB            (offline; KEY's certificate is KEY with .cer)\n"
		"  sd upload --blob BLOB                 recovers the HSM into that security domain\n"
		"  sd recover --sd-file SDFILE --key KEY ...   exchange-key, restore-blob and upload\n"
		"  sd status\n"
		"  backup --container URI (--token-file FILE|- | --managed-identity) [--no-wait]\n"
		"                                        full backup; prints the folder it made\n"
		"  restore --container URI --folder NAME (--token-file FILE|- | --managed-identity)\n"
		"          [--no-wait]                   full restore of that backup\n"
		"  jobs hold|release|show                keep new backup/restore jobs waiting\n");
}

/* The groups of this file. */
int ctl_admin_group(const char *group)
{
	return !strcmp(group, "sd") || !strcmp(group, "backup") ||
	       !strcmp(group, "restore") || !strcmp(group, "jobs");
}

/* Every value of a repeatable flag. */
static int values(const struct args *a, const char *flag, const char **out, int max)
{
	int n = 0;

	for (int i = 0; i < a->nflags; i++)
		if (!strcmp(a->flag[i], flag) && n < max)
			out[n++] = a->val[i];
	return n;
}

/* Writes a file that must not exist yet (as the CLI refuses to overwrite). */
static int write_new(const char *path, const char *text, mode_t mode)
{
	size_t n = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode), ok;

	if (fd < 0) {
		fprintf(stderr, "hsm-emulator: cannot create %s: %s\n", path, strerror(errno));
		return -1;
	}
	ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
	ok = !close(fd) && ok;
	if (!ok) {
		fprintf(stderr, "hsm-emulator: cannot write %s\n", path);
		unlink(path);
	}
	return ok ? 0 : -1;
}

/* A private key (unencrypted) or a certificate from a PEM file. */
static void *load_pem(const char *path, int key)
{
	FILE *f = fopen(path, "r");
	void *obj = NULL;

	if (f)
		obj = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
			  : (void *)PEM_read_X509(f, NULL, NULL, NULL);
	if (f)
		fclose(f);
	if (!obj)
		fprintf(stderr, "hsm-emulator: no PEM %s in %s\n", key ? "private key" : "certificate", path);
	return obj;
}

/* Writes a key (0600) or a certificate (0644) as PEM. */
static int write_pem(const char *path, EVP_PKEY *k, X509 *x)
{
	char *pem = pki_pem(k, x);
	int rc = pem ? write_new(path, pem, k ? 0600 : 0644) : -1;

	if (pem) {
		OPENSSL_cleanse(pem, strlen(pem));
		free(pem);
	}
	return rc;
}

/* sd keys: RSA-2048 pairs with self-signed certificates, like
 * "openssl req -newkey rsa:2048 -x509" in the CLI's instructions. */
static int sd_keys(const struct args *a)
{
	const char *dir = ctl_arg(a, "--out"), *cs = ctl_arg(a, "--count");
	int count = cs ? atoi(cs) : SD_MIN_SHARES;
	char key[600], cer[600], cn[32];

	if (!dir || count < SD_MIN_SHARES || count > SD_MAX_SHARES) {
		fprintf(stderr, "hsm-emulator: sd keys --out DIR [--count 3..10]\n");
		return 2;
	}
	for (int i = 1; i <= count; i++) {
		EVP_PKEY *k = EVP_RSA_gen(OFFICER_BITS);
		X509 *x;
		int rc;
		snprintf(cn, sizeof(cn), "officer%d", i);
		snprintf(key, sizeof(key), "%s/officer%d.key", dir, i);
		snprintf(cer, sizeof(cer), "%s/officer%d.cer", dir, i);
		x = k ? pki_self_signed(k, cn, OFFICER_DAYS) : NULL;
		rc = !x || write_pem(key, k, NULL) || write_pem(cer, NULL, x);
		EVP_PKEY_free(k);
		X509_free(x);
		if (rc)
			return 1;
		printf("%s %s\n", key, cer);
	}
	return 0;
}

/* Polls an operation's status until it is no longer InProgress. */
static cJSON *wait_status(const struct ctl *c, const char *path)
{
	struct timespec ts = { 0, POLL_MS * 1000000L };

	for (int i = 0; i < POLL_MAX; i++) {
		cJSON *o = ctl_call(c, "GET", path, NULL);
		const char *st = json_str(o, "status");
		if (!o || (st && strcmp(st, "InProgress")))
			return o;
		cJSON_Delete(o);
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "hsm-emulator: %s still in progress after %d s\n", path,
		POLL_MAX * POLL_MS / 1000);
	return NULL;
}

/* Ends a security-domain operation: waits for its status, says it. */
static int sd_finish(const struct ctl *c, const char *pending)
{
	cJSON *st = wait_status(c, pending);
	const char *s = json_str(st, "status"), *d = json_str(st, "status_details");
	int ok = s && !strcmp(s, "Success");

	if (st)
		fprintf(ok ? stdout : stderr, "%s%s\n", ok ? "" : "hsm-emulator: ", d ? d : "?");
	cJSON_Delete(st);
	return ok ? 0 : 1;
}

/* sd download: the certificates as JWKs (as the CLI sends them). */
static int sd_download(const struct ctl *c, const struct args *a)
{
	const char *certs[MAX_ARGS], *out = ctl_arg(a, "--out"), *q = ctl_arg(a, "--quorum");
	int n = values(a, "--cert", certs, MAX_ARGS), ret = 1;
	cJSON *req = cJSON_CreateObject(), *arr, *resp = NULL;
	const char *sd;

	if (!out || n < SD_MIN_SHARES || n > SD_MAX_SHARES) {
		fprintf(stderr, "hsm-emulator: sd download needs --out and 3 to 10 --cert\n");
		goto out;
	}
	if (!access(out, F_OK)) {
		fprintf(stderr, "hsm-emulator: %s already exists\n", out);
		goto out;
	}
	arr = cJSON_AddArrayToObject(req, "certificates");
	for (int i = 0; arr && i < n; i++) {
		const char *kid = strrchr(certs[i], '/') ? strrchr(certs[i], '/') + 1 : certs[i];
		X509 *x = load_pem(certs[i], 0);
		cJSON *jwk = x ? sd_cert_jwk(x, kid, sd_download_ops) : NULL;
		X509_free(x);
		if (!jwk)
			goto out;
		cJSON_AddItemToArray(arr, jwk);
	}
	cJSON_AddNumberToObject(req, "required", q ? atoi(q) : SD_MIN_QUORUM);
	resp = ctl_call(c, "POST", "/securitydomain/download" API, req);
	sd = json_str(resp, "value");
	if (!sd || write_new(out, sd, 0600))
		goto out;
	ret = sd_finish(c, "/securitydomain/download/pending" API);
out:
	cJSON_Delete(req);
	cJSON_Delete(resp);
	return ret;
}

/* The exchange key certificate of a provisioned HSM. */
static X509 *fetch_exchange(const struct ctl *c)
{
	cJSON *resp = ctl_call(c, "GET", "/securitydomain/upload" API, NULL);
	X509 *x = resp ? sd_cert_from_x5c(cJSON_GetObjectItemCaseSensitive(resp, "transfer_key")) : NULL;

	if (resp && !x)
		fprintf(stderr, "hsm-emulator: the exchange key has no certificate (x5c)\n");
	cJSON_Delete(resp);
	return x;
}

/* The certificate beside an officer's key: same name, extension .cer. */
static X509 *officer_cert(const char *key)
{
	char path[600], *dot, *slash;

	snprintf(path, sizeof(path), "%s", key);
	dot = strrchr(path, '.');
	slash = strrchr(path, '/');
	if (dot && (!slash || dot > slash))
		*dot = '\0';
	if (strlen(path) + 5 > sizeof(path))
		return NULL;
	strcat(path, ".cer");
	return load_pem(path, 0);
}

/* One officer's share: the enc_share of its certificate, opened with its
 * key; NULL if it holds none (or its key is not its certificate's). */
static uint8_t *officer_share(const char *keyfile, const cJSON *enc_shares, size_t *len,
			      char thumb[48])
{
	EVP_PKEY *k = load_pem(keyfile, 1);
	X509 *x = k ? officer_cert(keyfile) : NULL;
	const cJSON *it;
	uint8_t *share = NULL;

	if (!x || EVP_PKEY_eq(X509_get0_pubkey(x), k) != 1 ||
	    sd_thumbprint(x, EVP_sha256(), thumb)) {
		if (x)
			fprintf(stderr, "hsm-emulator: %s is not the key of its certificate\n", keyfile);
		goto out;
	}
	cJSON_ArrayForEach(it, enc_shares) {
		const char *t = json_str(it, "x5t_256");
		if (!t || strcmp(t, thumb))
			continue;
		if (jwe_open_rsa(k, json_str(it, "enc_key"), &share, len))
			fprintf(stderr, "hsm-emulator: the share of %s does not open with it\n", keyfile);
		goto out;
	}
	fprintf(stderr, "hsm-emulator: %s holds no share of this security domain\n", keyfile);
out:
	EVP_PKEY_free(k);
	X509_free(x);
	return share;
}

/* The master key from `required` officers' shares (distinct ones). */
static int quorum_master(const cJSON *sk, const char *const *keys, int nkeys,
			 uint8_t *master, size_t *mlen)
{
	const cJSON *es = cJSON_GetObjectItemCaseSensitive(sk, "enc_shares");
	const char *alg = json_str(sk, "key_algorithm");
	uint8_t *shares[SD_MAX_SHARES];
	char thumbs[SD_MAX_SHARES][48];
	int64_t required = 0;
	int k = 0, ret = -1;
	size_t len = 0, l;

	if (json_int(sk, "required", SD_MIN_QUORUM, SD_MAX_SHARES, &required) != 1 ||
	    !alg || strcmp(alg, "shamir_share")) {
		fprintf(stderr, "hsm-emulator: not a security domain file (SharedKeys)\n");
		return -1;
	}
	for (int i = 0; i < nkeys && k < required; i++) {
		uint8_t *s = officer_share(keys[i], es, &l, thumbs[k]);
		int dup = 0;
		for (int j = 0; s && j < k; j++)
			dup |= !strcmp(thumbs[j], thumbs[k]);
		if (s && !dup && l % 2 == 0 && l / 2 <= SD_MASTER_LEN && (!k || l == len)) {
			len = l;
			shares[k++] = s;
		} else if (s) {
			OPENSSL_cleanse(s, l);
			free(s);
		}
	}
	if (k < required)
		fprintf(stderr, "hsm-emulator: the quorum of this security domain is %d: "
			"%d of the keys given hold a share\n", (int)required, k);
	else if (shamir_combine(shares, k, len / 2, master))
		fprintf(stderr, "hsm-emulator: the shares do not fit together\n");
	else
		ret = 0;
	*mlen = len / 2;
	while (k > 0) {
		OPENSSL_cleanse(shares[--k], len);
		free(shares[k]);
	}
	return ret;
}

/* Each data item, opened under the old master key and sealed under the
 * new one, as EncData of the restore blob. */
static cJSON *reseal_items(const cJSON *data, const uint8_t *old, size_t oldlen,
			   const uint8_t *fresh)
{
	cJSON *out = cJSON_CreateArray(), *it;
	const cJSON *d;
	uint8_t cek[SD_CEK_LEN], *pt = NULL;
	size_t pn = 0;
	char *jwe;

	cJSON_ArrayForEach(d, data) {
		const char *tag = json_str(d, "tag");
		if (!tag || sd_kdf(old, oldlen, tag, cek) ||
		    jwe_open_dir(cek, json_str(d, "compact_jwe"), &pt, &pn)) {
			fprintf(stderr, "hsm-emulator: the shares do not make this security domain's key\n");
			goto fail;
		}
		jwe = sd_kdf(fresh, SD_MASTER_LEN, tag, cek) ? NULL : jwe_seal_dir(cek, tag, pt, pn);
		OPENSSL_cleanse(pt, pn);
		free(pt);
		if (!jwe || !(it = cJSON_CreateObject()) || !cJSON_AddItemToArray(out, it))
			goto fail;
		cJSON_AddStringToObject(it, "compact_jwe", jwe);
		cJSON_AddStringToObject(it, "tag", tag);
		free(jwe);
	}
	OPENSSL_cleanse(cek, sizeof(cek));
	return out;
fail:
	OPENSSL_cleanse(cek, sizeof(cek));
	cJSON_Delete(out);
	return NULL;
}

/* The restore blob: EncData under a new master key, and that key wrapped
 * to the exchange key (WrappedKey {enc_key, x5t_256}). */
static char *blob_of(const cJSON *sd, X509 *exch, const char *const *keys, int nkeys)
{
	const cJSON *enc_data = cJSON_GetObjectItemCaseSensitive(sd, "EncData");
	uint8_t master[SD_MASTER_LEN], fresh[SD_MASTER_LEN];
	char *wrapped = NULL, *text = NULL, thumb[48];
	cJSON *blob = cJSON_CreateObject(), *enc, *items = NULL, *wk;
	size_t mlen = 0;

	if (!blob || quorum_master(cJSON_GetObjectItemCaseSensitive(sd, "SharedKeys"), keys, nkeys,
				   master, &mlen) || RAND_bytes(fresh, sizeof(fresh)) != 1 ||
	    !(items = reseal_items(cJSON_GetObjectItemCaseSensitive(enc_data, "data"),
				   master, mlen, fresh)) ||
	    !(wrapped = jwe_seal_rsa(X509_get0_pubkey(exch), fresh, sizeof(fresh))) ||
	    sd_thumbprint(exch, EVP_sha256(), thumb))
		goto out;
	enc = cJSON_AddObjectToObject(blob, "EncData");
	cJSON_AddItemToObject(enc, "data", items);
	items = NULL;
	cJSON_AddStringToObject(enc, "kdf", "sp108_kdf");
	wk = cJSON_AddObjectToObject(blob, "WrappedKey");
	cJSON_AddStringToObject(wk, "enc_key", wrapped);
	cJSON_AddStringToObject(wk, "x5t_256", thumb);
	text = cJSON_PrintUnformatted(blob);
out:
	OPENSSL_cleanse(master, sizeof(master));
	OPENSSL_cleanse(fresh, sizeof(fresh));
	free(wrapped);
	cJSON_Delete(items);
	cJSON_Delete(blob);
	return text;
}

/* The restore blob of the security domain file sd_file. */
static char *make_blob(const char *sd_file, X509 *exch, const char *const *keys, int nkeys)
{
	char *text = NULL, *blob = NULL;
	size_t len = 0;
	cJSON *sd = NULL;

	if (read_file(sd_file, &text, &len, SD_FILE_MAX) || !(sd = cJSON_ParseWithLength(text, len)))
		fprintf(stderr, "hsm-emulator: %s is not a security domain file\n", sd_file);
	else
		blob = blob_of(sd, exch, keys, nkeys);
	free(text);
	cJSON_Delete(sd);
	return blob;
}

/* POST /securitydomain/upload {"value": blob}, then its status. */
static int upload(const struct ctl *c, const char *blob)
{
	cJSON *req = cJSON_CreateObject(), *resp;

	if (!req || !cJSON_AddStringToObject(req, "value", blob)) {
		cJSON_Delete(req);
		return 1;
	}
	resp = ctl_call(c, "POST", "/securitydomain/upload" API, req);
	cJSON_Delete(req);
	if (!resp)
		return 1;
	cJSON_Delete(resp);
	return sd_finish(c, "/securitydomain/upload/pending" API);
}

/* sd restore-blob, offline: SDFILE + exchange key + quorum -> BLOB. */
static int sd_restore_blob(const struct args *a)
{
	const char *keys[MAX_ARGS], *sdf = ctl_arg(a, "--sd-file");
	const char *xf = ctl_arg(a, "--exchange-key"), *out = ctl_arg(a, "--out");
	int n = values(a, "--key", keys, MAX_ARGS), ret = 1;
	X509 *x;
	char *blob;

	if (!sdf || !xf || !out || !n) {
		fprintf(stderr, "hsm-emulator: sd restore-blob needs --sd-file, --exchange-key, --key and --out\n");
		return 2;
	}
	if (!(x = load_pem(xf, 0)))
		return 1;
	blob = make_blob(sdf, x, keys, n);
	if (blob && !write_new(out, blob, 0600))
		ret = 0;
	X509_free(x);
	free(blob);
	return ret;
}

/* sd recover: what init-recovery, restore-blob and upload do, at once. */
static int sd_recover(const struct ctl *c, const struct args *a)
{
	const char *keys[MAX_ARGS], *sdf = ctl_arg(a, "--sd-file");
	int n = values(a, "--key", keys, MAX_ARGS), ret = 1;
	X509 *x = NULL;
	char *blob = NULL;

	if (!sdf || !n) {
		fprintf(stderr, "hsm-emulator: sd recover needs --sd-file and --key (quorum times)\n");
		return 2;
	}
	if ((x = fetch_exchange(c)) && (blob = make_blob(sdf, x, keys, n)))
		ret = upload(c, blob);
	X509_free(x);
	free(blob);
	return ret;
}

/* sd exchange-key --out CER (the CLI's init-recovery). */
static int sd_exchange_key(const struct ctl *c, const struct args *a)
{
	const char *out = ctl_arg(a, "--out");
	X509 *x;
	int rc;

	if (!out) {
		fprintf(stderr, "hsm-emulator: sd exchange-key --out FILE\n");
		return 2;
	}
	if (!(x = fetch_exchange(c)))
		return 1;
	rc = write_pem(out, NULL, x);
	X509_free(x);
	return rc ? 1 : 0;
}

/* sd upload --blob FILE. */
static int sd_upload(const struct ctl *c, const struct args *a)
{
	const char *f = ctl_arg(a, "--blob");
	char *blob = NULL;
	size_t n;
	int rc;

	if (!f) {
		fprintf(stderr, "hsm-emulator: sd upload --blob FILE\n");
		return 2;
	}
	if (read_file(f, &blob, &n, SD_FILE_MAX)) {
		fprintf(stderr, "hsm-emulator: cannot read %s\n", f);
		return 1;
	}
	rc = upload(c, blob);
	free(blob);
	return rc;
}

/* sd status: activation, and the last download and upload. */
static int sd_status(const struct ctl *c)
{
	static const char *const what[] = { "download", "upload" };
	cJSON *st = ctl_call(c, "GET", "/_emulator/status", NULL), *o;
	char path[80];

	if (!st)
		return 1;
	printf("activation_status %s\n", json_str(st, "activation_status") ?: "?");
	cJSON_Delete(st);
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/securitydomain/%s/pending" API, what[i]);
		if (!(o = ctl_call(c, "GET", path, NULL)))
			return 1;
		printf("%s %s: %s\n", what[i], json_str(o, "status") ?: "?",
		       json_str(o, "status_details") ?: "");
		cJSON_Delete(o);
	}
	return 0;
}

/* ctl sd ... that needs the running HSM. */
static int cmd_sd(const struct ctl *c, const struct args *a)
{
	static const char *const known[] = { "--cert", "--quorum", "--out", "--sd-file",
					     "--key", "--blob", NULL };
	const char *sub = a->npos > 1 ? a->pos[1] : "";

	if (ctl_only_flags(a, known))
		return 2;
	if (!strcmp(sub, "download"))
		return sd_download(c, a);
	if (!strcmp(sub, "exchange-key"))
		return sd_exchange_key(c, a);
	if (!strcmp(sub, "upload"))
		return sd_upload(c, a);
	if (!strcmp(sub, "recover"))
		return sd_recover(c, a);
	if (!strcmp(sub, "status"))
		return sd_status(c);
	ctl_admin_usage(stderr);
	return 2;
}

/* SASTokenParameter from --container and --token-file / --managed-identity. */
static cJSON *sas_params(const struct args *a)
{
	const char *uri = ctl_arg(a, "--container"), *tf = ctl_arg(a, "--token-file");
	cJSON *p = cJSON_CreateObject();
	char *tok;

	if (!p || !uri || !!tf == !!ctl_arg(a, "--managed-identity")) {
		fprintf(stderr, "hsm-emulator: --container URI and one of --token-file, --managed-identity\n");
		cJSON_Delete(p);
		return NULL;
	}
	cJSON_AddStringToObject(p, "storageResourceUri", uri);
	if (!tf) {
		cJSON_AddBoolToObject(p, "useManagedIdentity", 1);
		return p;
	}
	if (!(tok = ctl_read_secret(tf))) {
		fprintf(stderr, "hsm-emulator: cannot read the SAS token from %s\n", tf);
		cJSON_Delete(p);
		return NULL;
	}
	cJSON_AddStringToObject(p, "token", tok);
	OPENSSL_cleanse(tok, strlen(tok));
	free(tok);
	return p;
}

/* Prints a finished job's outcome: the backup's folder, or the error. */
static int job_outcome(const cJSON *st, int restore)
{
	const char *s = json_str(st, "status"), *uri = json_str(st, "azureStorageBlobContainerUri");
	const char *msg = json_str(cJSON_GetObjectItemCaseSensitive(st, "error"), "message");

	if (!s || strcmp(s, "Succeeded")) {
		fprintf(stderr, "hsm-emulator: full %s %s: %s\n", restore ? "restore" : "backup",
			s ? s : "?", msg ? msg : "?");
		return 1;
	}
	if (restore)
		printf("restored\n");
	else
		printf("%s\n", uri && strrchr(uri, '/') ? strrchr(uri, '/') + 1 : "?");
	return 0;
}

/* ctl backup / ctl restore: starts the job and (unless --no-wait) waits. */
static int cmd_job(const struct ctl *c, const struct args *a, int restore)
{
	static const char *const known[] = { "--container", "--token-file", "--managed-identity",
					     "--folder", "--no-wait", NULL };
	cJSON *p, *req = NULL, *resp = NULL, *st = NULL;
	const char *id, *folder = ctl_arg(a, "--folder");
	char path[120];
	int ret = 1;

	if (ctl_only_flags(a, known) || !(p = sas_params(a)))
		return 2;
	if (restore && !folder) {
		fprintf(stderr, "hsm-emulator: restore needs --folder\n");
		cJSON_Delete(p);
		return 2;
	}
	if (restore && (req = cJSON_CreateObject())) {
		cJSON_AddItemToObject(req, "sasTokenParameters", p);
		cJSON_AddStringToObject(req, "folderToRestore", folder);
	} else if (!restore) {
		req = p;
	} else {
		cJSON_Delete(p);
	}
	resp = req ? ctl_call(c, restore ? "PUT" : "POST", restore ? "/restore" API : "/backup" API, req) : NULL;
	if (!(id = json_str(resp, "jobId")) || strlen(id) > 64)
		goto out;
	if (ctl_arg(a, "--no-wait")) {
		printf("%s\n", id);
		ret = 0;
		goto out;
	}
	snprintf(path, sizeof(path), "/%s/%s/pending" API, restore ? "restore" : "backup", id);
	if ((st = wait_status(c, path)))
		ret = job_outcome(st, restore);
out:
	cjson_wipe(req);
	cJSON_Delete(req);
	cJSON_Delete(resp);
	cJSON_Delete(st);
	return ret;
}

/* ctl jobs hold|release|show. */
static int cmd_jobs(const struct ctl *c, const struct args *a)
{
	const char *sub = a->npos > 1 ? a->pos[1] : "";
	cJSON *req = NULL, *out;
	char *s;

	if (!strcmp(sub, "hold") || !strcmp(sub, "release")) {
		req = cJSON_CreateObject();
		cJSON_AddBoolToObject(req, "hold", !strcmp(sub, "hold"));
	} else if (strcmp(sub, "show")) {
		ctl_admin_usage(stderr);
		return 2;
	}
	out = ctl_call(c, req ? "POST" : "GET", "/_emulator/jobs", req);
	cJSON_Delete(req);
	if (!out)
		return 1;
	if ((s = cJSON_Print(out)))
		puts(s);
	free(s);
	cJSON_Delete(out);
	return 0;
}

/* ctl sd|backup|restore|jobs against the running emulator. */
int ctl_admin(const struct ctl *c, const struct args *a)
{
	const char *g = a->pos[0];

	if (!strcmp(g, "sd"))
		return cmd_sd(c, a);
	if (!strcmp(g, "jobs"))
		return cmd_jobs(c, a);
	return cmd_job(c, a, !strcmp(g, "restore"));
}

/* sd keys and sd restore-blob need no emulator (nor --state). */
int ctl_offline(const struct args *a)
{
	static const char *const known[] = { "--out", "--count", "--sd-file", "--exchange-key",
					     "--key", "--state", NULL };
	const char *sub = a->npos > 1 ? a->pos[1] : "";

	if (strcmp(a->pos[0], "sd") || (strcmp(sub, "keys") && strcmp(sub, "restore-blob")))
		return -1;
	if (ctl_only_flags(a, known))
		return 2;
	return !strcmp(sub, "keys") ? sd_keys(a) : sd_restore_blob(a);
}
