/*
 * webui.h - the web view of the signed-mail log, served by libmicrohttpd
 * inside `kyso agent`.  It reads the log database (agent/logdb.h schema)
 * read-only and never speaks IMAP or SMTP: the agent hands it a function
 * that checks a login (an IMAP LOGIN against the account's server) and one
 * that writes the agent's own metrics.
 *
 *   struct webui_opts o = WEBUI_OPTS_INIT;
 *   o.listen = "127.0.0.1:8080"; o.db_path = ".../kyso.db"; o.templates = ".../templates";
 *   o.accounts = addrs; o.n_accounts = n; o.admins = admins; o.n_admins = m;
 *   o.check_login = agent_check_login; o.ctx = agent;
 *   struct webui *w = webui_start(&o, &err);
 *   ...
 *   webui_stop(&w);
 */
#ifndef KYSO_WEBUI_WEBUI_H
#define KYSO_WEBUI_WEBUI_H

#include <stdbool.h>
#include <stddef.h>

#include "smime/base.h"

struct webui_opts {
	const char *listen;             /* "host:port"; port 0 picks a free one */
	const char *tls_cert, *tls_key; /* PEM files: HTTPS; both NULL: HTTP */
	const char *db_path;            /* the log database, opened read-only */
	const char *templates;          /* folder with *.html, i18n/{vi,en}.json, static/ */
	const char *const *admins;      /* addresses that see every account (lower case) */
	size_t n_admins;
	/* Mailbox addresses (lower case) that may log in, and each one's account
	 * name (parallel arrays, n_accounts long). */
	const char *const *accounts;
	const char *const *account_names;
	size_t n_accounts;
	/* Check a mailbox address + password.  Returns true when the server
	 * accepted it; false + err (KERR_CONFIG: refused; KERR_TEMP: could not
	 * ask).  Called from web threads, may block up to a few seconds. */
	bool (*check_login)(void *ctx, const char *address, const char *password, struct kerr *err);
	/* Append the agent's Prometheus metrics (text format) to out. May be NULL. */
	void (*metrics)(void *ctx, struct buf *out);
	void *ctx;
	unsigned threads;               /* thread pool size; 0: one per core, 2 to 8 */
	unsigned session_idle_s;        /* 0: 1800 */
	unsigned max_connections;       /* 0: 16384 */
};
#define WEBUI_OPTS_INIT { 0 }

struct webui;

/* Start serving.  Returns NULL + err (KERR_CONFIG: cannot listen, bad
 * certificate, templates missing or broken). */
struct webui *webui_start(const struct webui_opts *o, struct kerr *err);
/* The port actually listened on (for port 0). */
unsigned webui_port(const struct webui *w);
/* Stop and free; accepts NULL. */
void webui_stop(struct webui **wp);

#endif
