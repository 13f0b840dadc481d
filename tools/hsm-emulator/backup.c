/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>

#include "admin.h"
#include "backup.h"
#include "common/log.h"
#include "domain.h"
#include "json.h"
#include "keys.h"
#include "rbac.h"
#include "store.h"
#include "util.h"

#define MAX_JOBS 32             /* finished jobs whose status stays known */
#define BACKUP_MAX (64 * 1024 * 1024)
#define FOLDER_MAX 128
#define PURPOSE "backup"

struct job {
	char id[33];
	int restore;
	char status[16];        /* InProgress, Succeeded, Failed */
	char details[300];
	char code[32];          /* error code when Failed */
	int64_t start, end;
	char uri[800];          /* backup: container URI/folder */
	char dir[1200];         /* the folder */
};

/* Guards everything below (restoring is also read without it). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char root[512];
static struct job jobs[MAX_JOBS];
static size_t njobs;
static struct job *running;
static pthread_t thread;
static int thread_live, held, restoring;
/* The service restores only into an HSM with a completed backup. */
static int backed_up;

/* A directory of the blob tree: never a symlink; made 0700 if asked. */
static int real_dir(const char *path, int make)
{
	struct stat st;

	if (make && mkdir(path, 0700) && errno != EEXIST)
		return -1;
	return !lstat(path, &st) && S_ISDIR(st.st_mode) ? 0 : -1;
}

/* ROOT/ACCOUNT and ROOT/ACCOUNT/CONTAINER, both real directories. */
static int container_dirs(char *dir, int make)
{
	char *slash = strrchr(dir, '/');
	int rc;

	*slash = '\0';
	rc = real_dir(dir, make);
	*slash = '/';
	return rc || real_dir(dir, make) ? -1 : 0;
}

/* The root is the operator's choice, so it may be a symlink. */
int backup_set_root(const char *dir)
{
	struct stat st;

	if (snprintf(root, sizeof(root), "%s", dir) >= (int)sizeof(root) ||
	    stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		log_err("--blob-root %s is not a directory", dir);
		return -1;
	}
	return 0;
}

/* Storage account names: 3-24 lowercase letters and digits. */
static int account_ok(const char *s, size_t n)
{
	return n >= 3 && n <= 24 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789") >= n;
}

/* Container names: 3-63 of lowercase letters, digits and single hyphens,
 * beginning and ending with a letter or digit. */
static int container_ok(const char *s, size_t n)
{
	if (n < 3 || n > 63 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") < n ||
	    s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 1; i < n; i++)
		if (s[i] == '-' && s[i - 1] == '-')
			return 0;
	return 1;
}

/* https://ACCOUNT[.host]/CONTAINER[/] -> ROOT/ACCOUNT/CONTAINER, and the
 * URI without its trailing slash. */
static int container_of(const char *uri, char *dir, size_t cap, char *canon,
			size_t ccap, char *err, size_t ecap)
{
	const char *host, *slash, *c, *end;
	size_t alen, clen;

	if (!root[0]) {
		snprintf(err, ecap, "This emulator keeps no blob containers: start it with --blob-root DIR");
		return -1;
	}
	if (!uri || strncmp(uri, "https://", 8) || !(slash = strchr(uri + 8, '/')))
		goto bad;
	host = uri + 8;
	alen = strcspn(host, ".:/");
	c = slash + 1;
	clen = strcspn(c, "/");
	end = c + clen;
	if (!account_ok(host, alen) || !container_ok(c, clen) || (*end && strcmp(end, "/")) ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyz0123456789.-:") < (size_t)(slash - host))
		goto bad;
	if (snprintf(dir, cap, "%s/%.*s/%.*s", root, (int)alen, host, (int)clen, c) >= (int)cap ||
	    snprintf(canon, ccap, "%.*s", (int)(end - uri), uri) >= (int)ccap)
		goto bad;
	return 0;
bad:
	snprintf(err, ecap, "storageResourceUri must be https://<account>.blob.core.windows.net/<container> "
		 "(account: 3-24 lowercase letters and digits; container: 3-63 lowercase letters, digits and hyphens)");
	return -1;
}

/* SASTokenParameter: a token unless useManagedIdentity (neither is checked
 * against anything: the emulator's containers are local directories). */
static int sas_ok(const cJSON *p, char *dir, size_t cap, char *canon, size_t ccap,
		  char *err, size_t ecap)
{
	const char *tok = json_str(p, "token");
	int mi = 0;

	if (!cJSON_IsObject(p)) {
		snprintf(err, ecap, "The storage parameters must be a JSON object");
		return -1;
	}
	if (json_bool(p, "useManagedIdentity", &mi) < 0) {
		snprintf(err, ecap, "useManagedIdentity must be a boolean");
		return -1;
	}
	if (!mi && (!tok || !tok[0])) {
		snprintf(err, ecap, "token (a SAS token of the container) is required unless useManagedIdentity is true");
		return -1;
	}
	return container_of(json_str(p, "storageResourceUri"), dir, cap, canon, ccap, err, ecap);
}

/* Every key and version (deleted keys too), the custom role definitions
 * and the role assignments, sealed. */
static int do_backup(struct job *j, char *err, size_t cap)
{
	cJSON *inner = cJSON_CreateObject(), *env = NULL;
	char path[1300], ts[32], *text = NULL;
	int ret = -1;

	store_lock();
	if (inner && (!cJSON_AddItemToObject(inner, "keys", keys_to_json()) ||
		      !cJSON_AddItemToObject(inner, "role_definitions", rbac_roles_to_json()) ||
		      !cJSON_AddItemToObject(inner, "roles", rbac_to_json()))) {
		cjson_wipe(inner);
		cJSON_Delete(inner);
		inner = NULL;
	}
	store_unlock();
	if (!inner || !(env = domain_seal(inner, PURPOSE))) {
		snprintf(err, cap, "cannot seal the backup");
		goto out;
	}
	rfc3339_now(ts);
	cJSON_AddStringToObject(env, "kind", "hsm-emulator full backup");
	cJSON_AddStringToObject(env, "source", emu.base);
	cJSON_AddStringToObject(env, "created", ts);
	text = cJSON_Print(env);
	snprintf(path, sizeof(path), "%s/backup.json", j->dir);
	if (mkdir(j->dir, 0700))
		snprintf(err, cap, "cannot create the backup folder: %s", strerror(errno));
	else if (!text || write_file_atomic(path, text, strlen(text), 0600))
		snprintf(err, cap, "cannot write the backup");
	else
		ret = 0;
out:
	cjson_wipe(inner);
	cJSON_Delete(inner);
	cJSON_Delete(env);
	free(text);
	return ret;
}

/* Swaps in the backup's keys and assignments; the old ones come back if
 * the new ones do not load. Caller holds the store lock. */
static int replace_state(const cJSON *keys, const cJSON *roles)
{
	cJSON *ok = keys_to_json(), *orl = rbac_to_json();
	int ret = -1;

	if (!ok || !orl)
		goto out;
	keys_free_all();
	rbac_free_all();
	if (!keys_from_json(keys) && !rbac_from_json(roles)) {
		ret = 0;
		goto out;
	}
	keys_free_all();
	rbac_free_all();
	keys_from_json(ok);
	rbac_from_json(orl);
out:
	cjson_wipe(ok);
	cJSON_Delete(ok);
	cJSON_Delete(orl);
	return ret;
}

/* "Everything currently stored in the HSM will be wiped out": keys and
 * role assignments become the backup's (clients are Entra's, not the
 * HSM's, and stay). */
static int do_restore(struct job *j, char *err, size_t cap)
{
	char path[1300], why[300], *buf = NULL;
	size_t len = 0;
	struct stat st;
	cJSON *env = NULL, *inner = NULL;
	const cJSON *keys, *roles;
	int ret = -1;

	snprintf(path, sizeof(path), "%s/backup.json", j->dir);
	if (lstat(path, &st) || !S_ISREG(st.st_mode) || read_file(path, &buf, &len, BACKUP_MAX) ||
	    !(env = cJSON_ParseWithLength(buf, len))) {
		snprintf(err, cap, "The folder holds no readable backup");
		goto out;
	}
	if (!(inner = domain_unseal(env, PURPOSE, why, sizeof(why)))) {
		snprintf(err, cap, "The backup cannot be restored: %s", why);
		goto out;
	}
	keys = cJSON_GetObjectItemCaseSensitive(inner, "keys");
	roles = cJSON_GetObjectItemCaseSensitive(inner, "roles");
	store_lock();
	/* Custom role definitions first: the assignments may name them. */
	ret = cJSON_IsArray(keys) && cJSON_IsArray(roles) &&
	      !rbac_roles_from_json(cJSON_GetObjectItemCaseSensitive(inner, "role_definitions")) &&
	      !replace_state(keys, roles) && !store_save() ? 0 : -1;
	store_unlock();
	if (ret)
		snprintf(err, cap, "The backup's keys or role assignments do not load");
out:
	if (buf)
		OPENSSL_cleanse(buf, len);
	free(buf);
	cJSON_Delete(env);
	cjson_wipe(inner);
	cJSON_Delete(inner);
	return ret;
}

/* The job thread: waits while held, runs, records the outcome. */
static void *run(void *arg)
{
	struct job *j = arg;
	struct timespec ts = { 0, 20 * 1000000L };
	char err[300] = "";
	int rc, wait = 1;

	while (wait && !emu_stopping) {
		pthread_mutex_lock(&lock);
		wait = held;
		pthread_mutex_unlock(&lock);
		if (wait)
			nanosleep(&ts, NULL);
	}
	if (emu_stopping) {
		snprintf(err, sizeof(err), "The emulator stopped");
		rc = -1;
	} else {
		rc = j->restore ? do_restore(j, err, sizeof(err)) : do_backup(j, err, sizeof(err));
	}
	pthread_mutex_lock(&lock);
	snprintf(j->status, sizeof(j->status), "%s", rc ? "Failed" : "Succeeded");
	snprintf(j->details, sizeof(j->details), "%s", err);
	snprintf(j->code, sizeof(j->code), "%s", rc ? "BadParameter" : "");
	j->end = now_unix();
	backed_up |= !rc && !j->restore;
	__atomic_store_n(&restoring, 0, __ATOMIC_RELEASE);
	running = NULL;
	pthread_mutex_unlock(&lock);
	log_info("full %s %s: %s", j->restore ? "restore" : "backup", j->id,
		 rc ? err : "succeeded");
	return NULL;
}

/* A new job in the ring and its thread; caller holds the lock and has
 * checked that none runs. */
static struct job *start_job(int restore, const char *dir, const char *uri)
{
	struct job *j;

	if (thread_live) {
		pthread_join(thread, NULL);
		thread_live = 0;
	}
	j = &jobs[njobs % MAX_JOBS];
	memset(j, 0, sizeof(*j));
	if (rand_hex(j->id, 16))
		return NULL;
	j->restore = restore;
	snprintf(j->status, sizeof(j->status), "InProgress");
	snprintf(j->details, sizeof(j->details), "Full %s is in progress", restore ? "restore" : "backup");
	snprintf(j->dir, sizeof(j->dir), "%s", dir);
	snprintf(j->uri, sizeof(j->uri), "%s", uri);
	j->start = now_unix();
	if (pthread_create(&thread, NULL, run, j))
		return NULL;
	thread_live = 1;
	njobs++;
	running = j;
	__atomic_store_n(&restoring, restore, __ATOMIC_RELEASE);
	return j;
}

/* FullBackupOperation / RestoreOperation. */
static cJSON *job_json(const struct job *j)
{
	cJSON *o = cJSON_CreateObject(), *e;
	int failed = !strcmp(j->status, "Failed");

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "status", j->status);
	if (strcmp(j->status, "Succeeded"))
		cJSON_AddStringToObject(o, "statusDetails", j->details);
	else
		cJSON_AddNullToObject(o, "statusDetails");
	if (failed && (e = cJSON_AddObjectToObject(o, "error"))) {
		cJSON_AddStringToObject(e, "code", j->code);
		cJSON_AddStringToObject(e, "message", j->details);
		cJSON_AddNullToObject(e, "innererror");
	} else if (!failed) {
		cJSON_AddNullToObject(o, "error");
	}
	cJSON_AddNumberToObject(o, "startTime", (double)j->start);
	if (j->end)
		cJSON_AddNumberToObject(o, "endTime", (double)j->end);
	else
		cJSON_AddNullToObject(o, "endTime");
	cJSON_AddStringToObject(o, "jobId", j->id);
	if (!j->restore)
		cJSON_AddStringToObject(o, "azureStorageBlobContainerUri", j->uri);
	return o;
}

/* Starts a job (409 if one runs) and answers 202 with its status. */
static void launch(struct reply *rp, int restore, const char *dir, const char *uri)
{
	struct job *j;
	char path[64];
	cJSON *o = NULL;

	pthread_mutex_lock(&lock);
	if (running) {
		reply_error(rp, 409, "Conflict", NULL,
			    "A full backup or restore is already in progress (job %s): one at a time",
			    running->id);
	} else if (restore && !backed_up) {
		reply_error(rp, 409, "Conflict", NULL,
			    "Take a full backup of this HSM first: a restore needs one, even into an empty HSM");
	} else if (!(j = start_job(restore, dir, uri)) || !(o = job_json(j))) {
		reply_error(rp, 500, "InternalError", NULL, "cannot start the job");
	} else {
		reply_json(rp, 202, o);
		snprintf(path, sizeof(path), "/%s/%s/pending", restore ? "restore" : "backup", j->id);
		admin_async_op(rp, path);
	}
	pthread_mutex_unlock(&lock);
}

/* POST /backup {storageResourceUri, token, useManagedIdentity}. */
void backup_start(struct req *r, struct reply *rp, const char *job)
{
	cJSON *body = req_json(r);
	char dir[1000], canon[600], folder[64], path[1200], uri[800], err[400];
	struct timespec ts;
	struct tm tm;

	(void)job;
	if (!domain_active()) {
		admin_keys_allowed(rp);
		goto out;
	}
	if (sas_ok(body, dir, sizeof(dir), canon, sizeof(canon), err, sizeof(err))) {
		reply_error(rp, 400, "BadParameter", NULL, "%s", err);
		goto out;
	}
	if (container_dirs(dir, 1)) {
		reply_error(rp, 400, "BadParameter", NULL, "The blob container cannot be used");
		goto out;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(folder, sizeof(folder), "mhsm-emulator-%Y%m%d%H%M%S", &tm);
	snprintf(folder + strlen(folder), sizeof(folder) - strlen(folder), "%03ld",
		 ts.tv_nsec / 1000000);
	snprintf(path, sizeof(path), "%s/%s", dir, folder);
	snprintf(uri, sizeof(uri), "%s/%s", canon, folder);
	launch(rp, 0, path, uri);
out:
	cjson_wipe(body);
	cJSON_Delete(body);
}

/* PUT /restore {sasTokenParameters, folderToRestore}. */
void restore_start(struct req *r, struct reply *rp, const char *job)
{
	cJSON *body = req_json(r);
	const char *folder = json_str(body, "folderToRestore");
	char dir[1000], canon[600], path[1200], err[400];

	(void)job;
	if (!domain_active()) {
		admin_keys_allowed(rp);
		goto out;
	}
	if (sas_ok(cJSON_GetObjectItemCaseSensitive(body, "sasTokenParameters"), dir, sizeof(dir),
		   canon, sizeof(canon), err, sizeof(err))) {
		reply_error(rp, 400, "BadParameter", NULL, "%s", err);
		goto out;
	}
	if (!valid_ident(folder, FOLDER_MAX, "-")) {
		reply_error(rp, 400, "BadParameter", NULL,
			    "folderToRestore must be the backup's folder name (letters, digits, hyphens)");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, folder);
	if (container_dirs(dir, 0) || real_dir(path, 0)) {
		reply_error(rp, 400, "BadParameter", NULL, "No backup folder %s in that container", folder);
		goto out;
	}
	launch(rp, 1, path, canon);
out:
	cjson_wipe(body);
	cJSON_Delete(body);
}

/* GET /backup|restore/{jobId}/pending. */
static void job_status(struct reply *rp, const char *id, int restore)
{
	cJSON *o = NULL;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < MAX_JOBS && i < njobs; i++)
		if (!strcmp(jobs[i].id, id) && jobs[i].restore == restore)
			o = job_json(&jobs[i]);
	pthread_mutex_unlock(&lock);
	if (o)
		reply_json(rp, 200, o);
	else
		reply_error(rp, 404, "NotFound", NULL, "No full %s job %s",
			    restore ? "restore" : "backup", id);
}

/* GET /backup/{jobId}/pending. */
void backup_status(struct req *r, struct reply *rp, const char *job)
{
	(void)r;
	job_status(rp, job, 0);
}

/* GET /restore/{jobId}/pending. */
void restore_status(struct req *r, struct reply *rp, const char *job)
{
	(void)r;
	job_status(rp, job, 1);
}

/* Read by every key request, so without the lock. */
int backup_restoring(void)
{
	return __atomic_load_n(&restoring, __ATOMIC_ACQUIRE);
}

/* GET shows, POST {"hold": bool} sets. */
void backup_control(struct req *r, struct reply *rp)
{
	cJSON *j = req_json(r), *o = cJSON_CreateObject();
	int hold = 0;

	if (!strcmp(r->method, "POST") && json_bool(j, "hold", &hold) != 1) {
		reply_error(rp, 400, "BadParameter", NULL, "body must be {\"hold\": true|false}");
		cJSON_Delete(o);
		goto out;
	}
	pthread_mutex_lock(&lock);
	if (!strcmp(r->method, "POST"))
		held = hold;
	if (o) {
		cJSON_AddBoolToObject(o, "hold", held);
		if (running)
			cJSON_AddStringToObject(o, "running", running->id);
		else
			cJSON_AddNullToObject(o, "running");
		cJSON_AddBoolToObject(o, "backed_up", backed_up);
	}
	pthread_mutex_unlock(&lock);
	reply_json(rp, 200, o);
out:
	cJSON_Delete(j);
}

/* emu_stopping ends a held wait; a job at work finishes. */
void backup_shutdown(void)
{
	int live;

	pthread_mutex_lock(&lock);
	live = thread_live;
	thread_live = 0;
	pthread_mutex_unlock(&lock);
	if (live)
		pthread_join(thread, NULL);
}
