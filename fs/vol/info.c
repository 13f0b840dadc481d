/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/names.h"
#include "info.h"
#include "mnt.h"

/* What the pin says of the config read: only a pin that names this
 * volume and KEK holds the key check value of this volume's key. */
static void judge_pin(struct vol_info *in)
{
	const struct conf *c = &in->conf;
	const struct pin *p = &in->pin;
	struct pin_fpr f;

	if (in->pin_found <= PIN_NONE)
		return;
	in->pin_volume_ok = keys_equal(p->volume_id, c->volume_id, ID_LEN);
	in->pin_kek_ok = strcmp(p->kek, c->kek) == 0;
	for (int i = 0; i < c->nescrow; i++)
		for (int j = 0; in->pin_found == PIN_DIR && j < p->nescrow; j++)
			in->pinned[i] |= !strcmp(p->escrow[j], c->escrow[i].kek);
	if (!in->pin_volume_ok || !in->pin_kek_ok)
		return;
	pin_fpr_a(c->volume_id, c->kek, f.a);
	pin_fpr_b(p->kcv, f.b);
	pin_fpr_format(&f, in->fpr);
	in->have_fpr = true;
}

int vol_info(const char *cipherdir, struct vol_info *out, char *err,
	     size_t errlen)
{
	const char *why;
	char *canon = NULL;
	int fd, r = -1;

	memset(out, 0, sizeof(*out));
	if ((fd = open(cipherdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", cipherdir,
			 strerror(errno));
		return -1;
	}
	if (conf_load(fd, &out->conf, &why)) {
		snprintf(err, errlen, "%s/%s: %s", cipherdir, CONF_NAME, why);
		goto out;
	}
	if (fstatat(fd, CONF_NAME, &out->conf_st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !(canon = pin_canonical(fd, cipherdir))) {
		snprintf(err, errlen, "%s: %s", cipherdir, strerror(errno));
		goto out;
	}
	snprintf(out->dir, sizeof(out->dir), "%s", canon);
	out->pin_found = pin_find(canon, out->conf.volume_id, &out->pin,
				  out->pin_file, out->pin_err,
				  sizeof(out->pin_err));
	judge_pin(out);
	if (mnt_find(canon, out->mounted_on, sizeof(out->mounted_on)) != 1)
		out->mounted_on[0] = '\0';
	r = 0;
out:
	free(canon);
	close(fd);
	return r;
}
