/* SPDX-License-Identifier: Apache-2.0 */
/* cJSON helpers for untrusted answers that may hold secrets. */
#include <limits.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "common/parse.h"
#include "hsmclient/azure/json.h"
#include "hsmclient/azure/text.h"

cJSON *json_parse(const char *body, size_t len)
{
	return body && len ? cJSON_ParseWithLength(body, len) : NULL;
}

/* Wipes the strings of j, its siblings and all their children. */
static void json_wipe(cJSON *j)
{
	for (; j; j = j->next) {
		json_wipe(j->child);
		if (j->valuestring)
			OPENSSL_cleanse(j->valuestring, strlen(j->valuestring));
		if (j->string)
			OPENSSL_cleanse(j->string, strlen(j->string));
	}
}

void json_wipe_delete(cJSON *j)
{
	if (!j)
		return;
	json_wipe(j->child);
	if (j->valuestring)
		OPENSSL_cleanse(j->valuestring, strlen(j->valuestring));
	cJSON_Delete(j);
}

void json_text(const cJSON *o, const char *name, char *out, size_t cap)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	out[0] = '\0';
	if (cJSON_IsString(v))
		text_line(out, cap, v->valuestring);
}

long long json_num(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	uint64_t n;

	if (cJSON_IsNumber(v))
		return v->valuedouble >= 0 && v->valuedouble < 1e12 ?
			       (long long)v->valuedouble : -1;
	if (!cJSON_IsString(v) ||
	    parse_u64(v->valuestring, LLONG_MAX, &n) != 0)
		return -1;
	return (long long)n;
}
