/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsmfs path: an entry's plaintext path and its backing path, both ways,
 * through bname.h (the daemon's own transform) on an unlocked volume.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bname.h"
#include "vol.h"

static struct bdir root_of(const struct vol *v)
{
	return (struct bdir){
		.fd = v->rootfd,
		.root = true,
		.plaintext = v->conf.features & FEAT_PLAINTEXT_NAMES,
		.format = v->conf.format,
		.nk = v->nk,
	};
}

/* Why a path could not be mapped, in the operator's words. */
static const char *why_not(int e)
{
	switch (e) {
	case -EBADMSG:
		return "a name on the way failed authentication";
	case -EINVAL:
		return "not a path of this volume (a \".\" or \"..\", or a long "
		       "name without its sidecar)";
	case -EPERM:
		return "a name the volume keeps for itself";
	case -ENOKEY:
		return "the volume key is not available";
	}
	return strerror(-e);
}

int vol_backing_path(struct vol *v, const char *ppath, char *out, size_t n,
		     char *err, size_t errlen)
{
	struct bdir root = root_of(v);
	int e = bname_backing_path(&root, ppath, out, n);

	if (e)
		snprintf(err, errlen, "%s: %s", ppath, why_not(e));
	return e ? -1 : 0;
}

int vol_plain_path(struct vol *v, const char *bpath, char *out, size_t n,
		   char *err, size_t errlen)
{
	struct bdir root = root_of(v);
	int e = bname_plain_path(&root, bpath, out, n);

	if (!e && !out[0])
		snprintf(out, n, "/");
	if (e)
		snprintf(err, errlen, "%s: %s", bpath, why_not(e));
	return e ? -1 : 0;
}
