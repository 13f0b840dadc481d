/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HSM's security domain secret, and everything sealed under it.
 *
 * The secret (a 16-byte domain id and a 32-byte key) is what a security
 * domain file carries. An HSM gets it when it is activated (a new one) or
 * recovered (an uploaded one) and keeps it in DIR/domain.key (0600), which
 * stands in for the HSM's hardware: a real HSM never lets it out. Until
 * then the HSM is provisioned, not activated, and holds no keys.
 *
 * state.json and every full backup are sealed under keys derived from the
 * secret (HKDF-SHA-256, then AES-256-GCM), so neither is of any use without
 * the security domain. Functions returning int give 0 or -1.
 */
#ifndef HSMEMU_DOMAIN_H
#define HSMEMU_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define DOMAIN_SECRET_LEN 48    /* domain id (16), then the key (32) */

/* Loads DIR/domain.key if there is one; with activate, makes a new
 * domain when there is none (the one-command start of tests). */
int domain_open(int activate);
void domain_close(void);
/* 1 once the HSM has a security domain. */
int domain_active(void);
/* "Active" or "NotActivated", as ARM reports activationStatus. */
const char *domain_status(void);
/* The active domain's id as a GUID; "" if none. */
void domain_id(char out[37]);
/* A new domain's secret (activation). */
int domain_generate(uint8_t s[DOMAIN_SECRET_LEN]);
/* Makes s this HSM's domain and persists it; the caller then saves the
 * state (sealed from now on) under the store lock. */
int domain_install(const uint8_t s[DOMAIN_SECRET_LEN]);

/* {"format":2,"security_domain":"<id>","sealed":"<nonce|ct|tag>"} of doc
 * under the key for purpose; doc is not consumed. */
cJSON *domain_seal(const cJSON *doc, const char *purpose);
/* The document inside; NULL with a reason in err if the envelope is of
 * another domain, of no domain while this HSM has one, or fails to open. */
cJSON *domain_unseal(const cJSON *env, const char *purpose, char *err,
		     size_t errcap);

/* state.json text: sealed once active, plain before. */
char *domain_state_text(const cJSON *doc);
/* The state document from state.json's parsed text (consumed); NULL if
 * it is sealed and cannot be opened (logged). */
cJSON *domain_state_open(cJSON *doc);

#endif
