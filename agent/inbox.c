/*
 * inbox.c - the incoming workflow (issue #5 "Incoming"): for one folder of
 * one account, every new message is fetched with BODY.PEEK (never marked
 * read), verified, logged (agent/logdb.h) and tagged with one IMAP keyword
 * naming its verdict, plus a second one naming its signed attachments'
 * combined verdict when it has any (docs/KEYWORDS.md).  The message itself
 * is never modified.
 *
 * Order for each message (order matters):
 *   1. UID FETCH FLAGS       - gone (expunged under us)? skip it.
 *   2. UID FETCH BODY.PEEK[] - the exact bytes; gone? skip it.
 *   3. verify                - smime_verify_message; reads no X-Kyso-* header
 *                              and no keyword: the verdict comes from the bytes.
 *   4. log                   - logdb_add_incoming (one transaction, fsynced);
 *                              a failure here (disk full) stops the folder's
 *                              progress: the message is handled again later.
 *   5. tag                   - UID STORE -FLAGS every kyso keyword that is not
 *                              this verdict's or its attachments' (forged or
 *                              stale), +FLAGS ours.
 *   6. folder_state.last_uid = uid (in the log database), at the end of a
 *      batch and at least every second in between.
 * A crash between 4 and 6 verifies, logs (replacing the row) and tags the
 * messages since the last saved position again: idempotent.
 *
 * Position: folder_state (account, folder) holds (UIDVALIDITY, last UID
 * handled).  First start: backlog = new starts at UIDNEXT, backlog = all at
 * UID 1.  A new UIDVALIDITY means the old UIDs mean nothing: every message in
 * the folder is verified again (the log rows are keyed by uidvalidity).
 *
 * Waiting: IDLE (re-issued every [agent] idle seconds), or NOOP every
 * [agent] poll seconds when the server has no IDLE.  Any temporary error
 * closes the session and reconnects with backoff (session.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/log.h"

static const char *const default_keywords[7] = {
	"KySo_HopLe", "KySo_MotPhan", "KySo_KhongHopLe", "KySo_ChuaXacDinh", "KySo_KhongKy", "KySo_MaHoa",
	"KySo_LoiDinhDang",
};
/* The attachment keywords' defaults, indexed by enum smime_verdict's first
 * four (valid, partial, invalid, indeterminate), as in conf.h. */
static const char *const default_attachment_keywords[4] = {
	"KySo_TepHopLe", "KySo_TepMotPhan", "KySo_TepKhongHopLe", "KySo_TepChuaXacDinh",
};

/* Verification latency buckets (ms, upper bounds; the last is +Inf). */
static const int64_t hist_bounds[11] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000 };

struct inbox_timing inbox_timing;

const char *
inbox_keyword(const struct conf *c, enum smime_verdict v)
{
	if ((unsigned)v >= 7)
		v = SMIME_VERDICT_MALFORMED;
	if (c != NULL && c->agent.keywords[v] != NULL && c->agent.keywords[v][0] != '\0')
		return c->agent.keywords[v];
	return default_keywords[v];
}

/* How bad an attachment verdict is, for combining: invalid > indeterminate
 * (malformed and encrypted too: nothing could be decided) > partial > valid.
 * -1 for unsigned: it does not count. */
static int
attachment_rank(enum smime_verdict v)
{
	switch (v) {
	case SMIME_VERDICT_VALID: return 0;
	case SMIME_VERDICT_PARTIAL: return 1;
	case SMIME_VERDICT_INDETERMINATE:
	case SMIME_VERDICT_MALFORMED:
	case SMIME_VERDICT_ENCRYPTED: return 2;
	case SMIME_VERDICT_INVALID: return 3;
	case SMIME_VERDICT_UNSIGNED: return -1;
	}
	return 2;   /* unknown: cannot be decided */
}

bool
inbox_attachment_verdict(const struct smime_report *r, enum smime_verdict *v_r)
{
	static const enum smime_verdict by_rank[4] = {
		SMIME_VERDICT_VALID, SMIME_VERDICT_PARTIAL, SMIME_VERDICT_INDETERMINATE, SMIME_VERDICT_INVALID,
	};
	int worst = -1;

	for (size_t i = 0; r != NULL && i < r->n_attachments; i++) {
		int rank = attachment_rank(r->attachments[i].verdict);

		if (rank > worst)
			worst = rank;
	}
	if (worst < 0)
		return false;
	*v_r = by_rank[worst];
	return true;
}

const char *
inbox_attachment_keyword(const struct conf *c, enum smime_verdict v)
{
	if ((unsigned)v >= 4)
		v = SMIME_VERDICT_INDETERMINATE;
	if (c != NULL && c->agent.attachment_keywords[v] != NULL && c->agent.attachment_keywords[v][0] != '\0')
		return c->agent.attachment_keywords[v];
	return default_attachment_keywords[v];
}

/* Is this keyword kyso's?  Any configured or default verdict or attachment
 * keyword, and anything starting with "KySo_" (case-insensitive, as IMAP
 * compares keywords): a message arriving with such a keyword had it set by
 * someone else, and it is removed. */
static bool
is_kyso_keyword(const struct conf *c, const char *k)
{
	if (k == NULL || k[0] == '\\')
		return false;
	if (strncasecmp(k, "KySo_", 5) == 0)
		return true;
	for (unsigned v = 0; v < 7; v++) {
		if (strcasecmp(k, default_keywords[v]) == 0)
			return true;
		if (c != NULL && c->agent.keywords[v] != NULL && strcasecmp(k, c->agent.keywords[v]) == 0)
			return true;
	}
	for (unsigned v = 0; v < 4; v++) {
		if (strcasecmp(k, default_attachment_keywords[v]) == 0)
			return true;
		if (c != NULL && c->agent.attachment_keywords[v] != NULL &&
		    strcasecmp(k, c->agent.attachment_keywords[v]) == 0)
			return true;
	}
	return false;
}

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct folder_run {
	struct account_rt *rt;
	struct imapc *im;
	const char *folder;
	uint32_t uidvalidity, last;
	bool keywords_ok;
	bool warned_keywords;
};

static void
count_verify(struct account_rt *rt, enum smime_verdict v, int64_t ms)
{
	struct agent_metrics *m;
	unsigned b = 0;

	if (rt->ag == NULL)
		return;
	m = &rt->ag->metrics;
	if ((unsigned)v < sizeof(m->verified_by_verdict) / sizeof(m->verified_by_verdict[0]))
		atomic_fetch_add(&m->verified_by_verdict[v], 1);
	while (b < 11 && ms > hist_bounds[b])
		b++;
	atomic_fetch_add(&m->verify_hist[b], 1);
	atomic_fetch_add(&m->verify_ms_sum, (unsigned long long)(ms > 0 ? ms : 0));
}

/* Handle one message.  false + err on a failure that must stop the folder
 * (connection lost: KERR_TEMP; log database: its class). */
static bool
handle_uid(struct folder_run *f, uint32_t uid, struct kerr *err)
{
	struct account_rt *rt = f->rt;
	const struct conf *c = rt->conf;
	struct imapc_flaglist fl = IMAPC_FLAGLIST_INIT;
	struct buf msg = BUF_INIT;
	struct smime_verify_opts o = SMIME_VERIFY_OPTS_INIT;
	struct smime_report *r = NULL;
	struct logdb_place place = { rt->acct->name, rt->acct->address, f->folder, f->uidvalidity, uid };
	const char **drop = NULL;
	size_t n_drop = 0;
	bool ok = false, has_att = false;
	enum smime_verdict att_v = SMIME_VERDICT_UNSIGNED;
	const char *ours[2];        /* the verdict's keyword, the attachments' (if any) */
	bool ours_present[2] = { false, false };
	const char *add[2];
	size_t n_ours = 1, n_add = 0;
	int64_t t0, t1, t2, t3, verify_ms;
	char q[256];

	t0 = mono_us();
	if (!imapc_fetch_flags(f->im, uid, uid, &fl, err))
		goto out;
	if (fl.n == 0 || fl.m[0].uid != uid) {
		log_info("acct=%s folder=%s uid=%u step=fetch result=gone", rt->acct->name,
		    log_quote(q, sizeof(q), f->folder), uid);
		ok = true;
		goto out;
	}
	if (!imapc_fetch_uid(f->im, uid, &msg, err)) {
		if (err->cls == KERR_PERM) {
			/* expunged between the two fetches */
			log_info("acct=%s folder=%s uid=%u step=fetch result=gone", rt->acct->name,
			    log_quote(q, sizeof(q), f->folder), uid);
			kerr_clear(err);
			ok = true;
		}
		goto out;
	}
	t1 = mono_us();
	agent_verify_opts(rt->ag, &o);
	o.attachment_digests = true;
	r = smime_verify_message(msg.data != NULL ? msg.data : "", msg.len, &o, err);
	t2 = mono_us();
	verify_ms = (t2 - t1 + 500) / 1000;
	if (r == NULL) {
		/* an internal error of the verifier: logged, the message is left untagged */
		log_warn("acct=%s folder=%s uid=%u step=verify result=error error=%s", rt->acct->name,
		    log_quote(q, sizeof(q), f->folder), uid, err->msg);
		kerr_clear(err);
		ok = true;
		goto out;
	}
	if (!logdb_add_incoming(rt->ag->log, &place, msg.data != NULL ? msg.data : "", msg.len, r, verify_ms, NULL,
	    err))
		goto out;
	t3 = mono_us();
	count_verify(rt, r->verdict, verify_ms);

	ours[0] = inbox_keyword(c, r->verdict);
	has_att = inbox_attachment_verdict(r, &att_v);
	if (has_att)
		ours[n_ours++] = inbox_attachment_keyword(c, att_v);
	drop = xcalloc(fl.m[0].n + 1, sizeof(*drop));
	for (size_t i = 0; i < fl.m[0].n; i++) {
		const char *k = fl.m[0].flags[i];
		bool mine = false;

		for (size_t j = 0; j < n_ours; j++) {
			if (strcasecmp(k, ours[j]) == 0) {
				ours_present[j] = true;
				mine = true;
			}
		}
		if (!mine && is_kyso_keyword(c, k))
			drop[n_drop++] = k;
	}
	for (size_t j = 0; j < n_ours; j++)
		if (!ours_present[j])
			add[n_add++] = ours[j];
	if (f->keywords_ok) {
		if (n_drop > 0 && !imapc_store_flags(f->im, uid, false, drop, n_drop, err))
			goto store_failed;
		if (n_add > 0 && !imapc_store_flags(f->im, uid, true, add, n_add, err))
			goto store_failed;
		agent_crash_point("tagged");
	}
	atomic_fetch_add(&inbox_timing.imap_us, (unsigned long long)((t1 - t0) + (mono_us() - t3)));
	atomic_fetch_add(&inbox_timing.verify_us, (unsigned long long)(t2 - t1));
	atomic_fetch_add(&inbox_timing.log_us, (unsigned long long)(t3 - t2));
	atomic_fetch_add(&inbox_timing.messages, 1);
	log_info("acct=%s folder=%s uid=%u step=verify verdict=%s attachments=%s ms=%lld keyword=%s"
	    " attachment_keyword=%s removed=%zu", rt->acct->name, log_quote(q, sizeof(q), f->folder), uid,
	    smime_verdict_code(r->verdict), has_att ? smime_verdict_code(att_v) : "-", (long long)verify_ms,
	    f->keywords_ok ? ours[0] : "-", f->keywords_ok && has_att ? ours[1] : "-", n_drop);
	ok = true;
	goto out;
store_failed:
	if (err->cls == KERR_PERM) {
		/* expunged before we could tag it: logged, nothing to tag */
		log_info("acct=%s folder=%s uid=%u step=tag result=gone", rt->acct->name,
		    log_quote(q, sizeof(q), f->folder), uid);
		kerr_clear(err);
		ok = true;
	}
out:
	free(drop);
	smime_report_free(&r);
	buf_release(&msg);
	imapc_flaglist_release(&fl);
	return ok;
}

/* Handle every UID above f->last. */
static bool
handle_new(struct folder_run *f, struct kerr *err)
{
	struct account_rt *rt = f->rt;
	struct imapc_query q = { .uid_min = f->last + 1 };
	struct imapc_uids uids = IMAPC_UIDS_INIT;
	struct kerr e2 = KERR_INIT;
	size_t todo = 0;
	bool ok = false;
	uint32_t saved;
	int64_t saved_us = mono_us();

	saved = f->last;
	if (f->last == UINT32_MAX)
		return true;
	if (!imapc_search(f->im, &q, &uids, err))
		goto out;
	for (size_t i = 0; i < uids.n; i++)
		if (uids.uids[i] > f->last)
			todo++;
	if (rt->ag != NULL && rt->ag->log != NULL)
		(void)logdb_account_backlog(rt->ag->log, rt->acct->name, (int64_t)todo, &e2);
	for (size_t i = 0; i < uids.n; i++) {
		uint32_t uid = uids.uids[i];

		if (uid <= f->last)
			continue;      /* "n:*" returns the last message even below n */
		if (atomic_load(&rt->stop)) {
			kerr_set(err, KERR_TEMP, "stopping");
			goto out;
		}
		if (!handle_uid(f, uid, err))
			goto out;
		f->last = uid;
		todo--;
		/* The position is saved at the end of the batch and at least every
		 * second: a crash re-handles at most that much (idempotent), and a
		 * backlog costs one fsync per message instead of two. */
		if (todo == 0 || mono_us() - saved_us > 1000000) {
			if (!logdb_folder_set(rt->ag->log, rt->acct->name, f->folder, f->uidvalidity, f->last, err))
				goto out;
			saved = f->last;
			saved_us = mono_us();
		}
		if (todo % 50 == 0)
			(void)logdb_account_backlog(rt->ag->log, rt->acct->name, (int64_t)todo, &e2);
	}
	ok = true;
out:
	if (f->last != saved)   /* stopped half-way: keep what was done (best effort) */
		(void)logdb_folder_set(rt->ag->log, rt->acct->name, f->folder, f->uidvalidity, f->last, &e2);
	imapc_uids_release(&uids);
	return ok;
}

/* SELECT the folder and find where to start. */
static bool
folder_open(struct folder_run *f, struct kerr *err)
{
	struct account_rt *rt = f->rt;
	struct imapc_mailbox mb;
	uint32_t uv = 0, last = 0;
	bool found = false;
	char q[256];

	if (!imapc_select(f->im, f->folder, false, &mb, err))
		return false;
	f->keywords_ok = imapc_keywords_allowed(f->im);
	if (!f->keywords_ok && !f->warned_keywords) {
		log_warn("acct=%s folder=%s step=select result=no-keywords note=\"the folder does not accept keywords:"
		    " results are only logged\"", rt->acct->name, log_quote(q, sizeof(q), f->folder));
		f->warned_keywords = true;
	}
	if (!logdb_folder_get(rt->ag->log, rt->acct->name, f->folder, &uv, &last, &found, err))
		return false;
	f->uidvalidity = mb.uidvalidity;
	if (found && uv == mb.uidvalidity) {
		f->last = last;
		return true;
	}
	if (found) {
		log_warn("acct=%s folder=%s step=select uidvalidity=%u old=%u note=\"UIDVALIDITY changed: verifying"
		    " the folder again\"", rt->acct->name, log_quote(q, sizeof(q), f->folder), mb.uidvalidity, uv);
		f->last = 0;
	} else if (rt->acct->backlog == CONF_BACKLOG_NEW) {
		if (mb.uidnext > 0) {
			f->last = mb.uidnext - 1;
		} else {
			struct imapc_query all = { 0 };
			struct imapc_uids uids = IMAPC_UIDS_INIT;

			if (!imapc_search(f->im, &all, &uids, err))
				return false;
			f->last = uids.n > 0 ? uids.uids[uids.n - 1] : 0;
			imapc_uids_release(&uids);
		}
		log_info("acct=%s folder=%s step=select backlog=new from_uid=%u", rt->acct->name,
		    log_quote(q, sizeof(q), f->folder), f->last + 1);
	} else {
		f->last = 0;
	}
	return logdb_folder_set(rt->ag->log, rt->acct->name, f->folder, f->uidvalidity, f->last, err);
}

/* One session: select, catch up, then wait for news.  Returns when the
 * session fails (err set) or the account stops. */
static void
run_session(struct folder_run *f, unsigned *attempt, struct kerr *err)
{
	struct account_rt *rt = f->rt;
	const struct conf *c = rt->conf;
	unsigned idle_s = c != NULL && c->agent.idle_s > 0 ? c->agent.idle_s : 1500;
	unsigned poll_s = c != NULL && c->agent.poll_s > 0 ? c->agent.poll_s : 30;
	bool has_idle = imapc_has_capability(f->im, "IDLE");

	if (!folder_open(f, err))
		return;
	if (!has_idle) {
		char q[256];

		log_info("acct=%s folder=%s step=wait result=no-idle poll=%u", rt->acct->name,
		    log_quote(q, sizeof(q), f->folder), poll_s);
	}
	*attempt = 0;
	while (!atomic_load(&rt->stop)) {
		struct imapc_mailbox mb;
		struct kerr e2 = KERR_INIT;

		if (!handle_new(f, err))
			return;
		if (atomic_load(&rt->stop))
			break;
		(void)logdb_account_idle(rt->ag->log, rt->acct->name, (int64_t)time(NULL), &e2);
		if (has_idle) {
			bool changed = false;

			if (!imapc_idle(f->im, (int)idle_s, &changed, err))
				return;
		} else {
			if (!session_sleep(rt, (int64_t)poll_s * 1000))
				break;
			if (!imapc_noop(f->im, err))
				return;
		}
		imapc_selected(f->im, &mb);
		if (mb.uidvalidity != 0 && mb.uidvalidity != f->uidvalidity && !folder_open(f, err))
			return;
	}
}

void
inbox_run(struct account_rt *rt, const char *folder)
{
	struct folder_run f = { .rt = rt, .folder = folder };
	unsigned attempt = 0;
	char q[256];

	log_info("acct=%s folder=%s step=inbox result=start", rt->acct->name, log_quote(q, sizeof(q), folder));
	while (!atomic_load(&rt->stop)) {
		struct kerr err = KERR_INIT;

		f.im = session_open(rt, &err);
		if (f.im != NULL) {
			run_session(&f, &attempt, &err);
			session_close(rt, &f.im);
		}
		if (atomic_load(&rt->stop))
			break;
		if (!kerr_isset(&err))
			kerr_set(&err, KERR_INTERNAL, "the session ended without a reason");
		session_error(rt, "inbox", &err);
		if (rt->ag != NULL)
			atomic_fetch_add(&rt->ag->metrics.imap_reconnects_total, 1);
		if (!session_sleep(rt, session_backoff_ms(attempt)))
			break;
		if (attempt < 16)
			attempt++;
	}
	log_info("acct=%s folder=%s step=inbox result=stop", rt->acct->name, log_quote(q, sizeof(q), folder));
}
