/*
 * inbox-driver - runs agent/inbox.c's inbox_run in-process, without the
 * agent's main (agent.c), for tests and the benchmark.
 *
 *   inbox-driver run -c CONF [-a ACCOUNT]... [-f FOLDER]... [-s STOPFILE]
 *       Load CONF (kyso.conf(5)), open the trust store and the log
 *       (state_dir/kyso.db), and run one inbox_run thread per account
 *       (all of CONF's accounts when no -a) and folder (default INBOX)
 *       until SIGTERM/SIGINT or until STOPFILE exists.  Then it stops the
 *       threads (cancelling their IMAP calls) and prints one line:
 *       "messages=N imap_us=N verify_us=N log_us=N reconnects=N".
 *       Environment: INBOX_DRIVER_IDLE_S / INBOX_DRIVER_POLL_S override
 *       [agent] idle / poll; INBOX_DRIVER_HOLD=FILE: after each message is
 *       tagged, wait while FILE exists (tests expunge under the agent then).
 *   inbox-driver flags -c CONF -a ACCOUNT -f FOLDER MESSAGE-ID
 *       Print the flags of the message whose Message-ID contains MESSAGE-ID,
 *       one per line (exit 1 when there is no such message).
 *   inbox-driver append -c CONF -a ACCOUNT -f FOLDER -n COUNT FILE
 *       APPEND FILE COUNT times (Message-ID made unique: "<bench-I-" + the
 *       original's), for the benchmark's backlog.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/cli.h"
#include "agent/log.h"

static struct agent ag;
static const char *hold_file;

/* ---- what agent.c provides in the daemon ---- */

void
agent_verify_opts(const struct agent *a, struct smime_verify_opts *o_r)
{
	struct smime_verify_opts o = SMIME_VERIFY_OPTS_INIT;

	o.trust = a->trust;
	o.revocation = a->conf->trust.revocation == CONF_REVOCATION_OFF ? SMIME_REVOCATION_OFF :
	    a->conf->trust.revocation == CONF_REVOCATION_REQUIRE ? SMIME_REVOCATION_REQUIRE : SMIME_REVOCATION_PREFER;
	o.fetcher = NULL;           /* local CRLs only in tests */
	o.attachment_digests = true;
	*o_r = o;
}

void
agent_crash_point(const char *point)
{
	const char *at = getenv("KYSO_TEST_CRASH_AT");

	if (at != NULL && strcmp(at, point) == 0)
		raise(SIGKILL);
	if (hold_file != NULL && strcmp(point, "tagged") == 0) {
		struct stat st;

		while (stat(hold_file, &st) == 0)
			usleep(20000);
	}
}

static void die(const char *fmt, ...) KYSO_PRINTF(1, 2);

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "inbox-driver: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static struct conf *
load(const char *path)
{
	struct conf_report rep = CONF_REPORT_INIT;
	struct conf *c = conf_load(path, &rep);

	if (c == NULL) {
		for (size_t i = 0; i < rep.n; i++)
			fprintf(stderr, "%s\n", rep.lines[i]);
		conf_report_free(&rep);
		die("%s: the configuration has errors", path);
	}
	conf_report_free(&rep);
	return c;
}

static struct account_rt *
rt_new(const struct conf_account *a)
{
	struct account_rt *rt = xcalloc(1, sizeof(*rt));
	struct kerr e = KERR_INIT;

	rt->ag = &ag;
	rt->conf = ag.conf;
	rt->acct = a;
	rt->password = conf_read_secret(a->password_file, &e);
	if (rt->password == NULL)
		die("%s: %s", a->name, e.msg);
	if (pipe(rt->wake_fd) != 0)
		die("pipe: %s", strerror(errno));
	fcntl(rt->wake_fd[0], F_SETFL, O_NONBLOCK);
	fcntl(rt->wake_fd[1], F_SETFL, O_NONBLOCK);
	pthread_mutex_init(&rt->lock, NULL);
	return rt;
}

static void
rt_free(struct account_rt **rtp)
{
	struct account_rt *rt = *rtp;

	if (rt == NULL)
		return;
	conf_secret_free(&rt->password);
	close(rt->wake_fd[0]);
	close(rt->wake_fd[1]);
	pthread_mutex_destroy(&rt->lock);
	free(rt);
	*rtp = NULL;
}

static const struct conf_account *
find_account(const char *name)
{
	for (size_t i = 0; i < ag.conf->n_accounts; i++)
		if (strcmp(ag.conf->accounts[i].name, name) == 0)
			return &ag.conf->accounts[i];
	die("no account %s in the configuration", name);
	return NULL;
}

struct job {
	struct account_rt *rt;
	const char *folder;
	pthread_t t;
};

static void *
job_main(void *arg)
{
	struct job *j = arg;

	inbox_run(j->rt, j->folder);
	return NULL;
}

static struct imapc *
connect_one(const struct conf_account *a, struct account_rt **rt_r)
{
	struct kerr e = KERR_INIT;
	struct account_rt *rt = rt_new(a);
	struct imapc *im = session_open(rt, &e);

	if (im == NULL)
		die("%s: %s", a->name, e.msg);
	*rt_r = rt;
	return im;
}

static int
cmd_flags(const char *acct, const char *folder, const char *msgid)
{
	struct account_rt *rt;
	struct imapc *im = connect_one(find_account(acct), &rt);
	struct imapc_mailbox mb;
	struct imapc_query q = { 0, "Message-ID", msgid };
	struct imapc_uids u = IMAPC_UIDS_INIT;
	struct imapc_flaglist fl = IMAPC_FLAGLIST_INIT;
	struct kerr e = KERR_INIT;

	if (!imapc_select(im, folder, true, &mb, &e) || !imapc_search(im, &q, &u, &e))
		die("%s: %s", acct, e.msg);
	if (u.n == 0)
		die("no message %s in %s", msgid, folder);
	if (!imapc_fetch_flags(im, u.uids[0], u.uids[0], &fl, &e))
		die("%s: %s", acct, e.msg);
	for (size_t i = 0; fl.n > 0 && i < fl.m[0].n; i++)
		printf("%s\n", fl.m[0].flags[i]);
	imapc_flaglist_release(&fl);
	imapc_uids_release(&u);
	session_close(rt, &im);
	rt_free(&rt);
	return 0;
}

static int
cmd_append(const char *acct, const char *folder, long count, const char *file)
{
	struct account_rt *rt;
	struct imapc *im = connect_one(find_account(acct), &rt);
	struct buf msg = BUF_INIT, one = BUF_INIT;
	struct kerr e = KERR_INIT;
	const char *mid;

	if (!cli_read_all(file, 1u << 30, &msg, &e))
		die("%s: %s", file, e.msg);
	mid = strstr(msg.data, "\nMessage-ID: <");
	for (long i = 0; i < count; i++) {
		buf_reset(&one);
		if (mid != NULL) {
			size_t at = (size_t)(mid - msg.data) + 14;

			buf_append(&one, msg.data, at);
			buf_printf(&one, "bench-%ld-", i);
			buf_append(&one, msg.data + at, msg.len - at);
		} else {
			buf_printf(&one, "Message-ID: <bench-%ld@kyso.invalid>\r\n", i);
			buf_append(&one, msg.data, msg.len);
		}
		if (!imapc_append(im, folder, NULL, 0, one.data, one.len, NULL, &e))
			die("append: %s", e.msg);
	}
	buf_release(&one);
	buf_release(&msg);
	session_close(rt, &im);
	rt_free(&rt);
	return 0;
}

static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
	got_signal = sig;
}

static int
cmd_run(const char **accts, size_t n_accts, const char **folders, size_t n_folders, const char *stopfile)
{
	struct job *jobs;
	size_t n_jobs = 0;
	struct kerr e = KERR_INIT;
	char *dbpath;
	struct sigaction sa;
	const char *v;

	if ((v = getenv("INBOX_DRIVER_IDLE_S")) != NULL)
		ag.conf->agent.idle_s = (unsigned)atoi(v);
	if ((v = getenv("INBOX_DRIVER_POLL_S")) != NULL)
		ag.conf->agent.poll_s = (unsigned)atoi(v);
	hold_file = getenv("INBOX_DRIVER_HOLD");
	ag.trust = smime_trust_new(ag.conf->trust.anchors, ag.conf->trust.intermediates, ag.conf->trust.crls, &e);
	if (ag.trust == NULL)
		die("trust: %s", e.msg);
	if (ag.conf->agent.state_dir == NULL)
		die("[agent] state_dir is not set");
	(void)mkdir(ag.conf->agent.state_dir, 0700);
	dbpath = xasprintf("%s/kyso.db", ag.conf->agent.state_dir);
	ag.log = logdb_open(dbpath, &e);
	if (ag.log == NULL)
		die("%s: %s", dbpath, e.msg);
	if (n_accts == 0)
		n_accts = ag.conf->n_accounts;
	if (n_folders == 0) {
		static const char *inbox[] = { "INBOX" };

		folders = inbox;
		n_folders = 1;
	}
	ag.accounts = xcalloc(n_accts, sizeof(*ag.accounts));
	jobs = xcalloc(n_accts * n_folders, sizeof(*jobs));
	for (size_t i = 0; i < n_accts; i++) {
		const struct conf_account *a = accts != NULL ? find_account(accts[i]) : &ag.conf->accounts[i];

		ag.accounts[ag.n_accounts++] = rt_new(a);
		for (size_t f = 0; f < n_folders; f++) {
			jobs[n_jobs].rt = ag.accounts[i];
			jobs[n_jobs].folder = folders[f];
			n_jobs++;
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < n_jobs; i++) {
		pthread_attr_t at;

		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, 256 * 1024);
		if (pthread_create(&jobs[i].t, &at, job_main, &jobs[i]) != 0)
			die("pthread_create: %s", strerror(errno));
		pthread_attr_destroy(&at);
	}
	while (!got_signal) {
		struct stat st;

		if (stopfile != NULL && stat(stopfile, &st) == 0)
			break;
		usleep(50000);
	}
	for (size_t i = 0; i < ag.n_accounts; i++) {
		struct account_rt *rt = ag.accounts[i];

		atomic_store(&rt->stop, true);
		(void)!write(rt->wake_fd[1], "x", 1);
		pthread_mutex_lock(&rt->lock);
		for (size_t k = 0; k < sizeof(rt->sessions) / sizeof(rt->sessions[0]); k++)
			if (rt->sessions[k] != NULL)
				imapc_cancel(rt->sessions[k]);
		pthread_mutex_unlock(&rt->lock);
	}
	for (size_t i = 0; i < n_jobs; i++)
		pthread_join(jobs[i].t, NULL);
	printf("messages=%llu imap_us=%llu verify_us=%llu log_us=%llu reconnects=%llu\n",
	    (unsigned long long)atomic_load(&inbox_timing.messages), (unsigned long long)atomic_load(&inbox_timing.imap_us),
	    (unsigned long long)atomic_load(&inbox_timing.verify_us), (unsigned long long)atomic_load(&inbox_timing.log_us),
	    (unsigned long long)atomic_load(&ag.metrics.imap_reconnects_total));
	fflush(stdout);
	for (size_t i = 0; i < ag.n_accounts; i++)
		rt_free(&ag.accounts[i]);
	free(ag.accounts);
	free(jobs);
	logdb_close(&ag.log);
	smime_trust_free(&ag.trust);
	free(dbpath);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *cpath = NULL, *stopfile = NULL, **accts = NULL, **folders = NULL;
	size_t n_accts = 0, n_folders = 0;
	long count = 1;
	int c, rc;
	const char *cmd;

	if (argc < 2)
		die("usage: inbox-driver run|flags|append -c CONF ...");
	cmd = argv[1];
	optind = 2;
	accts = xcalloc((size_t)argc, sizeof(*accts));
	folders = xcalloc((size_t)argc, sizeof(*folders));
	while ((c = getopt(argc, argv, "c:a:f:s:n:")) != -1) {
		switch (c) {
		case 'c': cpath = optarg; break;
		case 'a': accts[n_accts++] = optarg; break;
		case 'f': folders[n_folders++] = optarg; break;
		case 's': stopfile = optarg; break;
		case 'n': count = atol(optarg); break;
		default: die("bad option");
		}
	}
	if (cpath == NULL)
		die("-c CONF is required");
	log_setup(getenv("INBOX_DRIVER_DEBUG") != NULL ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, LOG_TARGET_STDERR, 2);
	ag.conf = load(cpath);
	if (strcmp(cmd, "run") == 0)
		rc = cmd_run(n_accts > 0 ? accts : NULL, n_accts, folders, n_folders, stopfile);
	else if (strcmp(cmd, "flags") == 0 && n_accts == 1 && n_folders == 1 && optind < argc)
		rc = cmd_flags(accts[0], folders[0], argv[optind]);
	else if (strcmp(cmd, "append") == 0 && n_accts == 1 && n_folders == 1 && optind < argc)
		rc = cmd_append(accts[0], folders[0], count, argv[optind]);
	else
		die("usage: inbox-driver run|flags|append -c CONF ...");
	free(accts);
	free(folders);
	conf_free(&ag.conf);
	return rc;
}
