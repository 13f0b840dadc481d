/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "faults.h"
#include "json.h"
#include "util.h"

#define MAX_OPS 16
#define MAX_LATENCY 120000

struct faults {
	int latency_ms, jitter_ms;
	double error_rate, throttle_rate;
	int error_status;
	int retry_after;        /* -1 = none */
	int outage;
	int count;              /* faults left to inject; -1 = no limit */
	int nops;
	char ops[MAX_OPS][32];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct faults cur = { .error_status = 503, .retry_after = -1, .count = -1 };

/* A rate in [0,1]; absent means 0. */
static int get_rate(const cJSON *j, const char *k, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);

	*out = 0;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1))
		return -1;
	*out = v->valuedouble;
	return 0;
}

/* Optional "ops" filter: operation names, matched without case. */
static int get_ops(const cJSON *j, struct faults *f)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "ops"), *it;

	if (!a || cJSON_IsNull(a))
		return 0;
	if (!cJSON_IsArray(a))
		return -1;
	cJSON_ArrayForEach(it, a) {
		if (!cJSON_IsString(it) || f->nops >= MAX_OPS ||
		    !valid_ident(it->valuestring, 31, "_-"))
			return -1;
		snprintf(f->ops[f->nops++], 32, "%s", it->valuestring);
	}
	return 0;
}

/* Validates everything before replacing the active settings. */
int faults_set(const cJSON *j, char *err, size_t errcap)
{
	struct faults f = { .error_status = 503, .retry_after = -1, .count = -1 };
	int64_t v;

	if (!cJSON_IsObject(j))
		goto bad;
	if (json_int(j, "latency_ms", 0, MAX_LATENCY, &v) < 0)
		goto bad;
	f.latency_ms = (int)(json_int(j, "latency_ms", 0, MAX_LATENCY, &v) ? v : 0);
	if (json_int(j, "latency_jitter_ms", 0, MAX_LATENCY, &v) < 0)
		goto bad;
	f.jitter_ms = (int)(json_int(j, "latency_jitter_ms", 0, MAX_LATENCY, &v) ? v : 0);
	if (json_int(j, "error_status", 500, 599, &v) < 0)
		goto bad;
	if (json_int(j, "error_status", 500, 599, &v) == 1)
		f.error_status = (int)v;
	if (json_int(j, "retry_after", 0, 86400, &v) < 0)
		goto bad;
	if (json_int(j, "retry_after", 0, 86400, &v) == 1)
		f.retry_after = (int)v;
	if (json_int(j, "count", 1, 1000000, &v) < 0)
		goto bad;
	if (json_int(j, "count", 1, 1000000, &v) == 1)
		f.count = (int)v;
	if (get_rate(j, "error_rate", &f.error_rate) ||
	    get_rate(j, "throttle_rate", &f.throttle_rate) ||
	    json_bool(j, "outage", &f.outage) < 0 || get_ops(j, &f))
		goto bad;
	pthread_mutex_lock(&lock);
	cur = f;
	pthread_mutex_unlock(&lock);
	return 0;
bad:
	snprintf(err, errcap,
		 "expected {latency_ms, latency_jitter_ms: 0..%d, error_rate, "
		 "throttle_rate: 0..1, error_status: 500..599, retry_after: "
		 "seconds|null, outage: bool, count: 1..1000000|null, ops: [names]}",
		 MAX_LATENCY);
	return -1;
}

/* Back to no faults. */
void faults_clear(void)
{
	pthread_mutex_lock(&lock);
	memset(&cur, 0, sizeof(cur));
	cur.error_status = 503;
	cur.retry_after = -1;
	cur.count = -1;
	pthread_mutex_unlock(&lock);
}

/* Current settings in the same JSON shape POST accepts. */
cJSON *faults_get(void)
{
	cJSON *j = cJSON_CreateObject(), *ops;
	struct faults f;

	pthread_mutex_lock(&lock);
	f = cur;
	pthread_mutex_unlock(&lock);
	if (!j)
		return NULL;
	cJSON_AddNumberToObject(j, "latency_ms", f.latency_ms);
	cJSON_AddNumberToObject(j, "latency_jitter_ms", f.jitter_ms);
	cJSON_AddNumberToObject(j, "error_rate", f.error_rate);
	cJSON_AddNumberToObject(j, "error_status", f.error_status);
	cJSON_AddNumberToObject(j, "throttle_rate", f.throttle_rate);
	if (f.retry_after >= 0)
		cJSON_AddNumberToObject(j, "retry_after", f.retry_after);
	else
		cJSON_AddNullToObject(j, "retry_after");
	cJSON_AddBoolToObject(j, "outage", f.outage);
	if (f.count >= 0)
		cJSON_AddNumberToObject(j, "count", f.count);
	else
		cJSON_AddNullToObject(j, "count");
	ops = cJSON_AddArrayToObject(j, "ops");
	for (int i = 0; ops && i < f.nops; i++)
		cJSON_AddItemToArray(ops, cJSON_CreateString(f.ops[i]));
	return j;
}

/* An empty ops list selects every operation. */
static int op_selected(const struct faults *f, const char *op)
{
	if (!f->nops)
		return 1;
	for (int i = 0; i < f->nops; i++)
		if (!strcasecmp(f->ops[i], op))
			return 1;
	return 0;
}

/* Outage wins; otherwise latency, then throttle or error draws. With a
 * count, only that many requests get an injected answer; the draw and the
 * count go together under the lock so concurrent requests never overrun. */
void faults_decide(const char *op, struct fault_decision *d)
{
	struct faults *f = &cur;

	memset(d, 0, sizeof(*d));
	d->retry_after = -1;
	pthread_mutex_lock(&lock);
	if (!op_selected(f, op) || f->count == 0)
		goto out;
	if (f->outage) {
		d->action = FAULT_DROP;
		goto counted;
	}
	d->delay_ms = f->latency_ms;
	if (f->jitter_ms)
		d->delay_ms += (int)(rand_unit() * (f->jitter_ms + 1));
	if (f->throttle_rate > 0 && rand_unit() < f->throttle_rate) {
		d->action = FAULT_THROTTLE;
		d->retry_after = f->retry_after;
	} else if (f->error_rate > 0 && rand_unit() < f->error_rate) {
		d->action = FAULT_ERROR;
		d->status = f->error_status;
	}
counted:
	if (d->action != FAULT_NONE && f->count > 0)
		f->count--;
out:
	pthread_mutex_unlock(&lock);
}
