/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "audit.h"
#include "common/log.h"
#include "json.h"
#include "util.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file;

/* Appends to DIR/audit.log across restarts. */
int audit_open(void)
{
	char path[600];

	if (state_path(path, sizeof(path), "audit.log"))
		return -1;
	log_file = fopen(path, "ae");
	if (!log_file) {
		log_err("cannot open %s", path);
		return -1;
	}
	return 0;
}

/* Closes the log; later audit_write calls are dropped. */
void audit_close(void)
{
	pthread_mutex_lock(&lock);
	if (log_file)
		fclose(log_file);
	log_file = NULL;
	pthread_mutex_unlock(&lock);
}

/* Strings go through cJSON so untrusted names cannot break the line. */
void audit_write(const struct req *r, const struct reply *rp)
{
	cJSON *o = cJSON_CreateObject();
	char ts[32], *line;

	if (!o)
		return;
	rfc3339_now(ts);
	cJSON_AddStringToObject(o, "time", ts);
	cJSON_AddStringToObject(o, "principal", r->principal[0] ? r->principal : "-");
	cJSON_AddStringToObject(o, "object_id", r->oid[0] ? r->oid : "-");
	cJSON_AddStringToObject(o, "operation", r->op ? r->op : "-");
	cJSON_AddStringToObject(o, "key", r->key[0] ? r->key : "-");
	cJSON_AddStringToObject(o, "version", r->version[0] ? r->version : "-");
	cJSON_AddNumberToObject(o, "status", rp->drop ? 0 : rp->status);
	cJSON_AddStringToObject(o, "outcome", rp->drop ? "dropped" : rp->outcome);
	cJSON_AddNumberToObject(o, "latency_ms", (double)(clock_ms() - r->t0));
	cJSON_AddStringToObject(o, "remote", r->remote);
	cJSON_AddStringToObject(o, "method", r->method);
	cJSON_AddStringToObject(o, "request_id", r->request_id);
	line = json_take_text(o);
	if (!line)
		return;
	pthread_mutex_lock(&lock);
	if (log_file) {
		fputs(line, log_file);
		fputc('\n', log_file);
		fflush(log_file);
	}
	pthread_mutex_unlock(&lock);
	free(line);
}
