/* SPDX-License-Identifier: Apache-2.0 */
/* Non-2xx HSM answers as a kek_status and one operator-usable line. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/fit.h"
#include "hsmclient/azure/err.h"
#include "hsmclient/azure/json.h"
#include "hsmclient/azure/text.h"

static const char *const op_verb[] = { "get", "wrapkey", "unwrapkey",
				       "token" };

/* prefix ": " msg suffix, shortening msg (at a word) so that suffix
 * always fits. */
static void compose(char *err, const char *prefix, const char *msg,
		    const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix), room;
	char m[KEK_ERR_MAX];

	if (!msg[0]) {
		snprintf(err, KEK_ERR_MAX, "%s%s", prefix, suffix);
		return;
	}
	room = pl + sl + 2 < KEK_ERR_MAX - 1 ? KEK_ERR_MAX - 1 - pl - sl - 2 : 0;
	fit_str(m, room + 1 < sizeof(m) ? room + 1 : sizeof(m), msg);
	snprintf(err, KEK_ERR_MAX, "%s: %s%s", prefix, m, suffix);
}

/* Data action and roles that allow op, for a 403 hint. */
static void role_hint(int op, bool vault, char *out, size_t cap)
{
	static const char *const act[] = { "read", "wrap", "unwrap" };
	const char *a = op >= KEK_OP_GET && op <= KEK_OP_UNWRAP ? act[op] : "read";

	if (vault)
		snprintf(out, cap, "; the caller needs data action "
			 "Microsoft.KeyVault/vaults/keys/%s%s, granted by roles "
			 "'Key Vault Crypto Service Encryption User' or "
			 "'Key Vault Crypto User'", a,
			 op == KEK_OP_GET ? "" : "/action");
	else
		snprintf(out, cap, "; the caller needs data action "
			 "Microsoft.KeyVault/managedHsm/keys/%s/action, granted "
			 "by roles 'Managed HSM Crypto Service Encryption User' "
			 "or 'Managed HSM Crypto User'%s", a,
			 op == KEK_OP_GET ? " (or 'Managed HSM Crypto Auditor')"
					  : "");
}

/* Quoted parameter p="..." of a WWW-Authenticate value. */
static void auth_param(const char *v, const char *p, char *out, size_t cap)
{
	const char *s = strstr(v, p), *e;

	out[0] = '\0';
	if (!s || s[strlen(p)] != '=' || s[strlen(p) + 1] != '"')
		return;
	s += strlen(p) + 2;
	e = strchr(s, '"');
	if (e)
		snprintf(out, cap, "%.*s", (int)(e - s), s);
}

/* What an error answer says: its code, inner code and message, each
 * made fit for one line. */
struct answer {
	char code[48], inner[48], msg[KEK_ERR_MAX];
	char cd[100]; /* "code/inner", or what stands in for it */
};

static void read_answer(long status, const char *body, size_t len,
			struct answer *a)
{
	cJSON *j = json_parse(body, len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");

	json_text(e, "code", a->code, sizeof(a->code));
	json_text(e, "message", a->msg, sizeof(a->msg));
	json_text(cJSON_GetObjectItemCaseSensitive(e, "innererror"), "code",
		  a->inner, sizeof(a->inner));
	/* 401 bodies are often empty or HTML: the hint comes from
	 * WWW-Authenticate instead. */
	if (!cJSON_IsObject(e) && len && status != 401)
		snprintf(a->msg, sizeof(a->msg), "(response is not an Azure "
			 "error body)");
	json_wipe_delete(j);
	if (a->inner[0])
		snprintf(a->cd, sizeof(a->cd), "%s/%s", a->code, a->inner);
	else
		snprintf(a->cd, sizeof(a->cd), "%s",
			 a->code[0] ? a->code : "no error code");
}

enum kek_status azure_http_error(int op, const char *key, long status,
				 const char *body, size_t len,
				 const char *www_auth, unsigned retry_after_ms,
				 bool vault, char err[KEK_ERR_MAX])
{
	char prefix[KEK_ERR_MAX], suffix[KEK_ERR_MAX] = "", res[96];
	const char *verb = op >= 0 && op <= KEK_OP_TOKEN ? op_verb[op] : "call";
	const char *code, *inner, *cd;
	struct answer a;
	enum kek_status st;

	read_answer(status, body, len, &a);
	code = a.code;
	inner = a.inner;
	cd = a.cd;
	switch (status) {
	case 400:
		st = KEK_E_INVAL;
		snprintf(prefix, sizeof(prefix), "HSM rejected %s on key %.60s "
			 "as invalid (%s)", verb, key, cd);
		break;
	case 401:
		st = KEK_E_AUTH;
		snprintf(prefix, sizeof(prefix), "HSM refused the access token "
			 "for %s on key %.60s (401 %s)", verb, key,
			 code[0] ? code : "Unauthorized");
		auth_param(www_auth ? www_auth : "", "resource", res, sizeof(res));
		text_line(res, sizeof(res), res);
		if (res[0])
			snprintf(suffix, sizeof(suffix), "; the HSM expects "
				 "tokens for resource %s", res);
		break;
	case 403:
		st = KEK_E_FORBIDDEN;
		snprintf(prefix, sizeof(prefix), "HSM refused %s on key %.60s "
			 "(%s)", verb, key, code[0] ? cd : "Forbidden");
		if (!inner[0] || strncmp(inner, "ForbiddenBy", 11) == 0)
			role_hint(op, vault, suffix, sizeof(suffix));
		break;
	case 404:
		st = KEK_E_NOTFOUND;
		snprintf(prefix, sizeof(prefix), "HSM has no key %.60s or not "
			 "that version (%s)", key, cd);
		break;
	case 429:
		st = KEK_E_THROTTLED;
		snprintf(prefix, sizeof(prefix), "HSM throttled %s on key %.60s "
			 "(%s)", verb, key, cd);
		if (retry_after_ms)
			snprintf(suffix, sizeof(suffix), "; Retry-After %u s",
				 (retry_after_ms + 999) / 1000);
		break;
	default:
		st = status >= 500 ? KEK_E_UNAVAILABLE :
		     status >= 400 ? KEK_E_INVAL : KEK_E_PROTOCOL;
		snprintf(prefix, sizeof(prefix), "HSM %s on key %.60s failed "
			 "with HTTP %ld (%s)", verb, key, status, cd);
		break;
	}
	compose(err, prefix, a.msg, suffix);
	return st;
}
