/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cJSON helpers for answers from the network. Answers may carry secrets
 * (access tokens, unwrapped keys): a parsed tree is freed with
 * json_wipe_delete(), never cJSON_Delete(). No status: a malformed answer
 * is a NULL tree or a missing field, which the caller turns into a
 * kek_status and its error line.
 */
#ifndef HSMFS_AZ_JSON_H
#define HSMFS_AZ_JSON_H

#include <stddef.h>

struct cJSON;

/* Parses len bytes of body; NULL if empty or malformed. */
struct cJSON *json_parse(const char *body, size_t len);
/* Wipes every string of the tree, then frees it. NULL is a no-op. */
void json_wipe_delete(struct cJSON *j);
/* Member name of o, if a string, made fit for one line (text_line());
 * "" otherwise. o may be NULL or not an object. */
void json_text(const struct cJSON *o, const char *name, char *out,
	       size_t cap);
/* Member name of o as a whole non-negative number: a JSON number below
 * 1e12, or a decimal string (IMDS sends those); -1 otherwise. */
long long json_num(const struct cJSON *o, const char *name);

#endif
