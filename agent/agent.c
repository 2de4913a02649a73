/*
 * agent.c - `kyso agent -c FILE`: the process.
 *
 * Start: load the configuration (every problem printed as file:line:
 * message, exit 2), set up logging, make state_dir (0700), open the journal
 * and the log (state_dir/kyso.db), the trust store and the revocation
 * fetcher, read each account's password once, then start one thread per
 * account for the outbox and one per verified folder, and the web view.
 *
 * Signals: they are blocked in every thread; the main thread takes them with
 * sigwait().  SIGTERM / SIGINT stop: every account's stop flag is set, its
 * wake pipe written, its IMAP and SMTP sessions cancelled, and the threads
 * joined (a step in flight either finishes or stays in the journal, which
 * resumes it at the next start).  SIGHUP reloads: the new configuration is
 * loaded and checked; if it has problems they are logged and the agent keeps
 * running with the old one; if it is good every account thread is stopped
 * and started again with it (simple and always correct: no thread ever sees
 * two configurations).
 *
 * Threads get small stacks (AGENT_STACK): 500 accounts, two threads each,
 * must fit in one process.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/fetch.h"
#include "agent/log.h"
#include "webui/webui.h"

/* Stacks: libetpan's parsers, OpenSSL's CMS code and GPGME stay well under
 * 128 KiB; sanitizers need several times more. */
#if defined(__SANITIZE_ADDRESS__)
#define AGENT_STACK (2048 * 1024)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AGENT_STACK (2048 * 1024)
#endif
#endif
#ifndef AGENT_STACK
#define AGENT_STACK (256 * 1024)
#endif

/* One worker thread. */
struct worker {
	pthread_t th;
	struct account_rt *rt;      /* borrowed from the agent */
	char *folder;               /* owned; NULL: the outbox thread */
};

/* What the running process holds besides struct agent (one agent per process). */
static struct {
	struct worker *w;           /* owned */
	size_t n_w;
	struct webui *web;          /* owned */
	char *db_path;              /* owned: state_dir/kyso.db as opened */
	struct fetch_opts fo;
	const char **web_addrs, **web_names, **web_admins;  /* owned arrays, borrowed strings */
	pthread_mutex_t lock;       /* guards ag->accounts and ag->conf against the web threads */
	enum log_target log_target;
	int lock_fd;                /* state_dir/kyso.lock, flock()ed while running */
} run = { .lock = PTHREAD_MUTEX_INITIALIZER, .lock_fd = -1 };

/* ---- the crash hook for the fault tests ---- */

static pthread_once_t crash_once = PTHREAD_ONCE_INIT;
static char *crash_at;          /* owned, set once */

static void
crash_init(void)
{
	const char *v = getenv("KYSO_TEST_CRASH_AT");

	if (v != NULL && *v != '\0')
		crash_at = strdup(v);
}

void
agent_crash_point(const char *point)
{
	pthread_once(&crash_once, crash_init);
	if (crash_at != NULL && strcmp(crash_at, point) == 0) {
		log_warn("step=crash point=%s reason=KYSO_TEST_CRASH_AT", point);
		raise(SIGKILL);
	}
}

/* ---- verification options, signers, metrics ---- */

void
agent_verify_opts(const struct agent *ag, struct smime_verify_opts *o)
{
	struct smime_verify_opts d = SMIME_VERIFY_OPTS_INIT;

	*o = d;
	o->trust = ag->trust;
	switch (ag->conf->trust.revocation) {
	case CONF_REVOCATION_OFF:
		o->revocation = SMIME_REVOCATION_OFF;
		break;
	case CONF_REVOCATION_PREFER:
		o->revocation = SMIME_REVOCATION_PREFER;
		break;
	case CONF_REVOCATION_REQUIRE:
		o->revocation = SMIME_REVOCATION_REQUIRE;
		break;
	}
	o->fetcher = ag->conf->trust.revocation != CONF_REVOCATION_OFF ? &ag->fetcher : NULL;
	o->attachment_digests = true;
}

struct agent_signer *
agent_signer_get(struct agent *ag, const struct conf_identity *id, struct kerr *err)
{
	struct agent_signer *s = NULL;
	struct smime_key_spec spec = { 0 };
	const char *secret_file;
	char *secret = NULL;

	for (size_t i = 0; i < ag->n_signers; i++)
		if (ag->signers[i].id == id)
			s = &ag->signers[i];
	if (s == NULL) {
		kerr_set(err, KERR_INTERNAL, "identity %s is not the agent's", id->name);
		return NULL;
	}
	pthread_mutex_lock(&s->lock);
	if (s->signer != NULL)
		return s;
	secret_file = id->source == CONF_KEY_P12 ? id->pass_file : id->pin_file;
	if (secret_file != NULL && (secret = conf_read_secret(secret_file, err)) == NULL)
		goto fail;
	spec.p12 = id->p12;
	spec.cert = id->cert;
	spec.key = id->key;
	spec.chain = id->chain;
	spec.gpgsm = id->gpgsm;
	spec.gnupghome = id->gnupghome;
	spec.secret = secret;
	s->signer = smime_signer_open(&spec, err);
	conf_secret_free(&secret);
	if (s->signer == NULL)
		goto fail;
	log_info("step=signer identity=%s result=open", id->name);
	return s;
fail:
	kerr_prefix(err, "identity %s: ", id->name);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

void
agent_signer_release(struct agent_signer *s)
{
	if (s != NULL)
		pthread_mutex_unlock(&s->lock);
}

/* Upper bounds of the verification latency buckets, in milliseconds; the
 * last bucket (verify_hist[11]) is everything above.  inbox.c counts into
 * them with the same bounds (its hist_bounds). */
static const int64_t verify_bounds_ms[11] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000 };

static void
metric(struct buf *out, const char *name, const char *type, const char *help, unsigned long long v)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

/* A Prometheus label value: \, " and newline escaped. */
static void
label(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			buf_printf(out, "\\%c", *s);
		else if (*s == '\n')
			buf_appends(out, "\\n");
		else
			buf_append(out, s, 1);
	}
}

static void
agent_metrics_text(void *ctx, struct buf *out)
{
	struct agent *ag = ctx;
	struct agent_metrics *m = &ag->metrics;
	unsigned long long cum = 0, count = 0;

	metric(out, "kyso_messages_signed_total", "counter", "Outgoing messages signed.",
	    atomic_load(&m->signed_total));
	metric(out, "kyso_messages_sent_total", "counter", "Outgoing messages accepted by the SMTP server.",
	    atomic_load(&m->sent_total));
	metric(out, "kyso_messages_filed_total", "counter", "Signed copies filed in Sent.",
	    atomic_load(&m->filed_total));
	metric(out, "kyso_messages_failed_total", "counter",
	    "Outgoing messages refused for good (moved to the failed folder).", atomic_load(&m->failed_total));
	metric(out, "kyso_messages_deferred_total", "counter", "Temporary failures (retried later).",
	    atomic_load(&m->deferred_total));
	buf_appends(out, "# HELP kyso_messages_verified_total Incoming messages verified, by verdict.\n"
	    "# TYPE kyso_messages_verified_total counter\n");
	for (int v = SMIME_VERDICT_VALID; v <= SMIME_VERDICT_MALFORMED; v++)
		buf_printf(out, "kyso_messages_verified_total{verdict=\"%s\"} %llu\n",
		    smime_verdict_code((enum smime_verdict)v), atomic_load(&m->verified_by_verdict[v]));
	buf_appends(out, "# HELP kyso_verify_seconds Time to verify one incoming message.\n"
	    "# TYPE kyso_verify_seconds histogram\n");
	for (size_t b = 0; b < 12; b++)
		count += atomic_load(&m->verify_hist[b]);
	for (size_t b = 0; b < 12; b++) {
		cum += atomic_load(&m->verify_hist[b]);
		if (b < 11)
			buf_printf(out, "kyso_verify_seconds_bucket{le=\"%g\"} %llu\n",
			    (double)verify_bounds_ms[b] / 1000.0, cum);
		else
			buf_printf(out, "kyso_verify_seconds_bucket{le=\"+Inf\"} %llu\n", count);
	}
	buf_printf(out, "kyso_verify_seconds_sum %.3f\nkyso_verify_seconds_count %llu\n",
	    (double)atomic_load(&m->verify_ms_sum) / 1000.0, count);
	buf_appends(out, "# HELP kyso_account_connected Whether the account has a logged-in IMAP session.\n"
	    "# TYPE kyso_account_connected gauge\n");
	pthread_mutex_lock(&run.lock);
	for (size_t i = 0; i < ag->n_accounts; i++) {
		buf_appends(out, "kyso_account_connected{account=\"");
		label(out, ag->accounts[i]->acct->name);
		buf_printf(out, "\"} %d\n", atomic_load(&ag->accounts[i]->connected) > 0 ? 1 : 0);
	}
	pthread_mutex_unlock(&run.lock);
	metric(out, "kyso_imap_reconnects_total", "counter", "IMAP sessions opened again after a fault.",
	    atomic_load(&m->imap_reconnects_total));
}

/* The web view's login check: an IMAP LOGIN at the server of the account
 * whose address this is.  An unknown address is refused without contacting
 * anything. */
static bool
agent_check_login(void *ctx, const char *address, const char *password, struct kerr *err)
{
	struct agent *ag = ctx;
	struct conf_endpoint ep = { 0 };
	struct tls_opts tls = { .timeout_s = 10 };
	char *ca = NULL, *user = NULL;
	struct imapc *im = NULL;
	struct kerr lerr = KERR_INIT;
	bool found = false, ok = false;

	pthread_mutex_lock(&run.lock);
	for (size_t i = 0; i < ag->conf->n_accounts; i++) {
		const struct conf_account *a = &ag->conf->accounts[i];

		if (a->address != NULL && strcasecmp(a->address, address) == 0) {
			ep.host = xstrdup(a->imap.host);
			ep.port = a->imap.port;
			ep.tls = a->imap.tls;
			ca = a->tls_ca != NULL ? xstrdup(a->tls_ca) : NULL;
			tls.verify = a->tls_verify;
			user = xstrdup(a->username);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&run.lock);
	if (!found) {
		kerr_set(err, KERR_CONFIG, "no account has the address %s", address);
		return false;
	}
	tls.ca_file = ca;
	im = imapc_connect(&ep, &tls, err);
	if (im == NULL) {
		/* Could not ask: not a refusal. */
		err->cls = KERR_TEMP;
		goto out;
	}
	ok = imapc_login(im, user, password, err);
	(void)imapc_logout(im, &lerr);
out:
	imapc_free(&im);
	free(ep.host);
	free(ca);
	free(user);
	return ok;
}

/* ---- accounts and their threads ---- */

static void
account_free(struct account_rt **rtp)
{
	struct account_rt *rt = *rtp;

	if (rt == NULL)
		return;
	conf_secret_free(&rt->password);
	if (rt->wake_fd[0] >= 0)
		close(rt->wake_fd[0]);
	if (rt->wake_fd[1] >= 0)
		close(rt->wake_fd[1]);
	pthread_mutex_destroy(&rt->lock);
	free(rt);
	*rtp = NULL;
}

static struct account_rt *
account_new(struct agent *ag, const struct conf_account *a)
{
	struct account_rt *rt = xcalloc(1, sizeof(*rt));
	struct kerr err = KERR_INIT;

	rt->ag = ag;
	rt->conf = ag->conf;
	rt->acct = a;
	rt->wake_fd[0] = rt->wake_fd[1] = -1;
	atomic_init(&rt->stop, false);
	atomic_init(&rt->connected, 0);
	pthread_mutex_init(&rt->lock, NULL);
	if (pipe2(rt->wake_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
		log_error("acct=%s step=start error=\"pipe: %s\"", a->name, strerror(errno));
		account_free(&rt);
		return NULL;
	}
	/* Read once; wiped when the account stops.  Never logged. */
	rt->password = conf_read_secret(a->password_file, &err);
	if (rt->password == NULL) {
		char q[600];

		log_error("acct=%s step=start class=%s error=%s", a->name, kerr_class_name(err.cls),
		    log_quote(q, sizeof(q), err.msg));
		account_free(&rt);
		return NULL;
	}
	if (!a->tls_verify)
		log_warn("acct=%s step=start tls_verify=no warning=\"server certificates are NOT checked\"", a->name);
	return rt;
}

static void *
outbox_thread(void *arg)
{
	struct worker *w = arg;

	outbox_run(w->rt);
	return NULL;
}

static void *
inbox_thread(void *arg)
{
	struct worker *w = arg;

	inbox_run(w->rt, w->folder);
	return NULL;
}

static void
worker_add(struct account_rt *rt, const char *folder)
{
	run.w = xreallocarray(run.w, run.n_w + 1, sizeof(*run.w));
	memset(&run.w[run.n_w], 0, sizeof(run.w[run.n_w]));
	run.w[run.n_w].rt = rt;
	run.w[run.n_w].folder = folder != NULL ? xstrdup(folder) : NULL;
	run.n_w++;
}

static void
accounts_start(struct agent *ag)
{
	pthread_attr_t attr;

	pthread_mutex_lock(&run.lock);
	ag->accounts = xcalloc(ag->conf->n_accounts + 1, sizeof(*ag->accounts));
	ag->n_accounts = 0;
	for (size_t i = 0; i < ag->conf->n_accounts; i++) {
		const struct conf_account *a = &ag->conf->accounts[i];
		struct account_rt *rt = account_new(ag, a);

		if (rt == NULL)
			continue;       /* logged; the other accounts run */
		ag->accounts[ag->n_accounts++] = rt;
		worker_add(rt, NULL);
		if (a->verify_inbox)
			worker_add(rt, "INBOX");
		for (size_t f = 0; f < a->verify_folders.n; f++)
			if (!(a->verify_inbox && strcasecmp(a->verify_folders.items[f], "INBOX") == 0))
				worker_add(rt, a->verify_folders.items[f]);
	}
	pthread_mutex_unlock(&run.lock);

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, AGENT_STACK);
	for (size_t i = 0; i < run.n_w; i++) {
		struct worker *w = &run.w[i];
		int rc = pthread_create(&w->th, &attr, w->folder == NULL ? outbox_thread : inbox_thread, w);

		if (rc != 0) {
			log_error("acct=%s step=start error=\"thread: %s\"", w->rt->acct->name, strerror(rc));
			free(w->folder);
			memmove(w, w + 1, (run.n_w - i - 1) * sizeof(*w));
			run.n_w--;
			i--;
		}
	}
	pthread_attr_destroy(&attr);
	log_info("step=start accounts=%zu threads=%zu", ag->n_accounts, run.n_w);
}

static void
accounts_stop(struct agent *ag)
{
	for (size_t i = 0; i < ag->n_accounts; i++) {
		struct account_rt *rt = ag->accounts[i];

		atomic_store(&rt->stop, true);
		if (write(rt->wake_fd[1], "s", 1) < 0 && errno != EAGAIN)
			log_warn("acct=%s step=stop error=\"wake: %s\"", rt->acct->name, strerror(errno));
		pthread_mutex_lock(&rt->lock);
		for (size_t s = 0; s < sizeof(rt->sessions) / sizeof(rt->sessions[0]); s++)
			if (rt->sessions[s] != NULL)
				imapc_cancel(rt->sessions[s]);
		pthread_mutex_unlock(&rt->lock);
		outbox_cancel(rt);
	}
	for (size_t i = 0; i < run.n_w; i++) {
		pthread_join(run.w[i].th, NULL);
		free(run.w[i].folder);
	}
	free(run.w);
	run.w = NULL;
	run.n_w = 0;
	pthread_mutex_lock(&run.lock);
	for (size_t i = 0; i < ag->n_accounts; i++)
		account_free(&ag->accounts[i]);
	free(ag->accounts);
	ag->accounts = NULL;
	ag->n_accounts = 0;
	pthread_mutex_unlock(&run.lock);
}

/* ---- signers, trust, web view ---- */

static void
signers_make(struct agent *ag)
{
	ag->n_signers = ag->conf->n_identities;
	ag->signers = xcalloc(ag->n_signers + 1, sizeof(*ag->signers));
	for (size_t i = 0; i < ag->n_signers; i++) {
		ag->signers[i].id = &ag->conf->identities[i];
		pthread_mutex_init(&ag->signers[i].lock, NULL);
	}
}

static void
signers_free(struct agent *ag)
{
	for (size_t i = 0; i < ag->n_signers; i++) {
		smime_signer_free(&ag->signers[i].signer);
		pthread_mutex_destroy(&ag->signers[i].lock);
	}
	free(ag->signers);
	ag->signers = NULL;
	ag->n_signers = 0;
}

static void
web_start(struct agent *ag)
{
	const struct conf *c = ag->conf;
	struct webui_opts o = WEBUI_OPTS_INIT;
	struct kerr err = KERR_INIT;
	char q[600];

	if (!c->web.enabled)
		return;
	run.web_addrs = xcalloc(c->n_accounts + 1, sizeof(char *));
	run.web_names = xcalloc(c->n_accounts + 1, sizeof(char *));
	run.web_admins = xcalloc(c->web.admins.n + 1, sizeof(char *));
	for (size_t i = 0; i < c->n_accounts; i++) {
		run.web_addrs[i] = c->accounts[i].address;
		run.web_names[i] = c->accounts[i].name;
	}
	for (size_t i = 0; i < c->web.admins.n; i++)
		run.web_admins[i] = c->web.admins.items[i];
	o.listen = c->web.listen;
	o.tls_cert = c->web.tls_cert;
	o.tls_key = c->web.tls_key;
	o.db_path = run.db_path;
	o.templates = c->web.templates;
	o.admins = run.web_admins;
	o.n_admins = c->web.admins.n;
	o.accounts = run.web_addrs;
	o.account_names = run.web_names;
	o.n_accounts = c->n_accounts;
	o.check_login = agent_check_login;
	o.metrics = agent_metrics_text;
	o.ctx = ag;
	run.web = webui_start(&o, &err);
	if (run.web == NULL)
		log_error("step=web listen=%s class=%s error=%s", c->web.listen, kerr_class_name(err.cls),
		    log_quote(q, sizeof(q), err.msg));
	else
		log_info("step=web listen=%s port=%u result=ok", c->web.listen, webui_port(run.web));
}

static void
web_stop(void)
{
	webui_stop(&run.web);
	xfree(&run.web_addrs);
	xfree(&run.web_names);
	xfree(&run.web_admins);
}

static bool
make_state_dir(const char *dir, struct kerr *err)
{
	char *p = xstrdup(dir);
	struct stat st;
	bool ok = true;

	/* mkdir -p, each new level 0700. */
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, 0700) != 0 && errno != EEXIST) {
				kerr_set(err, KERR_CONFIG, "state_dir %s: cannot create %s: %s", dir, p, strerror(errno));
				ok = false;
				break;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	if (ok && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
		kerr_set(err, KERR_CONFIG, "state_dir %s is not a folder", dir);
		ok = false;
	}
	if (ok && (st.st_mode & 077) != 0)
		log_warn("step=start state_dir=%s warning=\"readable by others (mode %03o): run chmod 700\"",
		    dir, (unsigned)(st.st_mode & 0777));
	free(p);
	return ok;
}

/* One agent per state_dir: two would both submit a message the journal
 * has as SIGNED. */
static bool
lock_state_dir(const char *dir, struct kerr *err)
{
	char *path = xasprintf("%s/kyso.lock", dir);

	run.lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (run.lock_fd < 0) {
		kerr_set(err, KERR_CONFIG, "%s: %s", path, strerror(errno));
		free(path);
		return false;
	}
	if (flock(run.lock_fd, LOCK_EX | LOCK_NB) != 0) {
		kerr_set(err, KERR_CONFIG, "%s: another kyso agent is running with this state_dir", path);
		close(run.lock_fd);
		run.lock_fd = -1;
		free(path);
		return false;
	}
	free(path);
	return true;
}

static void
print_report(const struct conf_report *rep, bool to_log)
{
	for (size_t i = 0; i < rep->n; i++) {
		if (to_log)
			log_error("step=reload problem=\"%s\"", rep->lines[i]);
		else
			fprintf(stderr, "%s\n", rep->lines[i]);
	}
}

/* SIGHUP: keep the old configuration unless the new one is good. */
static void
reload(struct agent *ag)
{
	struct conf_report rep = CONF_REPORT_INIT;
	struct conf *nc = conf_load(ag->conf->path, &rep);
	struct smime_trust *nt = NULL;
	struct kerr err = KERR_INIT;
	char q[600];

	if (nc == NULL) {
		print_report(&rep, true);
		log_error("step=reload result=refused problems=%zu keeping=old-configuration", rep.n);
		conf_report_free(&rep);
		return;
	}
	nt = smime_trust_new(nc->trust.anchors, nc->trust.intermediates, nc->trust.crls, &err);
	if (nt == NULL) {
		log_error("step=reload result=refused error=%s keeping=old-configuration",
		    log_quote(q, sizeof(q), err.msg));
		conf_free(&nc);
		return;
	}
	if (strcmp(nc->agent.state_dir, ag->conf->agent.state_dir) != 0)
		log_warn("step=reload warning=\"state_dir changed: it takes effect at the next start\"");
	log_info("step=reload result=accepted accounts=%zu", nc->n_accounts);
	web_stop();
	accounts_stop(ag);
	signers_free(ag);
	pthread_mutex_lock(&run.lock);
	smime_trust_free(&ag->trust);
	ag->trust = nt;
	conf_free(&ag->conf);
	ag->conf = nc;
	pthread_mutex_unlock(&run.lock);
	log_setup(nc->agent.log_level, run.log_target, -1);
	signers_make(ag);
	accounts_start(ag);
	web_start(ag);
}

static void
agent_usage(FILE *fp)
{
	fputs("usage: kyso agent [-c FILE] [--syslog] [--foreground]\n"
	    "Runs the agent: signs and sends drafts from each account's outbox, verifies\n"
	    "incoming mail and tags it, serves the web view.  SIGTERM stops, SIGHUP reloads.\n", fp);
}

int
agent_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "syslog", no_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = KYSO_SYSCONFDIR "/kyso/kyso.conf";
	struct conf_report rep = CONF_REPORT_INIT;
	struct agent *ag = NULL;
	struct kerr err = KERR_INIT;
	bool use_syslog = false;
	sigset_t set;
	char q[600];
	int ch, rc = 2;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:sfh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 's':
			use_syslog = true;
			break;
		case 'f':
			break;          /* kyso agent never forks: it always runs in the foreground */
		case 'h':
			agent_usage(stdout);
			return 0;
		default:
			agent_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kyso agent: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}

	/* Every thread started from here on inherits this mask; only the main
	 * thread takes the signals, with sigwait(). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);       /* a full file: write() fails with EFBIG instead */

	ag = xcalloc(1, sizeof(*ag));
	ag->conf = conf_load(path, &rep);
	if (ag->conf == NULL) {
		print_report(&rep, false);
		fprintf(stderr, "kyso agent: %zu problem%s in %s\n", rep.n, rep.n == 1 ? "" : "s", path);
		goto out;
	}
	run.log_target = use_syslog ? LOG_TARGET_SYSLOG : LOG_TARGET_STDERR;
	log_setup(ag->conf->agent.log_level, run.log_target, -1);
	if (!make_state_dir(ag->conf->agent.state_dir, &err) || !lock_state_dir(ag->conf->agent.state_dir, &err))
		goto fail;
	run.db_path = xasprintf("%s/kyso.db", ag->conf->agent.state_dir);
	if ((ag->journal = journal_open(run.db_path, &err)) == NULL)
		goto fail;
	if ((ag->log = logdb_open(run.db_path, &err)) == NULL)
		goto fail;
	if ((ag->trust = smime_trust_new(ag->conf->trust.anchors, ag->conf->trust.intermediates,
	    ag->conf->trust.crls, &err)) == NULL)
		goto fail;
	run.fo.timeout_ms = FETCH_DEFAULT_TIMEOUT_MS;
	ag->fetcher = fetch_http_fetcher(&run.fo);
	signers_make(ag);
	log_info("step=start version=%s config=%s state_dir=%s pid=%ld", PACKAGE_VERSION, path,
	    ag->conf->agent.state_dir, (long)getpid());
	accounts_start(ag);
	web_start(ag);

	for (;;) {
		int sig = 0;

		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("step=reload signal=HUP");
			reload(ag);
			continue;
		}
		log_info("step=stop signal=%s", sig == SIGTERM ? "TERM" : "INT");
		break;
	}
	atomic_store(&ag->stopping, true);
	web_stop();
	accounts_stop(ag);
	log_info("step=stop result=ok");
	rc = 0;
	goto out;
fail:
	log_error("step=start class=%s error=%s", kerr_class_name(err.cls), log_quote(q, sizeof(q), err.msg));
	fprintf(stderr, "kyso agent: %s\n", err.msg);
out:
	conf_report_free(&rep);
	if (ag != NULL) {
		signers_free(ag);
		logdb_close(&ag->log);
		journal_close(&ag->journal);
		smime_trust_free(&ag->trust);
		conf_free(&ag->conf);
		free(ag);
	}
	xfree(&run.db_path);
	if (run.lock_fd >= 0)
		close(run.lock_fd);
	run.lock_fd = -1;
	return rc;
}
