/* SPDX-License-Identifier: Apache-2.0 */
/* The KEK providers linked into the shipped binary. */
#include "kek.h"
#include "azure/provider.h"
#include "pkcs11/provider.h"

const struct kek_provider *const kek_providers[] = { &azure_provider,
						     &pkcs11_provider, NULL };
