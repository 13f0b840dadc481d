/* SPDX-License-Identifier: Apache-2.0 */
/* The token PIN from a PIN file, a credential file or systemd. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cfile.h"
#include "common/secmem.h"
#include "hsmclient/pkcs11/pin.h"

#define PIN_VAR "PKCS11_PIN"
#define PIN_CRED "pkcs11-pin"

static enum kek_status keep(const char *val, const char *where, char **pin,
			    char *err)
{
	if (!*val || strlen(val) > P11_PIN_MAX) {
		snprintf(err, KEK_ERR_MAX, "%.200s: the PIN is empty or longer "
			 "than %d bytes", where, P11_PIN_MAX);
		return KEK_E_INVAL;
	}
	*pin = secmem_strdup(val);
	return *pin ? KEK_OK : KEK_E_NOMEM;
}

/* A file that is the PIN. */
static enum kek_status whole_file(const char *path, char **pin, char *err)
{
	struct cfile f;
	enum kek_status st;

	if (cfile_open(&f, path, CFILE_PRIVATE, err, KEK_ERR_MAX))
		return KEK_E_INVAL;
	st = keep(cfile_value(&f), path, pin, err);
	cfile_close(&f);
	return st;
}

/* "PKCS11_PIN=VALUE", VALUE maybe quoted. */
static enum kek_status cred_line(char *s, const char *path, unsigned line,
				 char **pin, char *err)
{
	char *val = cfile_split(s);

	if (!val || strcmp(s, PIN_VAR)) {
		snprintf(err, KEK_ERR_MAX, "%.200s:%u: not " PIN_VAR "=PIN "
			 "(the only setting of the PKCS#11 provider)", path,
			 line);
		return KEK_E_INVAL;
	}
	secmem_strfree(*pin);
	*pin = NULL;
	return keep(val, path, pin, err);
}

static enum kek_status cred_file(const char *path, char **pin, char *err)
{
	enum kek_status st = KEK_OK;
	struct cfile f;
	char *s;

	if (cfile_open(&f, path, CFILE_PRIVATE, err, KEK_ERR_MAX))
		return KEK_E_INVAL;
	while (st == KEK_OK && (s = cfile_next(&f)))
		st = cred_line(s, path, f.line, pin, err);
	cfile_close(&f);
	if (st == KEK_OK && !*pin) {
		snprintf(err, KEK_ERR_MAX, "credential file %.200s gives no "
			 PIN_VAR "=", path);
		st = KEK_E_INVAL;
	}
	return st;
}

enum kek_status p11pin_get(const struct p11uri *u, const struct kek_opts *o,
			   char **pin, char *err)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char path[4096];
	enum kek_status st;

	*pin = NULL;
	if (u->pin_source[0] && !o->host_named) {
		snprintf(err, KEK_ERR_MAX, "pin-source= of a KEK URL the "
			 "operator did not name is not read; give the PIN "
			 "with credential_file= or the systemd credential "
			 PIN_CRED);
		return KEK_E_INVAL;
	}
	if (u->pin_source[0])
		st = whole_file(u->pin_source, pin, err);
	else if (o->credential_file && *o->credential_file)
		st = cred_file(o->credential_file, pin, err);
	else if (!dir || !*dir)
		return KEK_OK;
	else if (snprintf(path, sizeof(path), "%s/" PIN_CRED, dir) > 0 &&
		 access(path, F_OK) != 0 && errno == ENOENT)
		return KEK_OK;
	else
		st = whole_file(path, pin, err);
	if (st != KEK_OK) {
		secmem_strfree(*pin);
		*pin = NULL;
	}
	return st;
}
