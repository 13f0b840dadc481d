/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "auth.h"
#include "backup.h"
#include "domain.h"
#include "keys.h"
#include "rbac.h"
#include "sd.h"
#include "store.h"
#include "util.h"

#define DA_SD_DOWNLOAD DA_PREFIX "securitydomain/download/action"
#define DA_SD_UPLOAD DA_PREFIX "securitydomain/upload/action"
#define DA_BACKUP DA_PREFIX "backup/start/action"
#define DA_BACKUP_STATUS DA_PREFIX "backup/status/action"
#define DA_RESTORE DA_PREFIX "restore/start/action"
#define DA_RESTORE_STATUS DA_PREFIX "restore/status/action"

typedef void handler(struct req *r, struct reply *rp, const char *job);

/* Path patterns: "*" is one segment, a job id (32 hex). The status reads
 * need the same action as the operation (the read actions the service
 * also has are not in the built-in role table). */
static const struct admin_route {
	const char *method, *path, *op, *action;
	handler *fn;
} routes[] = {
	{ "POST", "/securitydomain/download", "SecurityDomainDownload", DA_SD_DOWNLOAD, sd_download },
	{ "GET", "/securitydomain/download/pending", "SecurityDomainDownloadStatus", DA_SD_DOWNLOAD, sd_download_status },
	{ "GET", "/securitydomain/upload", "SecurityDomainTransferKey", DA_SD_UPLOAD, sd_transfer_key },
	{ "POST", "/securitydomain/upload", "SecurityDomainUpload", DA_SD_UPLOAD, sd_upload },
	{ "GET", "/securitydomain/upload/pending", "SecurityDomainUploadStatus", DA_SD_UPLOAD, sd_upload_status },
	{ "POST", "/backup", "FullBackup", DA_BACKUP, backup_start },
	{ "GET", "/backup/*/pending", "FullBackupStatus", DA_BACKUP_STATUS, backup_status },
	{ "PUT", "/restore", "FullRestore", DA_RESTORE, restore_start },
	{ "GET", "/restore/*/pending", "FullRestoreStatus", DA_RESTORE_STATUS, restore_status },
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* path against pattern; the "*" segment must be a job id, copied out. */
static int path_matches(const char *pattern, const char *path, char job[33])
{
	const char *star = strchr(pattern, '*');
	size_t pre;

	if (!star)
		return !strcmp(pattern, path);
	pre = (size_t)(star - pattern);
	if (strncmp(pattern, path, pre) || strlen(path) < pre + 32 ||
	    strcmp(path + pre + 32, star + 1))
		return 0;
	memcpy(job, path + pre, 32);
	job[32] = '\0';
	return key_version_ok(job);
}

/* The route of method + path, or NULL. */
static const struct admin_route *find(const struct req *r, char job[33])
{
	job[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++)
		if (!strcmp(routes[i].method, r->method) &&
		    path_matches(routes[i].path, r->path, job))
			return &routes[i];
	return NULL;
}

/* Everything under these three collections is ours, known or not. */
int admin_route(struct req *r)
{
	static const char *const roots[] = { "/securitydomain", "/backup", "/restore" };
	const struct admin_route *rt;
	char job[33];

	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(roots[i]);
		if (!strncmp(r->path, roots[i], n) && (!r->path[n] || r->path[n] == '/')) {
			rt = find(r, job);
			r->op = rt ? rt->op : "Unknown";
			return 1;
		}
	}
	return 0;
}

/* The administration API versions the CLI and SDKs send. */
static int version_ok(struct req *r, struct reply *rp)
{
	static const char *const ok[] = { "7.2", "7.3", "7.4", "7.5", "7.6" };
	const char *v = req_arg(r, "api-version");

	for (size_t i = 0; v && i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcmp(v, ok[i]))
			return 1;
	reply_error(rp, 400, "BadParameter", NULL,
		    "The api-version query parameter is required (7.2 to 7.6).");
	return 0;
}

/* ctl's requests carry the control token instead of a bearer. */
static int from_control(const struct req *r)
{
	const char *tok = req_header(r, "X-Emulator-Control");

	return tok && ct_streq(tok, store_control_token());
}

/* Order as for keys: 401, api-version, route, RBAC, then the operation. */
void admin_handle(struct req *r, struct reply *rp)
{
	char job[33];
	const struct admin_route *rt = find(r, job);
	int control = from_control(r);

	if (!control && r->auth != AUTH_OK) {
		auth_unauthorized(r, rp);
		return;
	}
	if (!version_ok(r, rp))
		return;
	if (!rt) {
		reply_error(rp, 404, "NotFound", NULL, "No operation %s %.200s", r->method, r->path);
		return;
	}
	if (control)
		snprintf(r->principal, sizeof(r->principal), "control");
	else if (!auth_authorized(r, rp, rt->action, NULL))
		return;
	rt->fn(r, rp, job);
}

/* Neither error is documented; the codes here are the emulator's own. */
int admin_keys_allowed(struct reply *rp)
{
	if (!domain_active()) {
		reply_error(rp, 403, "Forbidden", "NotActivated",
			    "The managed HSM is not activated: download its security domain "
			    "(POST /securitydomain/download) or upload one to recover it.");
		return 0;
	}
	if (backup_restoring()) {
		reply_error(rp, 503, "ServiceUnavailable", "RestoreInProgress",
			    "A full restore is in progress; key operations are disabled until it ends.");
		snprintf(rp->retry_after, sizeof(rp->retry_after), "1");
		return 0;
	}
	return 1;
}

/* Azure-AsyncOperation: where a client polls an operation. */
void admin_async_op(struct reply *rp, const char *path)
{
	snprintf(rp->async_op, sizeof(rp->async_op), "%s%s", emu.base, path);
	snprintf(rp->retry_after, sizeof(rp->retry_after), "1");
}
