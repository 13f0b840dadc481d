/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny HTTPS server answering canned bytes, for the faults a real HSM
 * (or the emulator) cannot produce: malformed or oversized JSON, a wrong
 * kid, a non-HTTP answer. It also serves a token endpoint, and counts
 * requests so a test can prove that a host was never contacted.
 * One connection at a time; every answer closes the connection.
 */
#ifndef HSMFS_TEST_FAKESRV_H
#define HSMFS_TEST_FAKESRV_H

#include <openssl/evp.h>
#include <openssl/x509.h>

struct fakesrv;

/* A self-signed certificate for 127.0.0.1/localhost; PEM of the cert is
 * written to cert_path (if non-NULL) for use as a CA file. */
int fake_make_cert(EVP_PKEY **key, X509 **cert, const char *cn,
		   const char *cert_path);

/* Starts a server with a fresh certificate written to ca_path. */
struct fakesrv *fake_start(const char *ca_path);
void fake_stop(struct fakesrv *s);
/* "https://127.0.0.1:PORT" */
const char *fake_base(const struct fakesrv *s);
/* Sets the raw bytes (status line, headers, body) answered to every
 * request that is not a token request; the server copies them. */
void fake_set_reply(struct fakesrv *s, const char *raw, size_t len);
/* Requests served (token requests included). */
unsigned fake_count(struct fakesrv *s);

#endif
