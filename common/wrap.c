/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "wrap.h"

static const char *const alg_names[] = {
	[KEK_ALG_RSA_OAEP_256] = "RSA-OAEP-256",
	[KEK_ALG_A256KW] = "A256KW",
	[KEK_ALG_AES_KW_PAD] = "CKM_AES_KEY_WRAP_PAD",
	[KEK_ALG_WK_SIV] = "HSMFS-WK-AES-SIV",
};

const char *kek_alg_name(enum kek_alg alg)
{
	if (alg <= KEK_ALG_NONE || alg > KEK_ALG_WK_SIV)
		return "none";
	return alg_names[alg];
}

enum kek_alg kek_alg_from_name(const char *name)
{
	for (int a = KEK_ALG_RSA_OAEP_256; a <= KEK_ALG_WK_SIV; a++)
		if (strcmp(alg_names[a], name) == 0)
			return (enum kek_alg)a;
	return KEK_ALG_NONE;
}
