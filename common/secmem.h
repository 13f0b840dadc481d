/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Memory for secrets: keys, cipher contexts, tokens, client secrets.
 *
 * After secmem_init() the process is non-dumpable (no core dumps, no
 * ptrace or /proc/PID/mem by other processes of the same user) and
 * secmem_alloc() serves from OpenSSL's secure heap, which is mlock'ed and
 * excluded from core dumps. Before it (tests, short-lived tools) the same
 * calls serve ordinary memory. Either way memory is zeroed when handed
 * out and wiped when freed.
 */
#ifndef HSMFS_SECMEM_H
#define HSMFS_SECMEM_H

#include <stddef.h>

/* 0, or -1 with the reason in *why: also when the heap could be made
 * but not locked (then secmem_alloc serves unlocked memory). */
int secmem_init(size_t heap_size, const char **why);
/* Zeroed memory; NULL when out of memory. */
void *secmem_alloc(size_t n);
/* Wipes n bytes and frees; NULL is a no-op. */
void secmem_free(void *p, size_t n);
/* Wipes in a way the compiler cannot drop. */
void secmem_wipe(void *p, size_t n);
char *secmem_strdup(const char *s);
void secmem_strfree(char *s);

#endif
