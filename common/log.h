/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One log line per event, to stderr (foreground) or syslog (daemon).
 * Never pass key material, tokens or secrets to these functions.
 */
#ifndef HSMFS_LOG_H
#define HSMFS_LOG_H

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *ident, int use_syslog, enum log_level max);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
