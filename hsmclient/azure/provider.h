/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KEK provider for Azure Managed HSM and Azure Key Vault: the "https"
 * scheme of kek.h, for key URLs as url.h describes them. RSA keys wrap
 * locally with the cached public key; unwraps and all oct-key operations
 * go to the HSM. Like every provider, each call returns a kek_status and
 * on failure writes one line into err[KEK_ERR_MAX].
 */
#ifndef HSMFS_AZ_PROVIDER_H
#define HSMFS_AZ_PROVIDER_H

#include <stddef.h>

#include "hsmclient/kek.h"

#define AZ_DEADLINE_MS 15000
#define AZ_API_DEFAULT "7.4"

extern const struct kek_provider azure_provider;

/* Runs the key-bundle and unwrap-result parsers over an HSM answer, for
 * the fuzzer (the bytes are untrusted network input). */
enum kek_status azure_parse_answers(const char *body, size_t len, char *err);

#endif
