/* SPDX-License-Identifier: Apache-2.0 */
/* "hsm-emulator ctl ...": setup commands that call the control API. */
#ifndef HSMEMU_CTL_H
#define HSMEMU_CTL_H

#include <stdio.h>

#include <cjson/cJSON.h>

#define MAX_ARGS 32

/* argv[0] is "ctl"; returns the process exit status. */
int ctl_main(int argc, char **argv);

/* Shared by the command files: the running emulator ctl talks to. */
struct ctl {
	char host[128];
	char port[8];
	char token[80];
};

/* Parsed command line: positional words and --flag value pairs (a flag
 * may repeat). */
struct args {
	int npos, nflags;
	const char *pos[MAX_ARGS];
	const char *flag[MAX_ARGS], *val[MAX_ARGS];
};

/* The first value of flag, or NULL. */
const char *ctl_arg(const struct args *a, const char *flag);
/* -1 (said on stderr) if a flag is not in the NULL-terminated known. */
int ctl_only_flags(const struct args *a, const char *const *known);
/* One request; the JSON answer of a 2xx, else NULL (message on stderr). */
cJSON *ctl_call(const struct ctl *c, const char *method, const char *path, cJSON *req);
/* A secret from a file or "-" (stdin); one trailing newline dropped. */
char *ctl_read_secret(const char *file);

/* ctl_admin.c: security domain, full backup and restore. */
void ctl_admin_usage(FILE *f);
/* 1 for the groups ctl_admin handles ("sd", "backup", "restore", "jobs"). */
int ctl_admin_group(const char *group);
int ctl_admin(const struct ctl *c, const struct args *a);
/* Offline officer steps: the exit status, or -1 if a is not one. */
int ctl_offline(const struct args *a);

#endif
