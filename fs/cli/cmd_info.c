/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsmfs info: what a volume's config and this machine's pin say, with no
 * key and no HSM (fs/vol/info.h), as text or JSON. The config is read as
 * it is, not authenticated: every line about it is a claim of the
 * backing directory, which the output says.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "common/b64.h"
#include "crypto/layout.h"
#include "crypto/names.h"
#include "fs/vol/info.h"
#include "hsmclient/kek.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmfs info [--json] CIPHERDIR\n"
		"\n"
		"Shows what the config of the volume in CIPHERDIR says, and what this\n"
		"machine's pin of the directory says of it, without any key and\n"
		"without the HSM: format, features (names, wrap mode, escrow KEKs,\n"
		"an unfinished wrap conversion), volume id, KEK URL and the KEK\n"
		"versions the config names, wrapping-key generations, creator, the\n"
		"config file's size and time, whether this machine pinned the volume\n"
		"(and whether the pin matches), the fingerprint (known from the pin\n"
		"only), and where it is mounted.\n"
		"\n"
		"Nothing is authenticated: the config's MAC needs the volume key.\n"
		"hsmfs fsck or a mount checks it.\n"
		"\n"
		"  --json   one JSON object (its keys: README.md, \"hsmfs info\")\n");
}

/* Untrusted text for a terminal: control bytes as '?'. */
static const char *safe(const char *s, char *buf, size_t n)
{
	size_t i = 0;

	for (; *s && i + 1 < n; s++)
		buf[i++] = iscntrl((unsigned char)*s) ? '?' : *s;
	buf[i] = '\0';
	return buf;
}

static const char *layout_name(int lay)
{
	return lay == LAY_PACKED ? "packed blocks" :
	       lay == LAY_ALIGNED ? "page-aligned blocks" :
	       "page-aligned blocks, file state in page 0";
}

static void utc(const struct timespec *ts, char out[32])
{
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "none yet", "matches", or what differs. */
static const char *pin_state(const struct vol_info *in)
{
	switch (in->pin_found) {
	case PIN_NONE:
		return "none";
	case -1:
		return "unreadable";
	}
	if (!in->pin_volume_ok)
		return "other-volume";
	return in->pin_kek_ok ? "matches" : "other-kek";
}

/* ---- text ----------------------------------------------------------- */

static void text_features(const struct conf *c)
{
	const char *to = c->conversion == CONF_CONV_TO_VOLUME ? "volume"
							     : "file";
	const char *sep = "";

	printf("features:      ");
	for (unsigned b = 1; b; b <<= 1)
		if ((c->features & b) && conf_feature_name(b)) {
			printf("%s%s", sep, conf_feature_name(b));
			sep = ", ";
		}
	printf("\n");
	printf("names:         %s\n", c->features & FEAT_PLAINTEXT_NAMES ?
	       "plaintext" : "encrypted");
	printf("wrap:          %s\n", c->features & FEAT_VOLUME_WRAP ?
	       "volume (file keys wrapped locally by a wrapping key the KEK "
	       "wraps)" : "file (each file key wrapped by the KEK)");
	if (c->conversion)
		printf("conversion:    to %s mode, unfinished (hsmfs rekey "
		       "--to-wrap %s finishes it)\n", to, to);
}

/* What the KEK URL says about where its key lives (PKCS#11: the token,
 * the object, the module), read from the URL alone. */
static void text_about(const char *url)
{
	struct kek_about a[KEK_ABOUT_MAX];
	char b[512];

	kek_url_about(url, a);
	for (int i = 0; i < KEK_ABOUT_MAX && a[i].key[0]; i++)
		printf("%-14s %s\n", a[i].label, safe(a[i].value, b, sizeof(b)));
}

static void json_about(const char *url, cJSON *j)
{
	struct kek_about a[KEK_ABOUT_MAX];
	cJSON *p;

	kek_url_about(url, a);
	if (!a[0].key[0])
		return;
	p = cJSON_AddObjectToObject(j, "pkcs11");
	for (int i = 0; i < KEK_ABOUT_MAX && a[i].key[0]; i++)
		cJSON_AddStringToObject(p, a[i].key, a[i].value);
}

static void text_keks(const struct vol_info *in)
{
	const struct conf *c = &in->conf;
	char b[512];

	printf("kek:           %s\n", safe(c->kek, b, sizeof(b)));
	text_about(c->kek);
	if (!c->nwk)
		printf("kek version:   %s (wraps the volume key)\n",
		       safe(c->vk.kid, b, sizeof(b)));
	for (int i = 0; i < c->nwk; i++)
		printf("kek version:   %s (wraps wrapping-key generation %u)\n",
		       safe(c->wk[i].kid, b, sizeof(b)), c->wk[i].gen);
	if (c->nwk) {
		printf("wrapping keys: generation%s", c->nwk > 1 ? "s" : "");
		for (int i = 0; i < c->nwk; i++)
			printf("%s %u", i ? "," : "", c->wk[i].gen);
		printf(" (the last wraps new file keys)\n");
	}
	for (int i = 0; i < c->nprev; i++)
		printf("previous kek:  %s (still listed: files may need it)\n",
		       safe(c->prev_kek[i], b, sizeof(b)));
	for (int i = 0; i < c->nescrow; i++)
		printf("escrow kek:    %s (%s)\n", safe(c->escrow[i].kek, b,
						     sizeof(b)),
		       in->pinned[i] ? "listed in this machine's pin" :
		       "not in this machine's pin");
}

static void text_pin(const struct vol_info *in)
{
	char id[B64_ENC_LEN(ID_LEN) + 1], b[512];

	if (in->pin_found < 0) {
		printf("pin:           unreadable: %s\n", in->pin_err);
	} else if (in->pin_found == PIN_NONE) {
		printf("pin:           none yet (%s): the first mount pins "
		       "what it finds; -o volume=FINGERPRINT makes that safe\n",
		       in->pin_file);
	} else if (!in->pin_volume_ok) {
		b64url_encode(in->pin.volume_id, ID_LEN, id);
		printf("pin:           %s: MISMATCH: this machine pinned volume "
		       "%s here, not this one (a mount refuses it)\n",
		       in->pin_file, id);
	} else if (!in->pin_kek_ok) {
		printf("pin:           %s: MISMATCH: this machine pinned KEK %s "
		       "(a mount refuses the config)\n", in->pin_file,
		       safe(in->pin.kek, b, sizeof(b)));
	} else {
		printf("pin:           %s: matches (volume id and KEK%s)\n",
		       in->pin_file, in->pin_found == PIN_LEGACY ?
		       "; a pin by volume id of an earlier version" : "");
	}
	printf("fingerprint:   %s\n", in->have_fpr ? in->fpr :
	       "unknown without the pin or the HSM");
}

static int text(const struct vol_info *in)
{
	const struct conf *c = &in->conf;
	char id[B64_ENC_LEN(ID_LEN) + 1], t[32], b[128];

	b64url_encode(c->volume_id, ID_LEN, id);
	utc(&in->conf_st.st_mtim, t);
	printf("volume:        %s\n", in->dir);
	printf("config:        %s/%s, %lld bytes, modified %s (no creation "
	       "time is recorded)\n", in->dir, CONF_NAME,
	       (long long)in->conf_st.st_size, t);
	printf("authenticated: NO: read without any key (hsmfs fsck or a "
	       "mount checks its MAC)\n");
	printf("format:        %d (%s)\n", c->format, layout_name(c->format));
	printf("creator:       %s\n", safe(c->creator, b, sizeof(b)));
	printf("volume id:     %s\n", id);
	text_features(c);
	text_keks(in);
	text_pin(in);
	printf("mounted on:    %s\n", in->mounted_on[0] ? in->mounted_on :
	       "- (not mounted here)");
	return EXIT_OK;
}

/* ---- JSON ----------------------------------------------------------- */

static void str_or_null(cJSON *o, const char *key, const char *s)
{
	if (s && *s)
		cJSON_AddStringToObject(o, key, s);
	else
		cJSON_AddNullToObject(o, key);
}

static void json_config(const struct vol_info *in, cJSON *j)
{
	cJSON *o = cJSON_AddObjectToObject(j, "config");
	char path[PATH_MAX + 16], t[32];

	snprintf(path, sizeof(path), "%s/%s", in->dir, CONF_NAME);
	utc(&in->conf_st.st_mtim, t);
	cJSON_AddStringToObject(o, "path", path);
	cJSON_AddNumberToObject(o, "size", (double)in->conf_st.st_size);
	cJSON_AddStringToObject(o, "modified", t);
	cJSON_AddNullToObject(o, "created");
	cJSON_AddBoolToObject(o, "authenticated", false);
}

static void json_keks(const struct conf *c, const struct vol_info *in,
		      cJSON *j)
{
	cJSON *v = cJSON_AddArrayToObject(j, "kek_versions");
	cJSON *g = cJSON_AddArrayToObject(j, "wrapping_key_generations");
	cJSON *p = cJSON_AddArrayToObject(j, "previous_keks");
	cJSON *e = cJSON_AddArrayToObject(j, "escrow_keks");

	if (!c->nwk)
		cJSON_AddItemToArray(v, cJSON_CreateString(c->vk.kid));
	for (int i = 0; i < c->nwk; i++) {
		cJSON_AddItemToArray(v, cJSON_CreateString(c->wk[i].kid));
		cJSON_AddItemToArray(g, cJSON_CreateNumber(c->wk[i].gen));
	}
	for (int i = 0; i < c->nprev; i++)
		cJSON_AddItemToArray(p, cJSON_CreateString(c->prev_kek[i]));
	for (int i = 0; i < c->nescrow; i++) {
		cJSON *x = cJSON_CreateObject();

		cJSON_AddStringToObject(x, "kek", c->escrow[i].kek);
		cJSON_AddBoolToObject(x, "pinned", in->pinned[i]);
		cJSON_AddItemToArray(e, x);
	}
}

static void json_pin(const struct vol_info *in, cJSON *j)
{
	cJSON *p = cJSON_AddObjectToObject(j, "pin");
	char id[B64_ENC_LEN(ID_LEN) + 1];

	cJSON_AddStringToObject(p, "file", in->pin_file);
	cJSON_AddStringToObject(p, "state", pin_state(in));
	cJSON_AddBoolToObject(p, "legacy", in->pin_found == PIN_LEGACY);
	if (in->pin_found > PIN_NONE) {
		b64url_encode(in->pin.volume_id, ID_LEN, id);
		cJSON_AddStringToObject(p, "volume_id", id);
		cJSON_AddStringToObject(p, "kek", in->pin.kek);
	} else {
		cJSON_AddNullToObject(p, "volume_id");
		cJSON_AddNullToObject(p, "kek");
	}
	str_or_null(p, "error", in->pin_found < 0 ? in->pin_err : NULL);
}

static int json(const struct vol_info *in)
{
	const struct conf *c = &in->conf;
	char id[B64_ENC_LEN(ID_LEN) + 1], *out;
	cJSON *j = cJSON_CreateObject(), *f;

	if (!j)
		return EXIT_FAIL;
	b64url_encode(c->volume_id, ID_LEN, id);
	cJSON_AddStringToObject(j, "cipherdir", in->dir);
	json_config(in, j);
	cJSON_AddNumberToObject(j, "format", c->format);
	cJSON_AddStringToObject(j, "creator", c->creator);
	cJSON_AddStringToObject(j, "volume_id", id);
	f = cJSON_AddArrayToObject(j, "features");
	for (unsigned b = 1; b; b <<= 1)
		if ((c->features & b) && conf_feature_name(b))
			cJSON_AddItemToArray(f, cJSON_CreateString(
						conf_feature_name(b)));
	cJSON_AddStringToObject(j, "names", c->features & FEAT_PLAINTEXT_NAMES ?
				"plaintext" : "encrypted");
	cJSON_AddStringToObject(j, "wrap", c->features & FEAT_VOLUME_WRAP ?
				"volume" : "file");
	str_or_null(j, "wrap_conversion", conf_conversion_name(c->conversion));
	cJSON_AddStringToObject(j, "kek", c->kek);
	json_about(c->kek, j);
	json_keks(c, in, j);
	json_pin(in, j);
	str_or_null(j, "fingerprint", in->have_fpr ? in->fpr : NULL);
	str_or_null(j, "mounted_on", in->mounted_on);
	out = cJSON_Print(j);
	if (out)
		printf("%s\n", out);
	cJSON_free(out);
	cJSON_Delete(j);
	return out ? EXIT_OK : EXIT_FAIL;
}

int info_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vol_info *in;
	char err[1024];
	bool as_json = false;
	int c, r;

	while ((c = cmd_getopt(argc, argv, "+h", longopts)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return EXIT_OK;
		}
		if (c != 'j')
			return EXIT_USAGE;
		as_json = true;
	}
	if ((r = cmd_operands(argc, argv, 1, 1, (const char *const[]){
		     "CIPHERDIR" })) != CMD_GO_ON)
		return r;
	if (!(in = malloc(sizeof(*in))))
		return EXIT_FAIL;
	if (vol_info(argv[optind], in, err, sizeof(err))) {
		fprintf(stderr, "hsmfs info: %s\n", err);
		free(in);
		return EXIT_FAIL;
	}
	r = as_json ? json(in) : text(in);
	free(in);
	return r;
}
