/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the token's user PIN comes from; the first of these that gives
 * one is used:
 *   1. the URI's pin-source= (a file holding the PIN), only when the
 *      operator named the URI (kek_opts.host_named): an untrusted config
 *      does not choose which of this machine's files are read;
 *   2. the credential file (kek_opts.credential_file): a PKCS11_PIN=
 *      line (the value maybe in one pair of quotes), '#' comments;
 *   3. the systemd credential pkcs11-pin ($CREDENTIALS_DIRECTORY).
 * Never the URI itself (pin-value= is refused by uri.h) nor the
 * environment. Files must be readable by their owner (root or the
 * caller) only (common/cfile.h); a trailing newline is dropped. The PIN
 * lives in secure memory. Calls return a kek_status and on failure write
 * one line into err[KEK_ERR_MAX].
 */
#ifndef HSMFS_P11_PIN_H
#define HSMFS_P11_PIN_H

#include "hsmclient/kek.h"
#include "hsmclient/pkcs11/uri.h"

#define P11_PIN_MAX 256

/* *pin: the PIN (secmem_strfree it), or NULL when no source gives one. */
enum kek_status p11pin_get(const struct p11uri *u, const struct kek_opts *o,
			   char **pin, char *err);

#endif
