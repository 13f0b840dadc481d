/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>
#include <sys/prctl.h>

#include <openssl/crypto.h>

#include "secmem.h"

int secmem_init(size_t heap_size, const char **why)
{
	/* Non-dumpable also keeps other processes of the same user from
	 * ptrace-attaching and reading /proc/PID/mem. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		*why = "prctl(PR_SET_DUMPABLE) failed";
		return -1;
	}
	if (CRYPTO_secure_malloc_initialized())
		return 0;
	switch (CRYPTO_secure_malloc_init(heap_size, 32)) {
	case 1:
		return 0;
	case 2:
		/* The heap exists but mlock failed: keys would be in
		 * memory that can be swapped out. */
		*why = "cannot lock memory for keys (RLIMIT_MEMLOCK too low "
		       "and no CAP_IPC_LOCK)";
		return -1;
	default:
		*why = "cannot set up the secure heap for keys";
		return -1;
	}
}

void *secmem_alloc(size_t n)
{
	if (CRYPTO_secure_malloc_initialized())
		return OPENSSL_secure_zalloc(n);
	return OPENSSL_zalloc(n);
}

void secmem_free(void *p, size_t n)
{
	if (!p)
		return;
	if (CRYPTO_secure_allocated(p))
		OPENSSL_secure_clear_free(p, n);
	else
		OPENSSL_clear_free(p, n);
}

void secmem_wipe(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}

char *secmem_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = secmem_alloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

void secmem_strfree(char *s)
{
	if (s)
		secmem_free(s, strlen(s) + 1);
}
