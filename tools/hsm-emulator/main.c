/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsm-emulator: a local Azure Managed HSM for tests and demos.
 *   hsm-emulator --state DIR --listen 127.0.0.1:PORT [options]
 *   hsm-emulator ctl --state DIR <command> ...
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "audit.h"
#include "backup.h"
#include "common/log.h"
#include "ctl.h"
#include "domain.h"
#include "emu.h"
#include "http.h"
#include "pki.h"
#include "store.h"
#include "util.h"

struct emu_config emu;
volatile sig_atomic_t emu_stopping;

struct listen_addr {
	char host[128];
	char port[8];
	int fd;
	int bound_port;
};

/* Synopsis of the server options. */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: hsm-emulator --state DIR --listen HOST:PORT [options]\n"
		"       hsm-emulator ctl --state DIR <command> ... (see ctl --help)\n"
		"options:\n"
		"  --state DIR             state directory (kept 0700; created if missing)\n"
		"  --listen HOST:PORT      HTTPS listener, e.g. 127.0.0.1:0 (0 = any free port)\n"
		"  --imds-listen HOST:PORT plain-HTTP IMDS listener (managed identity)\n"
		"  --token-lifetime SEC    access token lifetime (default 3600)\n"
		"  --retention-days N      soft-delete retention, 7..90 (default 90)\n"
		"  --log-level LEVEL       error, warn, info (default) or debug\n"
		"  --blob-root DIR         where backups go: container https://ACCOUNT.blob.core.windows.net/C\n"
		"                          is the directory DIR/ACCOUNT/C\n"
		"  --activate-for-tests    start activated, with a security domain of its own that\n"
		"                          nobody holds (no download, and no file to recover it from)\n");
}

/* "host:port" or "[v6]:port" into its parts. */
static int split_hostport(const char *s, struct listen_addr *a)
{
	const char *colon;
	size_t n;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return -1;
		n = (size_t)(rb - s - 1);
		s++;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		n = (size_t)(colon - s);
	}
	if (!n || n >= sizeof(a->host) || strlen(colon + 1) >= sizeof(a->port) ||
	    !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	memcpy(a->host, s, n);
	a->host[n] = '\0';
	snprintf(a->port, sizeof(a->port), "%s", colon + 1);
	return 0;
}

/* Binds and listens; the kernel picks the port when it is 0. */
static int bind_listen(struct listen_addr *a)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, one = 1, rc;

	rc = getaddrinfo(a->host, a->port, &hints, &res);
	if (rc) {
		log_err("cannot resolve %s: %s", a->host, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 128) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		log_err("cannot listen on %s:%s: %s", a->host, a->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	a->bound_port = ntohs(ss.ss_family == AF_INET6
				      ? ((struct sockaddr_in6 *)&ss)->sin6_port
				      : ((struct sockaddr_in *)&ss)->sin_port);
	a->fd = fd;
	freeaddrinfo(res);
	return 0;
}

/* Base URL clients use; wildcard addresses map to loopback. */
static void make_base(const struct listen_addr *a)
{
	const char *h = a->host;

	if (!strcmp(h, "0.0.0.0"))
		h = "127.0.0.1";
	else if (!strcmp(h, "::"))
		h = "::1";
	if (strchr(h, ':'))
		snprintf(emu.base, sizeof(emu.base), "https://[%s]:%d", h, a->bound_port);
	else
		snprintf(emu.base, sizeof(emu.base), "https://%s:%d", h, a->bound_port);
}

/* --log-level names. */
static int parse_level(const char *s, enum log_level *lvl)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	if (!strcmp(s, "warning"))
		s = "warn";
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			*lvl = (enum log_level)i;
			return 0;
		}
	return -1;
}

/*
 * The state dir holds private keys, so it is private: created 0700. One
 * made by someone else first (mkdir -p leaves 0755) is tightened if only
 * read or search access is too wide, since nothing can have been put in
 * it; one that others could write to is refused, since they might have
 * planted or swapped files already, and so is one owned by another user.
 */
static int ensure_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) && errno != EEXIST) {
		log_err("cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		log_err("%s is not a directory", dir);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		log_err("%s belongs to another user; use a directory of your own", dir);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH | S_ISVTX)) {
		log_err("%s is writable by others (mode %04o); use a private directory",
			dir, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if ((st.st_mode & 07777) != 0700) {
		if (chmod(dir, 0700)) {
			log_err("cannot make %s private: %s", dir, strerror(errno));
			return -1;
		}
		if (st.st_mode & 077)
			log_warn("%s was mode %04o; made it 0700", dir,
				 (unsigned)(st.st_mode & 07777));
	}
	return 0;
}

struct opts {
	const char *state, *listen, *imds, *blob_root;
	int lifetime, retention, activate;
	enum log_level level;
};

/* Server options; every value is range-checked. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "state", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "imds-listen", required_argument, NULL, 'i' },
		{ "token-lifetime", required_argument, NULL, 't' },
		{ "retention-days", required_argument, NULL, 'r' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "blob-root", required_argument, NULL, 'b' },
		{ "activate-for-tests", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long v;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->state = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'i': o->imds = optarg; break;
		case 'b': o->blob_root = optarg; break;
		case 'a': o->activate = 1; break;
		case 't':
			v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 86400)
				return -1;
			o->lifetime = (int)v;
			break;
		case 'r':
			v = strtol(optarg, &end, 10);
			if (*end || v < 7 || v > 90)
				return -1;
			o->retention = (int)v;
			break;
		case 'v':
			if (parse_level(optarg, &o->level))
				return -1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	return (optind == argc && o->state && o->listen) ? 0 : -1;
}

/* Publishes the base URL: DIR/url (and DIR/imds_url), then stdout. */
static int announce(const struct listen_addr *imds)
{
	char path[600], line[200];

	if (imds) {
		if (strchr(imds->host, ':'))
			snprintf(line, sizeof(line), "http://[%s]:%d\n", imds->host, imds->bound_port);
		else
			snprintf(line, sizeof(line), "http://%s:%d\n", imds->host, imds->bound_port);
		if (state_path(path, sizeof(path), "imds_url") ||
		    write_file_atomic(path, line, strlen(line), 0644))
			return -1;
		log_info("IMDS on %.*s", (int)strlen(line) - 1, line);
	}
	snprintf(line, sizeof(line), "%s\n", emu.base);
	if (state_path(path, sizeof(path), "url") ||
	    write_file_atomic(path, line, strlen(line), 0644))
		return -1;
	fputs(line, stdout);
	fflush(stdout);
	return 0;
}

/* Blocks the stop signals in every thread; main waits for them. */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Runs the server until SIGTERM or SIGINT. */
static int serve(int argc, char **argv)
{
	struct opts o = { .lifetime = 3600, .retention = 90, .level = LOG_LVL_INFO };
	struct listen_addr main_addr = { .fd = -1 }, imds_addr = { .fd = -1 };
	struct MHD_Daemon *d = NULL, *di = NULL;
	char *cert = NULL, *key = NULL;
	int sig, ret = 1, store_ok = 0;
	sigset_t set;

	if (parse_opts(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	log_init("hsm-emulator", 0, o.level);
	emu.token_lifetime = o.lifetime;
	emu.retention_days = o.retention;
	if (snprintf(emu.dir, sizeof(emu.dir), "%s", o.state) >= (int)sizeof(emu.dir) ||
	    split_hostport(o.listen, &main_addr) ||
	    (o.imds && split_hostport(o.imds, &imds_addr))) {
		usage(stderr);
		return 2;
	}
	if (ensure_dir(emu.dir) || bind_listen(&main_addr) ||
	    (o.imds && bind_listen(&imds_addr)))
		goto out;
	make_base(&main_addr);
	if ((o.blob_root && backup_set_root(o.blob_root)) || domain_open(o.activate) ||
	    store_open())
		goto out;
	store_ok = 1;
	if (pki_ensure(main_addr.host, &cert, &key) || audit_open())
		goto out;
	block_signals(&set);
	/* A running daemon owns (and finally closes) its listen socket. */
	d = server_start(main_addr.fd, LISTEN_MAIN, cert, key);
	if (d)
		main_addr.fd = -1;
	if (o.imds && (di = server_start(imds_addr.fd, LISTEN_IMDS, NULL, NULL)))
		imds_addr.fd = -1;
	if (!d || (o.imds && !di)) {
		log_err("cannot start the HTTP server");
		goto out;
	}
	if (announce(o.imds ? &imds_addr : NULL))
		goto out;
	log_info("serving %s (state %s)", emu.base, emu.dir);
	sigwait(&set, &sig);
	log_info("signal %d, stopping", sig);
	emu_stopping = 1;
	ret = 0;
out:
	if (d)
		MHD_stop_daemon(d);
	if (di)
		MHD_stop_daemon(di);
	if (main_addr.fd >= 0)
		close(main_addr.fd);
	if (imds_addr.fd >= 0)
		close(imds_addr.fd);
	backup_shutdown();
	audit_close();
	if (store_ok)
		store_close();
	domain_close();
	free(cert);
	if (key) {
		OPENSSL_cleanse(key, strlen(key));
		free(key);
	}
	return ret;
}

/* Server by default; "ctl" for the setup client. */
int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "ctl"))
		return ctl_main(argc - 1, argv + 1);
	return serve(argc, argv);
}
