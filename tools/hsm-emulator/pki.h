/* SPDX-License-Identifier: Apache-2.0 */
/* The emulator's own CA and TLS server certificate, kept in the state dir. */
#ifndef HSMEMU_PKI_H
#define HSMEMU_PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * Loads DIR/ca.pem + ca.key and DIR/server.pem + server.key, creating them
 * on first start (or re-issuing the server certificate if it no longer
 * covers host or is about to expire). Returns malloc'd PEM strings for the
 * TLS library; the caller wipes and frees the key.
 */
int pki_ensure(const char *host, char **cert_pem, char **key_pem);
/* PEM text of a private key (key) or else a certificate; malloc'd, the
 * caller wipes a key's. */
char *pki_pem(EVP_PKEY *key, X509 *crt);
/* A self-signed certificate of key (not a CA), or NULL. */
X509 *pki_self_signed(EVP_PKEY *key, const char *cn, int days);

#endif
