/* SPDX-License-Identifier: Apache-2.0 */
/* Run-time fault injection: latency, errors, throttling, outage. */
#ifndef HSMEMU_FAULTS_H
#define HSMEMU_FAULTS_H

#include <stddef.h>

#include <cjson/cJSON.h>

enum fault_action { FAULT_NONE, FAULT_DROP, FAULT_THROTTLE, FAULT_ERROR };

struct fault_decision {
	enum fault_action action;
	int delay_ms;
	int status;             /* FAULT_ERROR */
	int retry_after;        /* FAULT_THROTTLE; -1 = no header */
};

/* Replaces the whole configuration; absent fields take defaults. */
int faults_set(const cJSON *j, char *err, size_t errcap);
void faults_clear(void);
cJSON *faults_get(void);
/* Draws what happens to one request of operation op. */
void faults_decide(const char *op, struct fault_decision *d);

#endif
