/*
 * webserve - the web view alone, over a given log database, for the e2e,
 * browser and benchmark tests.  Logins are checked either by a real IMAP
 * LOGIN (agent/imapc, as the agent does) or against a fixed list.
 *
 *   webserve --db LOG.db --templates DIR [--listen 127.0.0.1:0]
 *            --account ADDRESS=NAME ... [--admin ADDRESS ...]
 *            (--fixed-logins FILE | --imap imap://host:port [--ca CA.pem])
 *            [--tls-cert CERT.pem --tls-key KEY.pem] [--threads N]
 *            [--idle-s N] [--max-connections N]
 *
 * FILE: "address password" per line.  Prints "port N" on stdout once it
 * listens, then serves until SIGTERM or SIGINT.  Exit 1 with the error on
 * stderr when it cannot start.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/conf.h"
#include "agent/imapc.h"
#include "agent/tls.h"
#include "webui/webui.h"

struct login {
	char *address, *password;
};

static struct login *fixed;
static size_t n_fixed;
static struct conf_endpoint imap_ep;
static const char *imap_ca;
static bool use_imap;

static bool
check_fixed(const char *address, const char *password, struct kerr *err)
{
	for (size_t i = 0; i < n_fixed; i++)
		if (strcmp(fixed[i].address, address) == 0 && strcmp(fixed[i].password, password) == 0)
			return true;
	kerr_set(err, KERR_CONFIG, "login refused");
	return false;
}

static bool
check_imap(const char *address, const char *password, struct kerr *err)
{
	struct tls_opts tls = { .ca_file = imap_ca, .verify = true, .timeout_s = 10 };
	struct imapc *im = imapc_connect(&imap_ep, &tls, err);
	bool ok;

	if (im == NULL)
		return false;   /* KERR_TEMP or KERR_CONFIG as imapc says */
	ok = imapc_login(im, address, password, err);
	if (ok) {
		struct kerr e2 = KERR_INIT;

		imapc_logout(im, &e2);
	}
	imapc_free(&im);
	return ok;
}

static bool
check_login(void *ctx, const char *address, const char *password, struct kerr *err)
{
	(void)ctx;
	return use_imap ? check_imap(address, password, err) : check_fixed(address, password, err);
}

static void
metrics(void *ctx, struct buf *out)
{
	(void)ctx;
	buf_appends(out, "# TYPE kyso_webserve_up gauge\nkyso_webserve_up 1\n");
}

static void
read_fixed(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];

	if (f == NULL) {
		perror(path);
		exit(1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *sp;

		line[strcspn(line, "\r\n")] = '\0';
		sp = strchr(line, ' ');
		if (line[0] == '#' || sp == NULL)
			continue;
		*sp = '\0';
		fixed = xreallocarray(fixed, n_fixed + 1, sizeof(*fixed));
		fixed[n_fixed].address = xstrdup(line);
		fixed[n_fixed].password = xstrdup(sp + 1);
		n_fixed++;
	}
	fclose(f);
}

static void
usage(void)
{
	fprintf(stderr, "usage: webserve --db FILE --templates DIR [--listen HOST:PORT] "
	    "--account ADDRESS=NAME... [--admin ADDRESS...] (--fixed-logins FILE | --imap URL [--ca FILE]) "
	    "[--tls-cert FILE --tls-key FILE] [--threads N] [--idle-s N] [--max-connections N]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct webui_opts o = WEBUI_OPTS_INIT;
	const char **addrs = xcalloc((size_t)argc, sizeof(*addrs));
	const char **names = xcalloc((size_t)argc, sizeof(*names));
	const char **admins = xcalloc((size_t)argc, sizeof(*admins));
	size_t n_acct = 0, n_admin = 0;
	struct kerr err = KERR_INIT;
	struct webui *w;
	sigset_t set;
	int sig;

	o.listen = "127.0.0.1:0";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--db") == 0) {
			o.db_path = v;
		} else if (strcmp(a, "--templates") == 0) {
			o.templates = v;
		} else if (strcmp(a, "--listen") == 0) {
			o.listen = v;
		} else if (strcmp(a, "--account") == 0) {
			char *eq = strchr(v, '=');

			if (eq == NULL)
				usage();
			addrs[n_acct] = xstrndup(v, (size_t)(eq - v));
			names[n_acct++] = eq + 1;
		} else if (strcmp(a, "--admin") == 0) {
			admins[n_admin++] = v;
		} else if (strcmp(a, "--fixed-logins") == 0) {
			read_fixed(v);
		} else if (strcmp(a, "--imap") == 0) {
			char msg[256];

			if (!conf_parse_endpoint("imap", v, &imap_ep, msg, sizeof(msg))) {
				fprintf(stderr, "webserve: %s\n", msg);
				return 1;
			}
			use_imap = true;
		} else if (strcmp(a, "--ca") == 0) {
			imap_ca = v;
		} else if (strcmp(a, "--tls-cert") == 0) {
			o.tls_cert = v;
		} else if (strcmp(a, "--tls-key") == 0) {
			o.tls_key = v;
		} else if (strcmp(a, "--threads") == 0) {
			o.threads = (unsigned)atoi(v);
		} else if (strcmp(a, "--idle-s") == 0) {
			o.session_idle_s = (unsigned)atoi(v);
		} else if (strcmp(a, "--max-connections") == 0) {
			o.max_connections = (unsigned)atoi(v);
		} else {
			usage();
		}
	}
	if (o.db_path == NULL || o.templates == NULL)
		usage();
	o.accounts = addrs;
	o.account_names = names;
	o.n_accounts = n_acct;
	o.admins = admins;
	o.n_admins = n_admin;
	o.check_login = check_login;
	o.metrics = metrics;

	/* signals are taken by sigwait here, never by the web threads */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	w = webui_start(&o, &err);
	if (w == NULL) {
		fprintf(stderr, "webserve: %s (%s)\n", err.msg, kerr_class_name(err.cls));
		return 1;
	}
	printf("port %u\n", webui_port(w));
	fflush(stdout);
	sigwait(&set, &sig);
	webui_stop(&w);
	for (size_t i = 0; i < n_acct; i++)
		free((char *)addrs[i]);
	free(addrs);
	free(names);
	free(admins);
	for (size_t i = 0; i < n_fixed; i++) {
		free(fixed[i].address);
		free(fixed[i].password);
	}
	free(fixed);
	free(imap_ep.host);
	return 0;
}
