/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KEK provider for PKCS#11 HSMs: the "pkcs11" scheme of kek.h, for KEKs
 * named by RFC 7512 URIs (uri.h), reached through a module p11-kit
 * loads (module.h). RSA keys wrap locally with the public key and
 * unwrap in the HSM (RSA-OAEP, SHA-256, MGF1-SHA-256); AES keys wrap and
 * unwrap in the HSM (RFC 5649, CKM_AES_KEY_WRAP_PAD; or RFC 3394,
 * CKM_AES_KEY_WRAP, when kek_opts.alg is A256KW). Like every provider,
 * each call returns a kek_status and on failure writes one line into
 * err[KEK_ERR_MAX].
 */
#ifndef HSMFS_P11_PROVIDER_H
#define HSMFS_P11_PROVIDER_H

#include "hsmclient/kek.h"

#define P11_SESSIONS_DEFAULT 8

extern const struct kek_provider pkcs11_provider;

#endif
