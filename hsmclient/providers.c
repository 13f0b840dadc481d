/* SPDX-License-Identifier: Apache-2.0 */
/* The KEK providers linked into the shipped binary. */
#include "kek.h"
#include "azure/provider.h"

const struct kek_provider *const kek_providers[] = { &azure_provider, NULL };
