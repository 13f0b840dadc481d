/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/b64.h"
#include "pin.h"

const char *pin_dir(char *buf, size_t n)
{
	const char *e = getenv("HSMFS_STATE_DIR");

	if (e && *e)
		snprintf(buf, n, "%s", e);
	else if (geteuid() == 0)
		snprintf(buf, n, "/var/lib/hsmfs");
	else if ((e = getenv("XDG_STATE_HOME")) && *e)
		snprintf(buf, n, "%s/hsmfs", e);
	else
		snprintf(buf, n, "%s/.local/state/hsmfs",
			 getenv("HOME") ? getenv("HOME") : "/tmp");
	return buf;
}

void pin_path(const uint8_t volume_id[ID_LEN], char *buf, size_t n)
{
	char dir[512], id[B64_ENC_LEN(ID_LEN) + 1];

	b64url_encode(volume_id, ID_LEN, id);
	snprintf(buf, n, "%s/pins/%s", pin_dir(dir, sizeof(dir)), id);
}

int pin_kcv(const uint8_t vk[KEY_LEN], uint8_t kcv[PIN_KCV_LEN])
{
	return keys_hkdf(vk, KEY_LEN, KDF_KEY_CHECK, kcv, PIN_KCV_LEN);
}

int pin_read(const uint8_t volume_id[ID_LEN], struct pin *p, char *err,
	     size_t errlen)
{
	char path[640], line[400], kcv[64] = "";
	FILE *f;
	int found = 0;

	memset(p, 0, sizeof(*p));
	pin_path(volume_id, path, sizeof(path));
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot read pin %s: %s", path,
			 strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "kek=", 4) == 0)
			found |= snprintf(p->kek, sizeof(p->kek), "%s",
					  line + 4) > 0;
		else if (strncmp(line, "kcv=", 4) == 0)
			snprintf(kcv, sizeof(kcv), "%s", line + 4);
	}
	fclose(f);
	if (!found || b64url_decode(kcv, strlen(kcv), p->kcv,
				    PIN_KCV_LEN) != PIN_KCV_LEN) {
		snprintf(err, errlen, "pin %s is malformed", path);
		return -1;
	}
	return 1;
}

static int mkdirs(const char *path)
{
	char tmp[640];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *s = tmp + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

int pin_write(const uint8_t volume_id[ID_LEN], const struct pin *p,
	      char *err, size_t errlen)
{
	char dir[512], path[640], tmp[660], kcv[B64_ENC_LEN(PIN_KCV_LEN) + 1];
	FILE *f;
	int bad;

	snprintf(dir, sizeof(dir), "%s/pins", pin_dir(path, sizeof(path)));
	pin_path(volume_id, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	b64url_encode(p->kcv, PIN_KCV_LEN, kcv);
	if (mkdirs(dir) != 0 || !(f = fopen(tmp, "we"))) {
		snprintf(err, errlen, "cannot write pin %s: %s", path,
			 strerror(errno));
		return -1;
	}
	fprintf(f, "kek=%s\nkcv=%s\n", p->kek, kcv);
	bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
	bad |= fclose(f) != 0;
	if (bad || rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot write pin %s: %s", path,
			 strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}
