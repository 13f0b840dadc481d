/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Entra-like discovery: the OpenID configuration of a tenant, the JWKS with
 * the key that signs the emulator's access tokens, and instance discovery,
 * so that MSAL-based clients (Azure Identity) find the token endpoint the
 * way they do on Entra. No authentication: the documents are public.
 */
#ifndef HSMEMU_OIDC_H
#define HSMEMU_OIDC_H

#include "http.h"

/* 1 and the reply filled if path is a discovery document. */
int oidc_handle(struct req *r, struct reply *rp);

#endif
