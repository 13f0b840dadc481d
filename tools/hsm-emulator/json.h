/* SPDX-License-Identifier: Apache-2.0 */
/* Defensive accessors for untrusted cJSON documents. */
#ifndef HSMEMU_JSON_H
#define HSMEMU_JSON_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* String member or NULL if absent or not a string. */
const char *json_str(const cJSON *o, const char *k);
/* Integer member in [lo,hi]: 1 found, 0 absent/null, -1 wrong type/range. */
int json_int(const cJSON *o, const char *k, int64_t lo, int64_t hi,
	     int64_t *out);
/* Boolean member: 1 found, 0 absent, -1 wrong type. */
int json_bool(const cJSON *o, const char *k, int *out);
/* Overwrites every string in a document before it is freed. */
void cjson_wipe(cJSON *j);
/* Unformatted text of j, then j is freed. NULL on failure. */
char *json_take_text(cJSON *j);

#endif
