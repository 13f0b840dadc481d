/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local pin store: what this machine saw of a volume on first use
 * (its KEK URL and a check value of its volume key), kept outside the
 * backing directory. The backing directory is untrusted: without a pin an
 * attacker could point the config at a KEK of their own, or, with an RSA
 * KEK whose public half anyone has, wrap a volume key of their choosing.
 * Reads and writes return 1/0 or -1 with one line in err naming the pin
 * file.
 */
#ifndef HSMFS_VOL_PIN_H
#define HSMFS_VOL_PIN_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"

#define PIN_KCV_LEN 16

struct pin {
	char kek[256];
	uint8_t kcv[PIN_KCV_LEN];
};

/* Where pins live: $HSMFS_STATE_DIR, /var/lib/hsmfs for root, else the
 * XDG state directory. */
const char *pin_dir(char *buf, size_t n);
/* 1 found, 0 none, -1 unreadable (err set). */
int pin_read(const uint8_t volume_id[ID_LEN], struct pin *p, char *err,
	     size_t errlen);
int pin_write(const uint8_t volume_id[ID_LEN], const struct pin *p,
	      char *err, size_t errlen);
/* The key check value of a volume key. */
int pin_kcv(const uint8_t vk[KEY_LEN], uint8_t kcv[PIN_KCV_LEN]);
/* The pin file's path, for messages. */
void pin_path(const uint8_t volume_id[ID_LEN], char *buf, size_t n);

#endif
