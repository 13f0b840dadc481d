/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/log.h"
#include "crypto/blk.h"
#include "common/clock.h"
#include "ctl.h"
#include "fs/vol/mnt.h"
#include "follow.h"
#include "kekcheck.h"

static int srv_fd = -1;
static pthread_t srv_thread;
static char srv_path[108];

/* volume-wrap: the KEK that opened the volume (and re-validates it),
 * and the config's escrow KEKs. */
static void escrow_status(struct vol *v, FILE *f)
{
	char by[HDR_KID_MAX + 1];
	bool esc = vol_opened_by(v, by);

	fprintf(f, "opened by:   %s%s\n", by, esc ? " (escrow KEK: the "
		"volume's KEK could not be used)" : "");
	pthread_mutex_lock(&v->kek_lock);
	for (int i = 0; i < v->conf.nescrow; i++)
		fprintf(f, "escrow kek:  %s\n", v->conf.escrow[i].kek);
	pthread_mutex_unlock(&v->kek_lock);
}

/* Who wraps file keys (and whether a conversion between the modes is
 * unfinished), and for volume-wrap how the KEK's last re-validation
 * went. */
static void wrap_status(struct fsd *fs, FILE *f)
{
	struct vol *v = &fs->vol;
	long long at = atomic_load(&v->checked_ms);
	bool revoked;

	if (!vol_volume_wrap(v)) {
		fprintf(f, "wrap:        file (each file key wrapped by the "
			   "KEK)\n");
		return;
	}
	pthread_rwlock_rdlock(&v->wk_lock);
	revoked = v->revoked;
	pthread_rwlock_unlock(&v->wk_lock);
	fprintf(f, "wrap:        volume (wrapping key generation %u%s)\n",
		vol_wk_current(v), revoked ? "; KEK REVOKED: keys wiped" : "");
	if (vol_converting(v)) {
		const char *to = v->conf.conversion == CONF_CONV_TO_VOLUME ?
				 "volume" : "file";

		fprintf(f, "conversion:  to %s mode, unfinished: file keys "
			   "wrapped locally or by the KEK (unmount and run "
			   "hsmfs rekey --to-wrap %s to finish)\n", to, to);
	}
	escrow_status(v, f);
	fprintf(f, "kek check:   %llu re-validations (%llu failed), last "
		   "good %lld s ago; %llu file keys unwrapped locally\n",
		(unsigned long long)v->checks,
		(unsigned long long)v->check_failures,
		((long long)clock_ms() - at) / 1000,
		(unsigned long long)v->local_unwraps);
}

/* How long the mount has served, and the options it runs with. */
static void run_status(struct fsd *fs, FILE *f)
{
	fprintf(f, "uptime:      %llu s\n",
		(unsigned long long)((clock_ms() - fs->started_ms) / 1000));
	fprintf(f, "options:     %s\n", fs->opts_text ? fs->opts_text : "-");
}

/* What both answers to a status request report: the cache's and the
 * KEK's counters, and the KEK URL (which a reload may change meanwhile). */
static void stats_of(struct fsd *fs, struct dekcache_stats *cs,
		     struct kek_stats *ks, char kek[sizeof(fs->vol.conf.kek)])
{
	dekcache_stats(fs->vol.cache, cs);
	kek_stats(vol_kek(&fs->vol), ks);
	pthread_mutex_lock(&fs->vol.kek_lock);
	snprintf(kek, sizeof(fs->vol.conf.kek), "%s", fs->vol.conf.kek);
	pthread_mutex_unlock(&fs->vol.kek_lock);
}

/* Formats the answer to "status". */
static void status(struct fsd *fs, FILE *f)
{
	struct dekcache_stats cs;
	struct kek_stats ks;
	static const char *const ops[] = { "get", "wrap", "unwrap", "token" };

	char kek[sizeof(fs->vol.conf.kek)], fpr[PIN_FPR_TEXT];

	stats_of(fs, &cs, &ks, kek);
	fprintf(f, "volume:      %s\n", fs->vol.cipherdir);
	fprintf(f, "kek:         %s\n", kek);
	if (vol_fingerprint(&fs->vol, fpr) == 0)
		fprintf(f, "fingerprint: %s\n", fpr);
	fprintf(f, "hsm:         %s\n", ks.endpoint[0] ? ks.endpoint : "-");
	for (int i = 0; i < KEK_ABOUT_MAX && ks.about[i].key[0]; i++)
		fprintf(f, "%-12s %s\n", ks.about[i].label, ks.about[i].value);
	wrap_status(fs, f);
	follow_status(f);
	fprintf(f, "inodes:      %zu known to the kernel\n", fs->ninodes);
	pthread_mutex_lock(&fs->fds.lock);
	fprintf(f, "descriptors: %zu of inodes (at most %zu%s), %u open files "
		   "and directories\n", fs->fds.cached, fs->fds.max,
		fs->fds.handles ? "" : "; no file handles: one per inode",
		atomic_load(&fs->fds.open));
	pthread_mutex_unlock(&fs->fds.lock);
	fprintf(f, "dek cache:   %u/%u entries, max age %u s, %llu hits, "
		   "%llu misses, %llu evictions, %llu expired, %llu flushes\n",
		cs.entries, cs.max_entries, cs.max_age_s, cs.hits, cs.misses,
		cs.evictions, cs.expirations, cs.flushes);
	fprintf(f, "unwraps:     %llu (%llu failed), wraps %llu\n",
		(unsigned long long)fs->vol.unwraps,
		(unsigned long long)fs->vol.unwrap_errors,
		(unsigned long long)fs->vol.wraps);
	/* "token": Entra access tokens, which a PKCS#11 KEK never asks. */
	for (int i = 0; i < (ks.no_tokens ? 3 : 4); i++)
		fprintf(f, "hsm %-7s  %llu ok, %llu client errors, %llu server "
			   "errors\n", ops[i], ks.calls[i][KEK_OUT_OK],
			ks.calls[i][KEK_OUT_CLIENT_ERR],
			ks.calls[i][KEK_OUT_SERVER_ERR]);
	fprintf(f, "prefetched:  %llu keys unwrapped ahead (%llu failed)\n",
		(unsigned long long)fs->prefetched,
		(unsigned long long)fs->prefetch_failed);
	fprintf(f, "hsm retries: %llu\n", ks.retries);
	fprintf(f, "hsm latency: p50 %u ms, p90 %u ms, p99 %u ms\n",
		ks.lat_p50_ms, ks.lat_p90_ms, ks.lat_p99_ms);
	fprintf(f, "last error:  %s\n", ks.last_error[0] ? ks.last_error : "-");
	run_status(fs, f);
}

/* ---- status --json ------------------------------------------------------ */

/* Adds key: n, a counter (JSON numbers are exact to 2^53). */
static void jnum(cJSON *o, const char *key, double n)
{
	cJSON_AddNumberToObject(o, key, n);
}

static cJSON *jobj(cJSON *o, const char *key)
{
	return cJSON_AddObjectToObject(o, key);
}

/* "wrap": who wraps file keys, and for volume-wrap the KEK that opened
 * the volume, its escrow KEKs and the last re-validation. */
static void wrap_json(struct fsd *fs, cJSON *j)
{
	struct vol *v = &fs->vol;
	char by[HDR_KID_MAX + 1];
	cJSON *w = jobj(j, "wrap"), *esc;
	bool revoked, escrow;

	cJSON_AddStringToObject(w, "mode", vol_volume_wrap(v) ? "volume"
							     : "file");
	if (vol_converting(v))
		cJSON_AddStringToObject(w, "conversion",
					conf_conversion_name(v->conf.conversion));
	else
		cJSON_AddNullToObject(w, "conversion");
	if (!vol_volume_wrap(v))
		return;
	pthread_rwlock_rdlock(&v->wk_lock);
	revoked = v->revoked;
	pthread_rwlock_unlock(&v->wk_lock);
	jnum(w, "generation", vol_wk_current(v));
	cJSON_AddBoolToObject(w, "revoked", revoked);
	escrow = vol_opened_by(v, by);
	cJSON_AddStringToObject(w, "opened_by", by);
	cJSON_AddBoolToObject(w, "opened_by_escrow", escrow);
	esc = cJSON_AddArrayToObject(w, "escrow_keks");
	pthread_mutex_lock(&v->kek_lock);
	for (int i = 0; i < v->conf.nescrow; i++)
		cJSON_AddItemToArray(esc,
				     cJSON_CreateString(v->conf.escrow[i].kek));
	pthread_mutex_unlock(&v->kek_lock);
	jnum(w, "kek_checks", (double)v->checks);
	jnum(w, "kek_check_failures", (double)v->check_failures);
	jnum(w, "last_good_check_s",
	     (double)(((long long)clock_ms() - atomic_load(&v->checked_ms)) /
		      1000));
	jnum(w, "local_unwraps", (double)v->local_unwraps);
}

/* "hsm": the KEK's calls by operation and outcome, retries, latency. */
static void hsm_json(const struct kek_stats *ks, cJSON *j)
{
	static const char *const ops[] = { "get", "wrap", "unwrap", "token" };
	cJSON *h = jobj(j, "hsm"), *calls, *lat;

	if (ks->endpoint[0])
		cJSON_AddStringToObject(h, "endpoint", ks->endpoint);
	else
		cJSON_AddNullToObject(h, "endpoint");
	calls = jobj(h, "calls");
	for (int i = 0; i < 4; i++) {
		cJSON *op = jobj(calls, ops[i]);

		const unsigned long long *n = ks->calls[i];

		jnum(op, "ok", (double)n[KEK_OUT_OK]);
		jnum(op, "client_error", (double)n[KEK_OUT_CLIENT_ERR]);
		jnum(op, "server_error", (double)n[KEK_OUT_SERVER_ERR]);
	}
	if (ks->about[0].key[0]) {
		cJSON *p = jobj(h, "pkcs11");

		for (int i = 0; i < KEK_ABOUT_MAX && ks->about[i].key[0]; i++)
			cJSON_AddStringToObject(p, ks->about[i].key,
						ks->about[i].value);
	}
	jnum(h, "retries", (double)ks->retries);
	lat = jobj(h, "latency_ms");
	jnum(lat, "p50", ks->lat_p50_ms);
	jnum(lat, "p90", ks->lat_p90_ms);
	jnum(lat, "p99", ks->lat_p99_ms);
	if (ks->last_error[0])
		cJSON_AddStringToObject(h, "last_error", ks->last_error);
	else
		cJSON_AddNullToObject(h, "last_error");
}

static void cache_json(const struct dekcache_stats *cs, cJSON *j)
{
	cJSON *c = jobj(j, "dek_cache");

	jnum(c, "entries", cs->entries);
	jnum(c, "max_entries", cs->max_entries);
	jnum(c, "max_age_s", cs->max_age_s);
	jnum(c, "hits", (double)cs->hits);
	jnum(c, "misses", (double)cs->misses);
	jnum(c, "evictions", (double)cs->evictions);
	jnum(c, "expired", (double)cs->expirations);
	jnum(c, "flushes", (double)cs->flushes);
}

static void files_json(struct fsd *fs, cJSON *j)
{
	cJSON *d = jobj(j, "descriptors");

	jnum(j, "inodes", (double)fs->ninodes);
	pthread_mutex_lock(&fs->fds.lock);
	jnum(d, "cached", (double)fs->fds.cached);
	jnum(d, "max", (double)fs->fds.max);
	cJSON_AddBoolToObject(d, "file_handles", fs->fds.handles);
	jnum(j, "open_files", atomic_load(&fs->fds.open));
	pthread_mutex_unlock(&fs->fds.lock);
}

/* The answer to "status-json": what "status" says, as one JSON object
 * whose keys README.md lists (and keeps: scripts read them). */
static void status_json(struct fsd *fs, FILE *f)
{
	cJSON *j = cJSON_CreateObject(), *u;
	char kek[sizeof(fs->vol.conf.kek)], fpr[PIN_FPR_TEXT], *text;
	struct dekcache_stats cs;
	struct kek_stats ks;

	if (!j) {
		fprintf(f, "error: out of memory\n");
		return;
	}
	stats_of(fs, &cs, &ks, kek);
	cJSON_AddStringToObject(j, "volume", fs->vol.cipherdir);
	cJSON_AddStringToObject(j, "mountpoint",
				fs->mountpoint ? fs->mountpoint : "");
	jnum(j, "pid", getpid());
	jnum(j, "uptime_s", (double)((clock_ms() - fs->started_ms) / 1000));
	cJSON_AddStringToObject(j, "options", fs->opts_text ? fs->opts_text
							    : "");
	cJSON_AddStringToObject(j, "kek", kek);
	if (vol_fingerprint(&fs->vol, fpr) == 0)
		cJSON_AddStringToObject(j, "fingerprint", fpr);
	else
		cJSON_AddNullToObject(j, "fingerprint");
	wrap_json(fs, j);
	files_json(fs, j);
	cache_json(&cs, j);
	u = jobj(j, "keys");
	jnum(u, "unwraps", (double)fs->vol.unwraps);
	jnum(u, "unwrap_errors", (double)fs->vol.unwrap_errors);
	jnum(u, "wraps", (double)fs->vol.wraps);
	jnum(u, "prefetched", (double)fs->prefetched);
	jnum(u, "prefetch_failed", (double)fs->prefetch_failed);
	hsm_json(&ks, j);
	text = cJSON_Print(j);
	fprintf(f, "%s\n", text ? text : "{}");
	cJSON_free(text);
	cJSON_Delete(j);
}

/* ---- hsmfs path ---------------------------------------------------------- */

/* "backing-path PPATH" and "plain-path BPATH": the daemon holds the
 * volume key, so it maps paths for whoever may ask (root, its user, who
 * can read the backing directory and the mount anyway). The answer is
 * "ok " and the path (the backing one from the filesystem's root), or
 * "error: ...". */
static void path_request(struct fsd *fs, FILE *f, const char *arg,
			 bool to_backing)
{
	char out[PATH_MAX], err[PATH_MAX + 128];
	int r = to_backing ?
		vol_backing_path(&fs->vol, arg, out, sizeof(out), err,
				 sizeof(err)) :
		vol_plain_path(&fs->vol, arg, out, sizeof(out), err,
			       sizeof(err));

	if (r)
		fprintf(f, "error: %s\n", err);
	else if (to_backing)
		fprintf(f, "ok %s%s%s", fs->vol.cipherdir, out[0] ? "/" : "",
			out);
	else
		fprintf(f, "ok %s", out);
}

/* Whether the request read so far is whole: a path request ends where
 * the client shuts its side (a path may hold newlines); any other at its
 * first newline, since one (hold) keeps its side open for as long as it
 * lasts. */
static bool request_whole(const char *line, size_t got)
{
	if (!memchr(line, '\n', got))
		return false;
	return strncmp(line, "backing-path ", 13) != 0 &&
	       strncmp(line, "plain-path ", 11) != 0;
}

/* A request, as request_whole says where it ends, without the final
 * newline. Its length, -1, or -2 if it does not fit line (a path cut
 * short would be answered for another path). */
static ssize_t read_request(int c, char *line, size_t n)
{
	struct timeval tv = { .tv_sec = 2 };
	size_t got = 0;
	ssize_t r;
	char more;

	/* A client that never finishes must not stall the next one. */
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (got + 1 < n && (r = read(c, line + got, n - 1 - got)) > 0) {
		got += (size_t)r;
		line[got] = '\0';
		if (request_whole(line, got))
			break;
	}
	if (!got)
		return -1;
	if (got + 1 == n && !request_whole(line, got) &&
	    read(c, &more, 1) > 0)
		return -2;
	line[got] = '\0';
	if (line[got - 1] == '\n')
		line[--got] = '\0';
	return (ssize_t)got;
}

/* After a rekey: the config may name a new KEK (rekey --to) or the KEK a
 * new version; old KEKs stay usable for slots not yet rewrapped. */
static void reload(struct fsd *fs, FILE *f)
{
	char err[768];

	if (vol_reload(&fs->vol, err, sizeof(err)) != 0) {
		log_err("reload refused: %s", err);
		fprintf(f, "error: %s\n", err);
		return;
	}
	log_info("config reloaded: KEK %s", fs->vol.conf.kek);
	fprintf(f, "reloaded: KEK %s\n", fs->vol.conf.kek);
}

static void serve_one(struct fsd *fs, int c)
{
	char line[PATH_MAX + 32] = "";
	struct ucred cred;
	ssize_t got;
	socklen_t len = sizeof(cred);
	FILE *f;

	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    (cred.uid != 0 && cred.uid != geteuid()))
		return;
	if ((got = read_request(c, line, sizeof(line))) == -1 ||
	    !(f = fdopen(dup(c), "w")))
		return;
	if (got == -2) {
		fprintf(f, "error: request too long (at most %zu bytes)\n",
			sizeof(line) - 2);
	} else if (!strncmp(line, "backing-path ", 13)) {
		path_request(fs, f, line + 13, true);
	} else if (!strncmp(line, "plain-path ", 11)) {
		path_request(fs, f, line + 11, false);
	} else if (!strcmp(line, "status-json")) {
		status_json(fs, f);
	} else if (!strcmp(line, "status")) {
		status(fs, f);
	} else if (!strcmp(line, "flush")) {
		struct dekcache_stats st;

		dekcache_stats(fs->vol.cache, &st);
		dekcache_flush(fs->vol.cache);
		/* Threads' cipher contexts keep the schedule of the last
		 * file key they used, closed or not. */
		blk_wipe_all();
		log_info("DEK cache flushed on request (%u keys wiped)",
			 st.entries);
		fprintf(f, "flushed %u cached keys\n", st.entries);
		/* volume-wrap: a revocation drill asks the HSM at once. */
		if (vol_volume_wrap(&fs->vol)) {
			int r = kekcheck_now(fs);

			fprintf(f, "kek check: %s\n", r == 0 ? "ok" :
				r == 1 ? "refused: keys wiped" :
				"no answer: keys kept");
		}
	} else if (!strcmp(line, "hold")) {
		/* Answered by a thread of its own, for as long as it lasts. */
		follow_hold(dup(c));
	} else if (!strcmp(line, "reload")) {
		reload(fs, f);
	} else {
		fprintf(f, "error: unknown request\n");
	}
	fclose(f);
}

static void *serve(void *arg)
{
	struct fsd *fs = arg;
	int c;

	while ((c = accept4(srv_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0 ||
	       errno == EINTR || errno == ECONNABORTED) {
		if (c < 0)
			continue;
		serve_one(fs, c);
		close(c);
	}
	return NULL;
}

int ctl_start(struct fsd *fs, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	mode_t old;
	int err;

	snprintf(srv_path, sizeof(srv_path), "%s", path);
	mkdir(mnt_run_dir(dir, sizeof(dir)), 0700);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", srv_path);
	srv_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv_fd < 0)
		return -errno;
	unlink(srv_path);
	old = umask(0077);
	err = bind(srv_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (err || listen(srv_fd, 8) != 0 ||
	    pthread_create(&srv_thread, NULL, serve, fs) != 0) {
		err = -errno;
		close(srv_fd);
		srv_fd = -1;
		return err;
	}
	return 0;
}

void ctl_stop(void)
{
	if (srv_fd < 0)
		return;
	shutdown(srv_fd, SHUT_RDWR);
	pthread_join(srv_thread, NULL);
	close(srv_fd);
	unlink(srv_path);
	srv_fd = -1;
}
