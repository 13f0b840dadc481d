/* SPDX-License-Identifier: Apache-2.0 */
/* Azure credential settings from the environment, systemd credentials and
 * a credential file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cfile.h"
#include "common/secmem.h"
#include "hsmclient/azure/cred.h"

extern char **environ;

static const struct {
	const char *env;  /* environment and credential file name */
	const char *cred; /* systemd credential name, or NULL */
	bool secret;
} vars[AZ_NVARS] = {
	[AZ_TENANT] = { "AZURE_TENANT_ID", "azure-tenant-id", false },
	[AZ_CLIENT] = { "AZURE_CLIENT_ID", "azure-client-id", false },
	[AZ_SECRET] = { "AZURE_CLIENT_SECRET", "azure-client-secret", true },
	[AZ_CERT] = { "AZURE_CLIENT_CERTIFICATE_PATH",
		      "azure-client-certificate", false },
	[AZ_CERT_PASS] = { "AZURE_CLIENT_CERTIFICATE_PASSWORD",
			   "azure-client-certificate-password", true },
	[AZ_FED] = { "AZURE_FEDERATED_TOKEN_FILE", NULL, false },
	[AZ_AUTHORITY] = { "AZURE_AUTHORITY_HOST", NULL, false },
};

/* The environment as it was when sealed; set once, before threads. */
static struct azcred sealed;
static bool is_sealed;

const char *azcred_name(enum azcred_var v)
{
	return v < AZ_NVARS ? vars[v].env : "?";
}

bool azcred_has_credential(const struct azcred *c)
{
	return c->v[AZ_SECRET] || c->v[AZ_CERT] || c->v[AZ_FED];
}

void azcred_clear(struct azcred *c)
{
	for (int i = 0; i < AZ_NVARS; i++)
		secmem_strfree(c->v[i]);
	memset(c, 0, sizeof(*c));
}

/* Sets v to a copy of val; false when out of memory. */
static bool set(struct azcred *c, enum azcred_var v, const char *val)
{
	secmem_strfree(c->v[v]);
	c->v[v] = secmem_strdup(val);
	return c->v[v] != NULL;
}

static enum kek_status nomem(char *err)
{
	snprintf(err, KEK_ERR_MAX, "out of memory");
	return KEK_E_NOMEM;
}

/* Non-empty variables of the environment (or of its sealed copy). */
static enum kek_status from_env(struct azcred *c, char *err)
{
	const char *e;

	for (int i = 0; i < AZ_NVARS; i++) {
		e = is_sealed ? sealed.v[i] : getenv(vars[i].env);
		if (e && *e && !set(c, (enum azcred_var)i, e))
			return nomem(err);
	}
	return KEK_OK;
}

/* One systemd credential, if the directory has it. */
static enum kek_status from_dir_one(struct azcred *c, const char *dir,
				    enum azcred_var v, char *err)
{
	char path[4096];
	struct cfile f;
	const char *val;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, vars[v].cred);
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return KEK_OK;
	if (cfile_open(&f, path, CFILE_PRIVATE, err, KEK_ERR_MAX))
		return KEK_E_INVAL;
	/* The certificate credential is the PEM itself: its path is what
	 * AZURE_CLIENT_CERTIFICATE_PATH would name. */
	val = v == AZ_CERT ? path : cfile_value(&f);
	ok = !*val || set(c, v, val);
	cfile_close(&f);
	c->from_dir = true;
	return ok ? KEK_OK : nomem(err);
}

static enum kek_status from_dir(struct azcred *c, char *err)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	enum kek_status st = KEK_OK;

	for (int i = 0; dir && *dir && st == KEK_OK && i < AZ_NVARS; i++)
		if (vars[i].cred)
			st = from_dir_one(c, dir, (enum azcred_var)i, err);
	return st;
}

/* "NAME=VALUE", VALUE maybe in one pair of quotes. */
static enum kek_status file_line(struct azcred *c, char *s, const char *path,
				 unsigned line, char *err)
{
	char *val = cfile_split(s);

	if (!val) {
		snprintf(err, KEK_ERR_MAX, "%.200s:%u: not NAME=VALUE", path,
			 line);
		return KEK_E_INVAL;
	}
	for (int i = 0; i < AZ_NVARS; i++)
		if (!strcmp(s, vars[i].env))
			return set(c, (enum azcred_var)i, val) ? KEK_OK
							       : nomem(err);
	snprintf(err, KEK_ERR_MAX, "%.200s:%u: unknown setting '%.40s' "
		 "(AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, "
		 "AZURE_CLIENT_CERTIFICATE_PATH, ...)", path, line, s);
	return KEK_E_INVAL;
}

static enum kek_status from_file(struct azcred *c, const char *path,
				 char *err)
{
	enum kek_status st = KEK_OK;
	struct cfile f;
	char *s;

	if (cfile_open(&f, path, CFILE_PRIVATE, err, KEK_ERR_MAX))
		return KEK_E_INVAL;
	while (st == KEK_OK && (s = cfile_next(&f)))
		st = file_line(c, s, path, f.line, err);
	cfile_close(&f);
	if (st == KEK_OK && !azcred_has_credential(c)) {
		snprintf(err, KEK_ERR_MAX, "credential file %.200s gives no "
			 "AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH "
			 "or AZURE_FEDERATED_TOKEN_FILE", path);
		st = KEK_E_INVAL;
	}
	c->from_file = true;
	return st;
}

/* src over dst (see the header); src is left empty. */
static void merge(struct azcred *dst, struct azcred *src)
{
	static const enum azcred_var kind[] = { AZ_SECRET, AZ_CERT,
						AZ_CERT_PASS, AZ_FED };

	if (azcred_has_credential(src))
		for (size_t i = 0; i < sizeof(kind) / sizeof(*kind); i++) {
			secmem_strfree(dst->v[kind[i]]);
			dst->v[kind[i]] = NULL;
		}
	for (int i = 0; i < AZ_NVARS; i++) {
		if (!src->v[i])
			continue;
		secmem_strfree(dst->v[i]);
		dst->v[i] = src->v[i];
		src->v[i] = NULL;
	}
	dst->from_dir |= src->from_dir;
	dst->from_file |= src->from_file;
}

enum kek_status azcred_gather(const char *file, struct azcred *c, char *err)
{
	struct azcred s = { 0 };
	enum kek_status st;

	memset(c, 0, sizeof(*c));
	st = from_env(c, err);
	if (st == KEK_OK)
		st = from_dir(&s, err);
	if (st == KEK_OK)
		merge(c, &s);
	if (st == KEK_OK && file && *file)
		st = from_file(&s, file, err);
	if (st == KEK_OK)
		merge(c, &s);
	azcred_clear(&s);
	if (st != KEK_OK)
		azcred_clear(c);
	return st;
}

/* /proc/PID/environ shows the block the process started with, whatever
 * unsetenv does to the environ array: the bytes themselves must go. */
static void wipe_env(const char *name)
{
	size_t n = strlen(name);

	for (char **e = environ; e && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			secmem_wipe(*e + n + 1, strlen(*e + n + 1));
	unsetenv(name);
}

void azcred_seal_env(void)
{
	char err[KEK_ERR_MAX];

	if (is_sealed)
		return;
	if (from_env(&sealed, err) != KEK_OK)
		return; /* out of memory: keep reading the environment */
	for (int i = 0; i < AZ_NVARS; i++)
		if (vars[i].secret)
			wipe_env(vars[i].env);
	is_sealed = true;
}
