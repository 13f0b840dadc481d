/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Security domain requests (routed by admin.c, caller authorized):
 * activation by download (the HSM makes a new domain and sends it back,
 * its master key split among the officers' certificates), and recovery by
 * upload (the officers' quorum re-wraps a domain to the HSM's exchange
 * key). Both only on an HSM that is provisioned, not activated.
 */
#ifndef HSMEMU_SD_H
#define HSMEMU_SD_H

#include "http.h"

/* The tag of the one data item of an emulator's security domain file. */
#define SD_ITEM_TAG "hsm_emulator_domain"

void sd_download(struct req *r, struct reply *rp, const char *job);
void sd_download_status(struct req *r, struct reply *rp, const char *job);
void sd_transfer_key(struct req *r, struct reply *rp, const char *job);
void sd_upload(struct req *r, struct reply *rp, const char *job);
void sd_upload_status(struct req *r, struct reply *rp, const char *job);

#endif
