/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static int to_syslog;
static enum log_level max_level = LOG_LVL_INFO;
static const char *log_ident = "hsmfs";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_init(const char *ident, int use_syslog, enum log_level max)
{
	log_ident = ident;
	to_syslog = use_syslog;
	max_level = max;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
static const char *const lvl_name[] = { "error", "warning", "info", "debug" };

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (lvl > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (to_syslog) {
		syslog(syslog_prio[lvl], "%s: %s", lvl_name[lvl], line);
		return;
	}
	/* One write per line so that concurrent threads never interleave. */
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s: %s: %s\n", log_ident, lvl_name[lvl], line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}
