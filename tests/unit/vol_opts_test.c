/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The options every command that opens a volume shares (fs/vol/opts.c).
 * Option values come from the command line and fstab: each documented
 * option is taken, a bad value is refused with a line naming the option
 * (never read as 0 or as the default), and options that belong to
 * someone else (mount's own, FUSE's) are left to them.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fs/vol/opts.h"

/* Parses opt into o, which must take it. */
static void take(struct vol_opts *o, const char *opt)
{
	char err[256] = "";
	int r = vol_opts_parse(o, opt, err, sizeof(err));

	if (r != 1) {
		fprintf(stderr, "  option '%s' not taken: %d (%s)\n", opt, r,
			err);
		check_failed_now = 1;
	}
}

/* o must refuse opt, with a message quoting it, and keep the old value
 * of every number. */
static void refuse(const char *opt)
{
	struct vol_opts o, before;
	char err[256] = "", quoted[128];

	vol_opts_init(&o);
	memcpy(&before, &o, sizeof(o));
	snprintf(quoted, sizeof(quoted), "'%s'", opt);
	CHECK_EQ_INT(vol_opts_parse(&o, opt, err, sizeof(err)), -1);
	if (!strstr(err, quoted)) {
		fprintf(stderr, "  %s: \"%s\" does not name it\n", quoted,
			err);
		check_failed_now = 1;
	}
	CHECK_EQ_INT(o.cache_entries, before.cache_entries);
	CHECK_EQ_INT(o.cache_ttl_s, before.cache_ttl_s);
	CHECK_EQ_INT(o.kek.deadline_ms, before.kek.deadline_ms);
}

/* Every documented option lands in its field, values as given. */
static void parse_each_option(void)
{
	struct vol_opts o;

	unsetenv("HSMFS_CA_FILE");
	unsetenv("HSMFS_KEK_SCOPE");
	vol_opts_init(&o);
	take(&o, "ca_file=/etc/hsmfs/ca.pem");
	take(&o, "kek_scope=https://managedhsm.azure.net/.default");
	take(&o, "api_version=7.5");
	take(&o, "hsm_endpoint=https://a.example:8443");
	take(&o, "hsm_timeout=2500");
	take(&o, "kek=testkek://k");
	take(&o, "dek_cache_size=42");
	take(&o, "dek_cache_ttl=7");
	take(&o, "credential_file=/etc/hsmfs/azure.cred");
	CHECK(o.kek.ca_file && !strcmp(o.kek.ca_file, "/etc/hsmfs/ca.pem"));
	CHECK(o.kek.scope &&
	      !strcmp(o.kek.scope, "https://managedhsm.azure.net/.default"));
	CHECK(o.kek.api_version && !strcmp(o.kek.api_version, "7.5"));
	CHECK(o.kek.endpoints[0] &&
	      !strcmp(o.kek.endpoints[0], "https://a.example:8443"));
	CHECK(o.kek.endpoints[1] == NULL);
	CHECK_EQ_INT(o.kek.deadline_ms, 2500);
	CHECK(o.pin_kek && !strcmp(o.pin_kek, "testkek://k"));
	CHECK_EQ_INT(o.cache_entries, 42);
	CHECK_EQ_INT(o.cache_ttl_s, 7);
	CHECK(o.kek.credential_file &&
	      !strcmp(o.kek.credential_file, "/etc/hsmfs/azure.cred"));
	/* Options that are not given leave the volume expectations alone. */
	CHECK(!o.no_pin_store);
	CHECK(!o.pin_readonly);
	CHECK(!o.have_fpr);
	CHECK(o.rekey_to == NULL);
	/* No option vouches for a host by itself: the volume layer decides
	 * what the operator named. */
	CHECK(!o.kek.host_named);
}

/* The derivation of crypto/FORMAT.md section 2.1, computed there by
 * hand (Python's hashlib and base32): a change to it is a format change. */
static void fingerprint_known_answer(void)
{
	uint8_t id[ID_LEN], kcv[PIN_KCV_LEN];
	struct pin_fpr f;
	char text[PIN_FPR_TEXT];

	for (int i = 0; i < ID_LEN; i++)
		id[i] = (uint8_t)i;
	for (int i = 0; i < PIN_KCV_LEN; i++)
		kcv[i] = (uint8_t)(16 + i);
	pin_fpr_a(id, "https://h.managedhsm.azure.net/keys/k", f.a);
	pin_fpr_b(kcv, f.b);
	pin_fpr_format(&f, text);
	CHECK(strcmp(text, "q3gl-rw7v-3hjf-334j-z6zp-xhiv-orns-4x25") == 0);
}

/* volume=FINGERPRINT: what hsmfs init printed, with or without its
 * dashes, in any case; anything else is refused, not half-read. */
static void parse_volume_fingerprint(void)
{
	struct pin_fpr f, g;
	struct vol_opts o;
	char text[PIN_FPR_TEXT], opt[128], bare[40];
	size_t n = 0;

	for (int i = 0; i < PIN_FPR_HALF; i++) {
		f.a[i] = (uint8_t)(0x11 * i + 3);
		f.b[i] = (uint8_t)(0xf0 - 7 * i);
	}
	pin_fpr_format(&f, text);
	CHECK_EQ_INT(strlen(text), 39);
	for (int i = 0; i < 39; i++)
		CHECK((i % 5 == 4) == (text[i] == '-'));
	CHECK_EQ_INT(pin_fpr_parse(text, &g), 0);
	CHECK_MEM(&g, &f, sizeof(f));

	vol_opts_init(&o);
	snprintf(opt, sizeof(opt), "volume=%s", text);
	take(&o, opt);
	CHECK(o.have_fpr);
	CHECK_MEM(&o.fpr, &f, sizeof(f));
	for (const char *p = text; *p; p++)
		if (*p != '-')
			bare[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	bare[n] = '\0';
	vol_opts_init(&o);
	snprintf(opt, sizeof(opt), "volume=%s", bare);
	take(&o, opt);
	CHECK_MEM(&o.fpr, &f, sizeof(f));

	refuse("volume=");
	refuse("volume");
	snprintf(opt, sizeof(opt), "volume=%.31s", bare);
	refuse(opt);
	snprintf(opt, sizeof(opt), "volume=%sa", bare);
	refuse(opt);
	snprintf(opt, sizeof(opt), "volume=0%.31s", bare);
	refuse(opt);
	snprintf(opt, sizeof(opt), "volume=%.31s=", bare);
	refuse(opt);
	snprintf(opt, sizeof(opt), "volume= %s", bare);
	refuse(opt);
}

/* no_pin is a flag, as mount --help documents it; with a value it is
 * refused rather than read as "on" whatever the value says. */
static void parse_no_pin_flag(void)
{
	struct vol_opts o;

	vol_opts_init(&o);
	take(&o, "no_pin");
	CHECK(o.no_pin_store);
	refuse("no_pin=0");
	refuse("no_pin=");
}

/* The bounds are inclusive: the largest documented value is taken. */
static void parse_limits(void)
{
	struct vol_opts o;

	vol_opts_init(&o);
	take(&o, "hsm_timeout=600000");
	take(&o, "dek_cache_size=10000000");
	take(&o, "dek_cache_ttl=31536000");
	CHECK_EQ_INT(o.kek.deadline_ms, 600000);
	CHECK_EQ_INT(o.cache_entries, 10000000);
	CHECK_EQ_INT(o.cache_ttl_s, 31536000);
	/* 0 is a number: no cache, or the provider's own timeout. */
	take(&o, "dek_cache_size=0");
	take(&o, "hsm_timeout=0");
	CHECK_EQ_INT(o.cache_entries, 0);
	CHECK_EQ_INT(o.kek.deadline_ms, 0);
}

/* A number that is not one, or too large, is refused, not read as 0 or
 * cut short; so is an option without its value. */
static void parse_refuses_bad_values(void)
{
	static const char *const bad[] = {
		"hsm_timeout=abc", "hsm_timeout=", "hsm_timeout",
		"hsm_timeout=-1", "hsm_timeout= 5", "hsm_timeout=5s",
		"hsm_timeout=600001", "hsm_timeout=99999999999999999999",
		"dek_cache_size=1e3", "dek_cache_size=+1",
		"dek_cache_size=10000001", "dek_cache_size=",
		"dek_cache_ttl=31536001", "dek_cache_ttl=0x10",
		"dek_cache_ttl=", "ca_file=", "ca_file", "kek_scope=",
		"api_version=", "hsm_endpoint=", "kek=", "kek",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		refuse(bad[i]);
}

/* Up to KEK_MAX_ENDPOINTS endpoints, in the order given; one more is
 * refused rather than dropped, and the list stays terminated. */
static void parse_endpoints(void)
{
	struct vol_opts o;
	char err[256] = "";

	vol_opts_init(&o);
	take(&o, "hsm_endpoint=https://h1");
	take(&o, "hsm_endpoint=https://h2");
	take(&o, "hsm_endpoint=https://h3");
	take(&o, "hsm_endpoint=https://h4");
	CHECK_EQ_INT(vol_opts_parse(&o, "hsm_endpoint=https://h5", err,
				    sizeof(err)), -1);
	CHECK(strstr(err, "'hsm_endpoint=https://h5'") != NULL);
	for (int i = 0; i < KEK_MAX_ENDPOINTS; i++) {
		char want[16];

		snprintf(want, sizeof(want), "https://h%d", i + 1);
		CHECK(o.kek.endpoints[i] && !strcmp(o.kek.endpoints[i], want));
	}
	CHECK(o.kek.endpoints[KEK_MAX_ENDPOINTS] == NULL);
}

/* Options that are not ours are 0, untouched: the caller passes them on
 * to mount or FUSE, or reports them as unknown. Near misses of our names
 * are not ours either. */
static void parse_not_ours(void)
{
	static const char *const others[] = {
		"ro", "allow_other", "default_permissions", "max_read=4096",
		"ca_file_x=/x", "ca=/x", "kek_url=testkek://k", "KEK=x",
		"hsm_endpoints=https://h", "dek_cache=5", "no_pins", "",
		"=x", "volumes=x", "vol=x",
	};
	struct vol_opts o, before;
	char err[64];

	vol_opts_init(&o);
	memcpy(&before, &o, sizeof(o));
	for (size_t i = 0; i < sizeof(others) / sizeof(*others); i++) {
		strcpy(err, "untouched");
		CHECK_EQ_INT(vol_opts_parse(&o, others[i], err, sizeof(err)),
			     0);
		CHECK(strcmp(err, "untouched") == 0);
	}
	CHECK(memcmp(&o, &before, sizeof(o)) == 0);
}

/* Defaults every command shares, and the environment's CA file and
 * token scope, which options given later override. An empty variable
 * is no setting. */
static void init_defaults_and_env(void)
{
	struct vol_opts o;

	unsetenv("HSMFS_CA_FILE");
	unsetenv("HSMFS_KEK_SCOPE");
	memset(&o, 0x5a, sizeof(o));
	vol_opts_init(&o);
	CHECK_EQ_INT(o.cache_entries, 100000);
	CHECK_EQ_INT(o.cache_ttl_s, 300);
	CHECK(o.kek.ca_file == NULL);
	CHECK(o.kek.scope == NULL);
	CHECK(o.kek.api_version == NULL);
	CHECK(o.kek.endpoints[0] == NULL);
	CHECK_EQ_INT(o.kek.deadline_ms, 0);
	CHECK(o.pin_kek == NULL && o.rekey_to == NULL);
	CHECK(!o.no_pin_store && !o.pin_readonly && !o.have_fpr);

	setenv("HSMFS_CA_FILE", "/srv/ca.pem", 1);
	setenv("HSMFS_KEK_SCOPE", "https://hsm.example/.default", 1);
	vol_opts_init(&o);
	CHECK(o.kek.ca_file && !strcmp(o.kek.ca_file, "/srv/ca.pem"));
	CHECK(o.kek.scope &&
	      !strcmp(o.kek.scope, "https://hsm.example/.default"));
	take(&o, "ca_file=/etc/other.pem");
	CHECK(!strcmp(o.kek.ca_file, "/etc/other.pem"));

	setenv("HSMFS_CA_FILE", "", 1);
	setenv("HSMFS_KEK_SCOPE", "", 1);
	vol_opts_init(&o);
	CHECK(o.kek.ca_file == NULL);
	CHECK(o.kek.scope == NULL);
	unsetenv("HSMFS_CA_FILE");
	unsetenv("HSMFS_KEK_SCOPE");
}

CHECK_MAIN("vol_opts", T(parse_no_pin_flag),
	   T(parse_each_option), T(fingerprint_known_answer),
	   T(parse_volume_fingerprint), T(parse_limits),
	   T(parse_refuses_bad_values),
	   T(parse_endpoints), T(parse_not_ours), T(init_defaults_and_env))
