/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One log line per event, to stderr (foreground), syslog (daemon) or a
 * file of the operator's (-o log=PATH: each line with its time and level).
 * Never pass key material, tokens or secrets to these functions.
 */
#ifndef HSMFS_LOG_H
#define HSMFS_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *ident, int use_syslog, enum log_level max);
/* Opens path to append log lines to (created 0600; an existing file is
 * made 0600 too): the fd, or -1 with err. Open it before daemonizing,
 * so that the operator sees why it cannot be. */
int log_open_file(const char *path, char *err, size_t errlen);
/* From now on, lines go to fd (from log_open_file), timestamped. */
void log_to_fd(int fd);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
