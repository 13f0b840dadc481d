/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/parse.h"
#include "opts.h"

void vol_opts_init(struct vol_opts *o)
{
	const char *e;

	memset(o, 0, sizeof(*o));
	o->cache_entries = 100000;
	o->cache_ttl_s = 300;
	if ((e = getenv("HSMFS_CA_FILE")) && *e)
		o->kek.ca_file = e;
	if ((e = getenv("HSMFS_KEK_SCOPE")) && *e)
		o->kek.scope = e;
}

#define HSM_TIMEOUT_MAX 600000     /* ms */
#define CACHE_ENTRIES_MAX 10000000
#define CACHE_TTL_MAX 31536000      /* s: a year */
#define STR_(x) #x
#define STR(x) STR_(x)

/* What each option allows, for the line that refuses a bad value; the
 * others take any text but none. */
static const struct {
	const char *key, *allowed;
} allowed[] = {
	{ "hsm_endpoint", "https://host[:port], at most "
			  STR(KEK_MAX_ENDPOINTS) " of them" },
	{ "hsm_timeout", "milliseconds, 0.." STR(HSM_TIMEOUT_MAX) },
	{ "volume", "the fingerprint hsmfs init printed" },
	{ "no_pin", "it takes none" },
	{ "dek_cache_size", "0.." STR(CACHE_ENTRIES_MAX) },
	{ "dek_cache_ttl", "seconds, 0.." STR(CACHE_TTL_MAX) },
};

static const char *allowed_for(const char *key, size_t klen)
{
	for (size_t i = 0; i < sizeof(allowed) / sizeof(*allowed); i++)
		if (strlen(allowed[i].key) == klen &&
		    !strncmp(allowed[i].key, key, klen))
			return allowed[i].allowed;
	return "not empty";
}

static int add_endpoint(struct kek_opts *k, const char *url)
{
	int i = 0;

	while (i < KEK_MAX_ENDPOINTS && k->endpoints[i])
		i++;
	if (i == KEK_MAX_ENDPOINTS)
		return -1;
	k->endpoints[i] = url;
	return 0;
}

int vol_opts_parse(struct vol_opts *o, const char *opt, char *err,
		   size_t errlen)
{
	const char *eq = strchr(opt, '=');
	const char *val = eq ? eq + 1 : "";
	size_t klen = eq ? (size_t)(eq - opt) : strlen(opt);
	bool flag = false;
	int bad = 0;

#define KEY(s) (klen == sizeof(s) - 1 && strncmp(opt, s, klen) == 0)
	if (KEY("ca_file"))
		o->kek.ca_file = val;
	else if (KEY("kek_scope"))
		o->kek.scope = val;
	else if (KEY("api_version"))
		o->kek.api_version = val;
	else if (KEY("hsm_endpoint"))
		bad = add_endpoint(&o->kek, val);
	else if (KEY("credential_file"))
		o->kek.credential_file = val;
	else if (KEY("hsm_timeout"))
		bad = parse_uint(val, HSM_TIMEOUT_MAX, &o->kek.deadline_ms);
	else if (KEY("kek"))
		o->pin_kek = val;
	else if (KEY("volume"))
		o->have_fpr = !(bad = pin_fpr_parse(val, &o->fpr));
	else if (KEY("no_pin"))
		flag = o->no_pin_store = true;
	else if (KEY("dek_cache_size"))
		bad = parse_uint(val, CACHE_ENTRIES_MAX, &o->cache_entries);
	else if (KEY("dek_cache_ttl"))
		bad = parse_uint(val, CACHE_TTL_MAX, &o->cache_ttl_s);
	else
		return 0;
#undef KEY
	/* A flag takes no value; every other option needs one. */
	if (bad || (flag ? eq != NULL : !*val)) {
		snprintf(err, errlen, "bad value for %.*s in '%s' (%s)",
			 (int)klen, opt, opt, allowed_for(opt, klen));
		return -1;
	}
	return 1;
}
