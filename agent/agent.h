/*
 * agent.h - `kyso agent`: the daemon's shared state and the seams between
 * its parts.
 *
 *   agent.c    the process: loads the configuration, opens the trust store,
 *              the journal and the log (one SQLite file, state_dir/kyso.db),
 *              starts one thread per account and folder, the web view, and
 *              handles SIGTERM (stop), SIGHUP (reload), SIGINT (stop).
 *   session.c  connect + LOGIN with backoff and jitter, interruptible waits,
 *              account status for the web view.
 *   outbox.c   the outgoing workflow (outbox -> sign -> SMTP -> Sent -> done),
 *              driven by the journal, exactly once; failure notices.
 *   inbox.c    the incoming workflow (INBOX and verify_folders): IDLE or poll,
 *              BODY.PEEK, verify, log, tag with keywords.
 *
 * Threads: per account, one outbox thread (when any identity signs for the
 * account's address... always: a draft with no identity gets a notice) and
 * one thread per verified folder.  Each thread holds its own IMAP session.
 * Shared objects (trust, journal, logdb, signers) are safe to use from all of
 * them: each serialises itself with a mutex where its library needs it.
 */
#ifndef KYSO_AGENT_AGENT_H
#define KYSO_AGENT_AGENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/conf.h"
#include "agent/imapc.h"
#include "agent/journal.h"
#include "agent/logdb.h"
#include "smime/base.h"
#include "smime/smime.h"

struct agent;

/* An identity's signer, opened once, used under its lock (PKCS#11 sessions
 * and GPGME contexts are not thread-safe). */
struct agent_signer {
	const struct conf_identity *id;     /* borrowed from the conf */
	struct smime_signer *signer;        /* NULL until first use */
	pthread_mutex_t lock;
};

/* Counters for /metrics (the agent's own; the web view adds its own). */
struct agent_metrics {
	atomic_ullong signed_total, sent_total, filed_total, failed_total, deferred_total;
	atomic_ullong verified_by_verdict[8];   /* index: enum smime_verdict */
	/* Verification latency: verify_hist[i] counts verifications that took
	 * at most 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000 ms and more than
	 * the bound before (i = 0..10); [11] is +Inf.  Not cumulative: the
	 * /metrics exporter sums them into Prometheus' le buckets. */
	atomic_ullong verify_hist[12];
	atomic_ullong verify_ms_sum, imap_reconnects_total;
};

/* One account at run time. */
struct account_rt {
	struct agent *ag;
	const struct conf *conf;            /* borrowed: the agent's current conf */
	const struct conf_account *acct;    /* borrowed from conf */
	char *password;                     /* read once from password_file; wiped on free */
	atomic_bool stop;                   /* set by the agent; threads return soon after */
	int wake_fd[2];                     /* a pipe: writing wakes sleeping threads */
	pthread_mutex_t lock;               /* guards sessions[] */
	struct imapc *sessions[8];          /* live sessions, for imapc_cancel() on stop */
	atomic_int connected;               /* sessions logged in right now */
};

/* The whole process. */
struct agent {
	struct conf *conf;                  /* owned */
	struct smime_trust *trust;          /* owned, shared */
	struct smime_fetcher fetcher;       /* revocation data over HTTP (agent/fetch.h) */
	struct journal *journal;            /* owned, shared (mutex inside) */
	struct logdb *log;                  /* owned, shared (mutex inside) */
	struct agent_signer *signers;       /* one per conf identity */
	size_t n_signers;
	struct account_rt **accounts;
	size_t n_accounts;
	struct agent_metrics metrics;
	atomic_bool stopping;
};

/* ---- session.c ---- */

/* Connect and LOGIN to the account's IMAP server; registers the session for
 * cancellation and updates account_status.  NULL + err on failure. */
struct imapc *session_open(struct account_rt *rt, struct kerr *err);
/* LOGOUT (best effort), unregister, free. */
void session_close(struct account_rt *rt, struct imapc **imp);
/* Sleep for about ms milliseconds or until stop is set / the pipe is
 * written.  Returns false when the account is stopping. */
bool session_sleep(struct account_rt *rt, int64_t ms);
/* The next delay of an exponential backoff with jitter: 1 s, 2 s, 4 s ...
 * up to 5 min, each +-25 %.  attempt counts from 0. */
int64_t session_backoff_ms(unsigned attempt);
/* Record an error for the web view and the log (state 'error'). */
void session_error(struct account_rt *rt, const char *what, const struct kerr *err);

/* ---- outbox.c ---- */

/* Run the outbox workflow until rt->stop: handles the journal's pending
 * messages first (resume after a crash), then the outbox folder, then waits
 * with IDLE (or polls every 30 s).  Reconnects with backoff by itself. */
void outbox_run(struct account_rt *rt);
/* Cancel the account's SMTP session in flight, if any (stop).  Any thread. */
void outbox_cancel(struct account_rt *rt);

/* ---- inbox.c ---- */

/* Run the verification workflow for one folder ("INBOX", or one of
 * verify_folders) until rt->stop.  Reconnects with backoff by itself. */
void inbox_run(struct account_rt *rt, const char *folder);

/* The keywords kyso sets (configurable in [agent], defaults in docs):
 * one per verdict, e.g. "KySo_HopLe" for valid.  The list of every kyso
 * keyword, to remove stale or forged ones. */
const char *inbox_keyword(const struct conf *c, enum smime_verdict v);
/* The attachments' combined verdict: false when no attachment is signed
 * (every one UNSIGNED, or none); else true and *v_r the worst one, in the
 * order invalid > indeterminate (malformed and encrypted count as it) >
 * partial > valid, so *v_r is VALID, PARTIAL, INVALID or INDETERMINATE. */
bool inbox_attachment_verdict(const struct smime_report *r, enum smime_verdict *v_r);
/* The second keyword, for that combined verdict, e.g. "KySo_TepHopLe". */
const char *inbox_attachment_keyword(const struct conf *c, enum smime_verdict v);

/* Where the inbox threads' time goes (process-wide, microseconds), for the
 * benchmark: IMAP (fetch flags, fetch, store), verification, the log write. */
struct inbox_timing {
	atomic_ullong imap_us, verify_us, log_us, messages;
};
extern struct inbox_timing inbox_timing;

/* ---- agent.c ---- */

/* Verification options the agent uses (trust, revocation, fetcher,
 * attachment digests on). */
void agent_verify_opts(const struct agent *ag, struct smime_verify_opts *o_r);
/* The signer for identity id, opened on first use; locked on return
 * (unlock with agent_signer_release).  NULL + err when it cannot be opened. */
struct agent_signer *agent_signer_get(struct agent *ag, const struct conf_identity *id,
    struct kerr *err);
void agent_signer_release(struct agent_signer *s);

/* Test hook: when the environment variable KYSO_TEST_CRASH_AT names a point
 * ("queued", "signed", "submitted", "filed", "done", "tagged", ...) the
 * process kills itself with SIGKILL right after reaching it.  Compiled in
 * always; documented in docs/ARCHITECTURE.md; does nothing when unset. */
void agent_crash_point(const char *point);

/* `kyso agent -c FILE [--foreground]` */
int agent_main(int argc, char **argv);

#endif
