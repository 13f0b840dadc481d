/* SPDX-License-Identifier: Apache-2.0 */
#include <math.h>
#include <string.h>

#include <openssl/crypto.h>

#include "json.h"

/* String member, NULL for anything else. */
const char *json_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* Integral, finite, in-range numbers only. */
int json_int(const cJSON *o, const char *k, int64_t lo, int64_t hi,
	     int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	double d;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v))
		return -1;
	d = v->valuedouble;
	if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi)
		return -1;
	*out = (int64_t)d;
	return 1;
}

/* Strict booleans: no 0/1 or "true". */
int json_bool(const cJSON *o, const char *k, int *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!v)
		return 0;
	if (!cJSON_IsBool(v))
		return -1;
	*out = cJSON_IsTrue(v);
	return 1;
}

/* Wipes strings of a whole tree (state and bodies hold secrets). */
void cjson_wipe(cJSON *j)
{
	for (; j; j = j->next) {
		if (j->valuestring)
			OPENSSL_cleanse(j->valuestring, strlen(j->valuestring));
		cjson_wipe(j->child);
	}
}

/* Compact text of a document, consuming it. */
char *json_take_text(cJSON *j)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	return s;
}
