/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "fit.h"
#include "log.h"

static int to_syslog;
static int log_fd = -1;
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

int log_open_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
			    O_CLOEXEC, 0600);
	const char *why = NULL;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) != 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if ((st.st_mode & 077) && fchmod(fd, 0600) != 0)
		why = strerror(errno);
	if (!why)
		return fd;
	fit_fmt(err, errlen, "log file %s: %s", path, why);
	if (fd >= 0)
		close(fd);
	return -1;
}

void log_to_fd(int fd)
{
	log_fd = fd;
	to_syslog = 0;
}

static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
static const char *const lvl_name[] = { "error", "warning", "info", "debug" };

/* "2026-11-30T01:50:47.994Z hsmfs[16675]: error: " */
static int file_prefix(char *out, size_t n, enum log_level lvl)
{
	struct timespec ts;
	struct tm tm;
	char t[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	return snprintf(out, n, "%s.%03ldZ %s[%d]: %s: ", t,
			ts.tv_nsec / 1000000, log_ident, (int)getpid(),
			lvl_name[lvl]);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[2048], out[2200];
	va_list ap;
	int n;

	if (lvl > max_level)
		return;
	va_start(ap, fmt);
	fit_vfmt(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (to_syslog) {
		syslog(syslog_prio[lvl], "%s: %s", lvl_name[lvl], line);
		return;
	}
	if (log_fd >= 0)
		n = file_prefix(out, sizeof(out), lvl);
	else
		n = snprintf(out, sizeof(out), "%s: %s: ", log_ident,
			     lvl_name[lvl]);
	n += snprintf(out + n, sizeof(out) - (size_t)n, "%s\n", line);
	/* One write per line so that concurrent threads never interleave. */
	pthread_mutex_lock(&log_lock);
	(void)!write(log_fd >= 0 ? log_fd : 2, out, (size_t)n);
	pthread_mutex_unlock(&log_lock);
}
