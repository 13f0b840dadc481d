/* SPDX-License-Identifier: Apache-2.0 */
/* PKCS#11 modules through p11-kit: the trust rule, slots by token label. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>

#include "hsmclient/pkcs11/err.h"
#include "hsmclient/pkcs11/module.h"

#define SLOTS_MAX 256

/* True if registered module file reg is the file path names: both
 * absolute and the same file once links are resolved. A registered file
 * given relatively (to p11-kit's module directory) matches no path. */
static bool same_file(const char *reg, const char *path)
{
	char a[PATH_MAX], b[PATH_MAX];

	if (!reg || reg[0] != '/')
		return false;
	if (!strcmp(reg, path))
		return true;
	return realpath(reg, a) && realpath(path, b) && !strcmp(a, b);
}

/* True if registered module m is the one u names. */
static bool is_named(CK_FUNCTION_LIST *m, const struct p11uri *u)
{
	char *s;
	bool yes;

	if (u->module_name[0]) {
		s = p11_kit_module_get_name(m);
		yes = s && !strcmp(s, u->module_name);
	} else {
		s = p11_kit_module_get_filename(m);
		yes = same_file(s, u->module_path);
	}
	free(s);
	return yes;
}

/* The registered module u names, taken out of p11-kit's list. */
static enum kek_status registered(const struct p11uri *u,
				  CK_FUNCTION_LIST **out, char *err)
{
	CK_FUNCTION_LIST **mods = p11_kit_modules_load(NULL, 0);
	size_t n = 0, hit = SIZE_MAX;

	*out = NULL;
	for (; mods && mods[n]; n++)
		if (hit == SIZE_MAX && is_named(mods[n], u))
			hit = n;
	if (hit != SIZE_MAX) {
		*out = mods[hit];
		mods[hit] = mods[n - 1]; /* the list no longer holds it */
		mods[n - 1] = NULL;
	}
	if (mods)
		p11_kit_modules_release(mods);
	if (*out)
		return KEK_OK;
	if (u->module_name[0])
		snprintf(err, KEK_ERR_MAX, "no PKCS#11 module named '%.60s' is "
			 "registered with p11-kit (p11-kit list-modules)",
			 u->module_name);
	else
		snprintf(err, KEK_ERR_MAX, "PKCS#11 module %.200s is not "
			 "registered with p11-kit, and the KEK URL was not "
			 "named by the operator: it is not loaded",
			 u->module_path);
	return u->module_name[0] ? KEK_E_NOTFOUND : KEK_E_INVAL;
}

enum kek_status p11mod_open(const struct p11uri *u, bool host_named,
			    CK_FUNCTION_LIST **out, char *desc, size_t cap,
			    char *err)
{
	CK_FUNCTION_LIST *m = NULL;
	enum kek_status st = KEK_OK;
	CK_RV rv;

	*out = NULL;
	if (!u->module_name[0] && !u->module_path[0]) {
		snprintf(err, KEK_ERR_MAX, "PKCS#11 URI names no module: add "
			 "?module-name=NAME (p11-kit list-modules) or "
			 "?module-path=/PATH");
		return KEK_E_INVAL;
	}
	if (u->module_name[0] || !host_named) {
		st = registered(u, &m, err);
	} else if (!(m = p11_kit_module_load(u->module_path, 0))) {
		snprintf(err, KEK_ERR_MAX, "cannot load PKCS#11 module %.200s: "
			 "%.200s", u->module_path, p11_kit_message());
		st = KEK_E_INVAL;
	}
	if (st != KEK_OK)
		return st;
	snprintf(desc, cap, "%s", u->module_name[0] ? u->module_name :
		 u->module_path);
	rv = p11_kit_module_initialize(m);
	if (rv != CKR_OK) {
		char what[300];

		snprintf(what, sizeof(what), "PKCS#11 module %.200s: "
			 "C_Initialize", desc);
		p11_kit_module_release(m);
		return p11err(rv, what, err);
	}
	*out = m;
	return KEK_OK;
}

enum kek_status p11mod_reinit(CK_FUNCTION_LIST *f, const char *token,
			      char *err)
{
	char what[96];
	CK_RV rv;

	/* Not initialized (an earlier C_Initialize failed) is fine here. */
	p11_kit_module_finalize(f);
	rv = p11_kit_module_initialize(f);
	if (rv == CKR_OK)
		return KEK_OK;
	snprintf(what, sizeof(what), "PKCS#11 token '%s': re-initializing "
		 "its module: C_Initialize", token);
	return p11err(rv, what, err);
}

void p11mod_close(CK_FUNCTION_LIST *f)
{
	if (!f)
		return;
	p11_kit_module_finalize(f);
	p11_kit_module_release(f);
}

/* True if a blank-padded CK_TOKEN_INFO label is token. */
static bool label_is(const unsigned char lab[32], const char *token)
{
	size_t n = 32;

	while (n && lab[n - 1] == ' ')
		n--;
	return strlen(token) == n && !memcmp(lab, token, n);
}

enum kek_status p11mod_slot(CK_FUNCTION_LIST *f, const char *token,
			    CK_SLOT_ID *slot, CK_FLAGS *flags, char *err)
{
	CK_SLOT_ID slots[SLOTS_MAX];
	CK_ULONG n = SLOTS_MAX;
	CK_TOKEN_INFO ti;
	int found = 0;
	CK_RV rv = f->C_GetSlotList(CK_TRUE, slots, &n);

	if (rv != CKR_OK)
		return p11err(rv, "PKCS#11 C_GetSlotList", err);
	for (CK_ULONG i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
		    !label_is(ti.label, token))
			continue;
		if (found++)
			break;
		*slot = slots[i];
		*flags = ti.flags;
	}
	if (found == 1)
		return KEK_OK;
	snprintf(err, KEK_ERR_MAX, found ? "more than one PKCS#11 token is "
		 "labelled '%s'" : "no PKCS#11 token labelled '%s' is present",
		 token);
	return found ? KEK_E_INVAL : KEK_E_NOTFOUND;
}
