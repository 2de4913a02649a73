/*
 * outbox.c - the outgoing workflow: a draft an official moved into the
 * outbox folder is signed, submitted over SMTP, filed in Sent and removed,
 * exactly once, driven by the journal (agent/journal.h).
 *
 * Order matters (each step is committed to the journal before the next side
 * effect; a restart resumes from the last committed state):
 *
 *   1. QUEUED     journal_enqueue(account, outbox, UIDVALIDITY, UID, Message-ID)
 *   2. SIGNED     the draft is fetched (BODY.PEEK), its identity chosen from
 *                 From, signed; the signed bytes are committed BEFORE any
 *                 SMTP command, so every retry sends the very same bytes
 *   3.            "submitting" is noted in the journal (journal_note) just
 *                 before MAIL FROM: a restart that finds it knows the
 *                 outcome of that attempt is unknown
 *   4. SUBMITTED  the server answered 250 to DATA (its reply is committed)
 *   5. FILED      the signed bytes are APPENDed to Sent with \Seen
 *   6. DONE       the draft is removed from the outbox (STORE \Deleted +
 *                 UID EXPUNGE); a UID that is already gone is fine
 *
 * Resume (after a crash, a stop or a lost connection), per state:
 *   QUEUED     fetch and sign again (nothing left the machine yet)
 *   SIGNED     search Sent for the Message-ID first: found means it was
 *              submitted and filed (e.g. a server that files submissions
 *              itself); a draft no longer in the outbox was taken back by
 *              the official: nothing is sent; else submit the stored bytes.  When the journal says
 *              "submitting", the previous attempt may have reached the
 *              server: this is the one window where the recipient can get
 *              the message twice (docs/AGENT.md).
 *   SUBMITTED  search Sent for the Message-ID; APPEND only if absent
 *   FILED      delete the draft (idempotent)
 *   FAILED     the draft is still in the outbox: move it to the failed folder
 *
 * Failures: permanent ones (5xx, no identity, a refused certificate, too big
 * for the server's SIZE, no From, no recipients, broken MIME) move the draft
 * to the failed folder and APPEND a notice (Vietnamese, then English) to the
 * account's INBOX; temporary ones (4xx, a lost connection, a server down)
 * are deferred with backoff and jitter.  One bad message never blocks the
 * others.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <libetpan/libetpan.h>
#include <openssl/evp.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "agent/smtpc.h"

#define PENDING_BATCH 32
#define MAX_RCPTS 1000
#define CACHE_MAX (16u * 1024 * 1024)     /* drafts kept between scan and handling */

/* ---- SMTP sessions in flight, so that a stop can cancel them ---- */

static pthread_mutex_t sm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sm_reg {
	struct account_rt *rt;
	struct smtpc *sm;
} *sm_regs;
static size_t n_sm_regs;

static void
sm_register(struct account_rt *rt, struct smtpc *sm)
{
	pthread_mutex_lock(&sm_lock);
	sm_regs = xreallocarray(sm_regs, n_sm_regs + 1, sizeof(*sm_regs));
	sm_regs[n_sm_regs].rt = rt;
	sm_regs[n_sm_regs++].sm = sm;
	pthread_mutex_unlock(&sm_lock);
}

static void
sm_unregister(struct smtpc *sm)
{
	pthread_mutex_lock(&sm_lock);
	for (size_t i = 0; i < n_sm_regs; i++) {
		if (sm_regs[i].sm == sm) {
			sm_regs[i] = sm_regs[--n_sm_regs];
			break;
		}
	}
	if (n_sm_regs == 0)
		xfree(&sm_regs);
	pthread_mutex_unlock(&sm_lock);
}

void
outbox_cancel(struct account_rt *rt)
{
	pthread_mutex_lock(&sm_lock);
	for (size_t i = 0; i < n_sm_regs; i++)
		if (sm_regs[i].rt == rt)
			smtpc_cancel(sm_regs[i].sm);
	pthread_mutex_unlock(&sm_lock);
}

/* ---- the draft's header ---- */

struct draft {
	char *from;             /* owned: From's address (Sender's when From holds several) */
	char *subject;          /* owned: decoded UTF-8, or NULL */
	char *message_id;       /* owned: without <>, or NULL */
	char **rcpts;           /* owned: To, Cc and Bcc addresses, each once */
	size_t n_rcpts;
	struct buf bcc;         /* owned: the Bcc addresses, ", "-separated (for the log) */
	bool too_many;          /* more than MAX_RCPTS recipients */
	bool header_ok;         /* the header parsed */
};

static void
draft_release(struct draft *d)
{
	free(d->from);
	free(d->subject);
	free(d->message_id);
	for (size_t i = 0; i < d->n_rcpts; i++)
		free(d->rcpts[i]);
	free(d->rcpts);
	buf_release(&d->bcc);
	memset(d, 0, sizeof(*d));
}

static void
rcpt_add(struct draft *d, const char *addr)
{
	if (addr == NULL || *addr == '\0')
		return;
	for (size_t i = 0; i < d->n_rcpts; i++)
		if (strcasecmp(d->rcpts[i], addr) == 0)
			return;
	if (d->n_rcpts >= MAX_RCPTS) {
		d->too_many = true;
		return;
	}
	d->rcpts = xreallocarray(d->rcpts, d->n_rcpts + 1, sizeof(*d->rcpts));
	d->rcpts[d->n_rcpts++] = xstrdup(addr);
}

static void
rcpt_add_list(struct draft *d, struct mailimf_address_list *al)
{
	if (al == NULL || al->ad_list == NULL)
		return;
	for (clistiter *it = clist_begin(al->ad_list); it != NULL; it = clist_next(it)) {
		struct mailimf_address *ad = clist_content(it);

		if (ad->ad_type == MAILIMF_ADDRESS_MAILBOX) {
			rcpt_add(d, ad->ad_data.ad_mailbox->mb_addr_spec);
		} else if (ad->ad_type == MAILIMF_ADDRESS_GROUP && ad->ad_data.ad_group->grp_mb_list != NULL &&
		    ad->ad_data.ad_group->grp_mb_list->mb_list != NULL) {
			for (clistiter *g = clist_begin(ad->ad_data.ad_group->grp_mb_list->mb_list); g != NULL;
			    g = clist_next(g))
				rcpt_add(d, ((struct mailimf_mailbox *)clist_content(g))->mb_addr_spec);
		}
	}
}

/* Parse the header fields kyso needs.  A header libetpan cannot read at all
 * leaves header_ok false; a field it cannot read is as good as absent. */
static void
draft_parse(const char *msg, size_t len, struct draft *d)
{
	struct mailimf_fields *fields = NULL;
	size_t idx = 0;
	char *sender = NULL;

	memset(d, 0, sizeof(*d));
	if (mailimf_fields_parse(msg, len, &idx, &fields) != MAILIMF_NO_ERROR || fields == NULL)
		return;
	d->header_ok = true;
	for (clistiter *it = clist_begin(fields->fld_list); it != NULL; it = clist_next(it)) {
		struct mailimf_field *f = clist_content(it);

		switch (f->fld_type) {
		case MAILIMF_FIELD_FROM: {
			clist *mbs = f->fld_data.fld_from->frm_mb_list != NULL ?
			    f->fld_data.fld_from->frm_mb_list->mb_list : NULL;

			if (d->from == NULL && mbs != NULL && clist_count(mbs) >= 1) {
				struct mailimf_mailbox *mb = clist_content(clist_begin(mbs));

				if (clist_count(mbs) == 1)
					d->from = xstrdup(mb->mb_addr_spec);
				else if (sender == NULL)
					sender = xstrdup("");   /* several: Sender decides */
			}
			break;
		}
		case MAILIMF_FIELD_SENDER:
			if (f->fld_data.fld_sender->snd_mb != NULL) {
				free(sender);
				sender = xstrdup(f->fld_data.fld_sender->snd_mb->mb_addr_spec);
			}
			break;
		case MAILIMF_FIELD_TO:
			rcpt_add_list(d, f->fld_data.fld_to->to_addr_list);
			break;
		case MAILIMF_FIELD_CC:
			rcpt_add_list(d, f->fld_data.fld_cc->cc_addr_list);
			break;
		case MAILIMF_FIELD_BCC: {
			size_t before = d->n_rcpts;

			rcpt_add_list(d, f->fld_data.fld_bcc->bcc_addr_list);
			for (size_t i = before; i < d->n_rcpts; i++)
				buf_printf(&d->bcc, "%s%s", d->bcc.len ? ", " : "", d->rcpts[i]);
			break;
		}
		case MAILIMF_FIELD_MESSAGE_ID:
			if (d->message_id == NULL && f->fld_data.fld_message_id->mid_value != NULL)
				d->message_id = xstrdup(f->fld_data.fld_message_id->mid_value);
			break;
		case MAILIMF_FIELD_SUBJECT:
			if (d->subject == NULL && f->fld_data.fld_subject->sbj_value != NULL) {
				const char *raw = f->fld_data.fld_subject->sbj_value;
				size_t i = 0;
				char *dec = NULL;

				if (mailmime_encoded_phrase_parse("utf-8", raw, strlen(raw), &i, "utf-8", &dec) ==
				    MAILIMF_NO_ERROR && dec != NULL) {
					d->subject = xstrdup(dec);
					free(dec);
				} else {
					d->subject = xstrdup(raw);
				}
			}
			break;
		default:
			break;
		}
	}
	if (d->from == NULL && sender != NULL && *sender != '\0') {
		d->from = sender;
		sender = NULL;
	}
	free(sender);
	mailimf_fields_free(fields);
	/* Line breaks in a decoded subject would break the notice's header. */
	if (d->subject != NULL)
		for (char *c = d->subject; *c != '\0'; c++)
			if (*c == '\r' || *c == '\n' || *c == '\t')
				*c = ' ';
}

/* ---- the failure notice ---- */

enum advice { ADV_NO_FROM, ADV_NO_IDENTITY, ADV_NO_RCPT, ADV_TOO_MANY, ADV_BAD_MIME, ADV_TOO_BIG, ADV_REFUSED,
	ADV_SIGN };

static const struct {
	const char *vi, *en;
} advice_text[] = {
	[ADV_NO_FROM] = {
		"Thư không có địa chỉ người gửi (From). Hãy soạn lại thư từ tài khoản của mình.",
		"The message has no sender (From) address. Write it again from your own account." },
	[ADV_NO_IDENTITY] = {
		"Địa chỉ người gửi chưa được cấu hình chữ ký số. Hãy gửi từ địa chỉ có chữ ký số, "
		"hoặc liên hệ bộ phận công nghệ thông tin.",
		"No signing identity is configured for the sender address. Send from an address that has "
		"one, or contact the IT staff." },
	[ADV_NO_RCPT] = {
		"Thư không có người nhận (To, Cc hoặc Bcc). Hãy thêm người nhận.",
		"The message has no recipients (To, Cc or Bcc). Add the recipients." },
	[ADV_TOO_MANY] = {
		"Thư có quá nhiều người nhận (tối đa 1000). Hãy chia thành nhiều thư.",
		"The message has too many recipients (at most 1000). Send it in several messages." },
	[ADV_BAD_MIME] = {
		"Thư bị lỗi định dạng nên không thể ký số. Hãy soạn lại thư và đính kèm lại các tệp.",
		"The message is malformed and cannot be signed. Write it again and attach the files again." },
	[ADV_TOO_BIG] = {
		"Thư quá lớn so với giới hạn của máy chủ thư. Hãy giảm dung lượng tệp đính kèm "
		"hoặc chia thành nhiều thư.",
		"The message is larger than the mail server accepts. Make the attachments smaller or send "
		"them in several messages." },
	[ADV_REFUSED] = {
		"Máy chủ thư từ chối thư (ví dụ: địa chỉ người nhận không tồn tại). "
		"Hãy kiểm tra lại địa chỉ người nhận.",
		"The mail server refused the message (for example, a recipient address does not exist). "
		"Check the recipient addresses." },
	[ADV_SIGN] = {
		"Không thể ký số thư (ví dụ: chứng thư số hết hạn, bị thu hồi hoặc không dùng được cho "
		"địa chỉ này). Hãy liên hệ bộ phận công nghệ thông tin.",
		"The message could not be signed (for example, the certificate expired, was revoked or is "
		"not valid for this address). Contact the IT staff." },
};

/* RFC 2047 "B" encoded words, cut at UTF-8 character boundaries, folded. */
static void
put_encoded_header(struct buf *out, const char *name, const char *text)
{
	size_t len = strlen(text), pos = 0;

	buf_printf(out, "%s:", name);
	while (pos < len) {
		size_t n = len - pos > 45 ? 45 : len - pos;
		unsigned char enc[64];
		int elen;

		while (pos + n < len && n > 0 && ((unsigned char)text[pos + n] & 0xc0) == 0x80)
			n--;
		elen = EVP_EncodeBlock(enc, (const unsigned char *)text + pos, (int)n);
		buf_printf(out, "%s=?UTF-8?B?%.*s?=", pos == 0 ? " " : "\r\n ", elen, enc);
		pos += n;
	}
	buf_appends(out, "\r\n");
}

/* Quoted-printable (RFC 2045 6.7) of UTF-8 text whose lines end in \n. */
static void
put_qp(struct buf *out, const char *text)
{
	size_t col = 0;

	for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++) {
		char tmp[4];
		size_t w;

		if (*c == '\n') {
			buf_appends(out, "\r\n");
			col = 0;
			continue;
		}
		if ((*c >= 33 && *c <= 126 && *c != '=') || (*c == ' ' && c[1] != '\n' && c[1] != '\0')) {
			tmp[0] = (char)*c;
			w = 1;
		} else {
			snprintf(tmp, sizeof(tmp), "=%02X", *c);
			w = 3;
		}
		if (col + w > 75) {
			buf_appends(out, "=\r\n");
			col = 0;
		}
		buf_append(out, tmp, w);
		col += w;
	}
	if (col > 0)
		buf_appends(out, "\r\n");
}

static void
rfc5322_date(char *out, size_t n, time_t t)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
		"Oct", "Nov", "Dec" };
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, n, "%s, %d %s %d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void
random_hex(char *out, size_t bytes)
{
	unsigned char r[16];

	if (bytes > sizeof(r))
		bytes = sizeof(r);
	if (getrandom(r, bytes, 0) != (ssize_t)bytes)
		for (size_t i = 0; i < bytes; i++)
			r[i] = (unsigned char)(rand() ^ (int)time(NULL));
	for (size_t i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static void
notice_build(struct buf *out, const struct conf_account *a, const char *subject, const char *rcpts,
    const char *reason, enum advice adv, const char *failed, const char *outbox)
{
	const char *dom = strchr(a->address, '@');
	char date[64], rnd[33], *subj, *body;

	rfc5322_date(date, sizeof(date), time(NULL));
	random_hex(rnd, 16);
	buf_printf(out, "From: kyso agent <%s>\r\nTo: <%s>\r\nDate: %s\r\nMessage-ID: <kyso-notice.%s@%s>\r\n",
	    a->address, a->address, date, rnd, dom != NULL ? dom + 1 : "localhost");
	subj = xasprintf("[kyso] Không gửi được / Not sent: %s", subject != NULL ? subject : "(không tiêu đề)");
	put_encoded_header(out, "Subject", subj);
	buf_appends(out, "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
	body = xasprintf(
	    "Thư của anh/chị CHƯA được gửi.\n\n"
	    "Tiêu đề: %s\nNgười nhận: %s\nLý do: %s\n\n"
	    "Cần làm: %s\n\n"
	    "Bản nháp đã được chuyển vào thư mục \"%s\". Sau khi sửa, hãy chuyển thư lại vào "
	    "thư mục \"%s\" để ký số và gửi.\n\n"
	    "-- \n"
	    "Your message was NOT sent.\n\n"
	    "Subject: %s\nRecipients: %s\nReason: %s\n\n"
	    "What to do: %s\n\n"
	    "The draft was moved to the folder \"%s\". When it is fixed, move it back to the folder "
	    "\"%s\" to sign and send it.\n\n"
	    "(kyso agent, %s)\n",
	    subject != NULL ? subject : "(không tiêu đề)", rcpts != NULL && *rcpts ? rcpts : "(không có)", reason,
	    advice_text[adv].vi, failed, outbox,
	    subject != NULL ? subject : "(no subject)", rcpts != NULL && *rcpts ? rcpts : "(none)", reason,
	    advice_text[adv].en, failed, outbox, a->address);
	put_qp(out, body);
	free(subj);
	free(body);
}

/* ---- one account's outbox thread ---- */

struct fetched {                /* a draft fetched by the scan, handled next */
	int64_t id;
	struct buf msg;
};

struct ob {
	struct account_rt *rt;
	struct agent *ag;
	const struct conf_account *a;
	struct imapc *im;               /* owned while connected */
	struct smtpc *sm;               /* owned; open during a pass */
	bool smtp_down;                 /* the SMTP server failed in this pass */
	char *outbox, *failed, *sent;   /* owned: UTF-8 folder names, '/' between levels */
	uint32_t uidvalidity;           /* of the outbox as last selected */
	bool outbox_selected;
	uint32_t *seen;                 /* owned: outbox UIDs already journalled (this UIDVALIDITY) */
	size_t n_seen;
	struct fetched *cache;          /* owned */
	size_t n_cache, cache_bytes;
	/* Submitted, but SUBMITTED could not be committed (a full disk): this
	 * process knows it went out and must not send it again. */
	struct unrecorded {
		int64_t id;
		char *detail;           /* owned: the server's reply */
	} *unrec;                       /* owned */
	size_t n_unrec;
};

enum res { OB_OK, OB_NEXT, OB_DEAD };  /* handled / go on with the next one / the IMAP session broke */

static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

static void
cache_clear(struct ob *ob)
{
	for (size_t i = 0; i < ob->n_cache; i++)
		buf_release(&ob->cache[i].msg);
	xfree(&ob->cache);
	ob->n_cache = ob->cache_bytes = 0;
}

static bool
cache_take(struct ob *ob, int64_t id, struct buf *out)
{
	for (size_t i = 0; i < ob->n_cache; i++) {
		if (ob->cache[i].id == id) {
			*out = ob->cache[i].msg;
			ob->cache_bytes -= out->len;
			ob->cache[i] = ob->cache[--ob->n_cache];
			return true;
		}
	}
	return false;
}

static bool
seen_has(const struct ob *ob, uint32_t uid)
{
	for (size_t i = 0; i < ob->n_seen; i++)
		if (ob->seen[i] == uid)
			return true;
	return false;
}

static void
seen_add(struct ob *ob, uint32_t uid)
{
	ob->seen = xreallocarray(ob->seen, ob->n_seen + 1, sizeof(*ob->seen));
	ob->seen[ob->n_seen++] = uid;
}

/* The IMAP error is the session's end (connection, timeout, cancel)? */
static bool
imap_dead(const struct kerr *e)
{
	return e->cls == KERR_TEMP || e->cls == KERR_INTERNAL;
}

static bool
select_outbox(struct ob *ob, struct kerr *err)
{
	struct imapc_mailbox mb;

	ob->outbox_selected = false;
	if (!imapc_select(ob->im, ob->outbox, false, &mb, err))
		return false;
	if (mb.uidvalidity != ob->uidvalidity) {
		if (ob->uidvalidity != 0)
			log_warn("acct=%s step=select folder=outbox uidvalidity=%u was=%u "
			    "note=\"UIDVALIDITY changed: drafts are looked at again\"",
			    ob->a->name, mb.uidvalidity, ob->uidvalidity);
		ob->uidvalidity = mb.uidvalidity;
		xfree(&ob->seen);
		ob->n_seen = 0;
		cache_clear(ob);
	}
	ob->outbox_selected = true;
	return true;
}

/* Is a message with this Message-ID in Sent?  Leaves the outbox selected again. */
static bool
in_sent(struct ob *ob, const char *msgid, bool *found_r, struct kerr *err)
{
	struct imapc_mailbox mb;
	struct imapc_query q = { 0 };
	struct imapc_uids u = IMAPC_UIDS_INIT;
	bool ok;

	*found_r = false;
	if (msgid == NULL || *msgid == '\0')
		return select_outbox(ob, err);
	if (!imapc_select(ob->im, ob->sent, true, &mb, err)) {
		if (imap_dead(err))
			return false;
		kerr_clear(err);        /* no Sent folder: nothing was filed */
		return select_outbox(ob, err);
	}
	q.header = "Message-ID";
	q.value = msgid;
	ok = imapc_search(ob->im, &q, &u, err);
	*found_r = ok && u.n > 0;
	imapc_uids_release(&u);
	if (!ok)
		return false;
	return select_outbox(ob, err);
}

static bool
smtp_open(struct ob *ob, struct kerr *err)
{
	const struct conf_account *a = ob->a;
	struct tls_opts tls = { .ca_file = a->tls_ca, .verify = a->tls_verify, .timeout_s = 60 };
	struct smtpc *sm;

	if (ob->sm != NULL)
		return true;
	if (ob->smtp_down) {
		kerr_set(err, KERR_TEMP, "smtp %s:%u: not reachable in this pass", a->smtp.host, a->smtp.port);
		return false;
	}
	sm = smtpc_connect(&a->smtp, &tls, err);
	if (sm == NULL)
		goto down;
	sm_register(ob->rt, sm);
	if (atomic_load(&ob->rt->stop)) {
		kerr_set(err, KERR_TEMP, "stopping");
		goto fail;
	}
	if (!smtpc_auth(sm, a->username, ob->rt->password, err))
		goto fail;
	ob->sm = sm;
	log_debug("acct=%s step=smtp-connect result=ok host=%s", a->name, a->smtp.host);
	return true;
fail:
	sm_unregister(sm);
	smtpc_free(&sm);
down:
	ob->smtp_down = true;
	session_error(ob->rt, "smtp-connect", err);
	return false;
}

static void
smtp_close(struct ob *ob)
{
	struct kerr err = KERR_INIT;

	if (ob->sm == NULL)
		return;
	if (!atomic_load(&ob->rt->stop))
		(void)smtpc_quit(ob->sm, &err);
	sm_unregister(ob->sm);
	smtpc_free(&ob->sm);
}

static void
log_step(const struct ob *ob, const struct journal_entry *e, const char *step, const char *fmt, ...)
    KYSO_PRINTF(4, 5);

static void
log_step(const struct ob *ob, const struct journal_entry *e, const char *step, const char *fmt, ...)
{
	char extra[700] = "", mid[300];
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(extra, sizeof(extra), fmt, ap);
		va_end(ap);
	}
	log_info("acct=%s msgid=%s id=%lld step=%s%s%s", ob->a->name,
	    log_quote(mid, sizeof(mid), e->message_id != NULL ? e->message_id : ""), (long long)e->id, step,
	    *extra ? " " : "", extra);
}

/* A temporary failure: try again later, with backoff and jitter. */
static void
defer(struct ob *ob, const struct journal_entry *e, const struct kerr *why)
{
	struct kerr err = KERR_INIT;
	int64_t delay = session_backoff_ms((unsigned)(e->attempts > 0 ? e->attempts : 0));
	char q[600];

	atomic_fetch_add(&ob->ag->metrics.deferred_total, 1);
	if (!journal_defer(ob->ag->journal, e->id, now_s() + (delay + 999) / 1000, why->msg, &err))
		log_error("acct=%s id=%lld step=defer error=%s", ob->a->name, (long long)e->id,
		    log_quote(q, sizeof(q), err.msg));
	log_step(ob, e, "defer", "class=%s retry_in_ms=%lld error=%s", kerr_class_name(why->cls),
	    (long long)delay, log_quote(q, sizeof(q), why->msg));
}

/* The draft's UID in the outbox as it is now: the journalled one, or, when
 * the outbox's UIDVALIDITY changed since, the one message whose Message-ID
 * is the entry's (0: not there).  false when the session broke. */
static bool
draft_uid(struct ob *ob, const struct journal_entry *e, uint32_t *uid_r)
{
	struct imapc_query q = { 0 };
	struct imapc_uids u = IMAPC_UIDS_INIT;
	struct kerr err = KERR_INIT;

	*uid_r = 0;
	if (e->uidvalidity == ob->uidvalidity) {
		*uid_r = e->uid;
		return true;
	}
	if (e->message_id == NULL || *e->message_id == '\0')
		return true;
	if (!ob->outbox_selected && !select_outbox(ob, &err)) {
		session_error(ob->rt, "select", &err);
		return false;
	}
	q.header = "Message-ID";
	q.value = e->message_id;
	if (!imapc_search(ob->im, &q, &u, &err)) {
		session_error(ob->rt, "search", &err);
		return false;
	}
	if (u.n == 1)           /* more than one: not sure which, leave them */
		*uid_r = u.uids[0];
	imapc_uids_release(&u);
	return true;
}

/* Move a failed draft out of the outbox (after FAILED is committed). */
static enum res
move_failed(struct ob *ob, const struct journal_entry *e)
{
	struct kerr err = KERR_INIT;
	char q[600];

	uint32_t uid;

	if (!draft_uid(ob, e, &uid))
		return OB_DEAD;
	if (uid == 0)
		return OB_OK;   /* not in the outbox any more */
	if (imapc_move_uid(ob->im, uid, ob->failed, &err))
		return OB_OK;
	if (imap_dead(&err)) {
		session_error(ob->rt, "move-failed", &err);
		return OB_DEAD;
	}
	log_warn("acct=%s id=%lld step=move-failed uid=%u error=%s", ob->a->name, (long long)e->id, uid,
	    log_quote(q, sizeof(q), err.msg));
	return OB_OK;
}

/* A permanent failure: FAILED in the journal, a notice in INBOX, the draft
 * to the failed folder. */
static enum res
fail_perm(struct ob *ob, const struct journal_entry *e, enum journal_state from, enum advice adv,
    const char *reason, const struct draft *d, const struct buf *draft_msg)
{
	struct kerr err = KERR_INIT;
	struct buf notice = BUF_INIT, to = BUF_INIT;
	const char *flags[] = { NULL };
	char q[600];

	if (!journal_advance(ob->ag->journal, e->id, from, JOURNAL_FAILED, NULL, 0, reason, &err)) {
		log_error("acct=%s id=%lld step=fail error=%s", ob->a->name, (long long)e->id,
		    log_quote(q, sizeof(q), err.msg));
		return OB_NEXT;
	}
	atomic_fetch_add(&ob->ag->metrics.failed_total, 1);
	log_step(ob, e, "failed", "reason=%s", log_quote(q, sizeof(q), reason));
	if (ob->ag->log != NULL) {
		struct logdb_place p = { ob->a->name, ob->a->address, ob->a->outbox, e->uidvalidity, e->uid };

		if (from == JOURNAL_QUEUED && draft_msg != NULL && draft_msg->len > 0)
			(void)logdb_add_outgoing(ob->ag->log, &p, e->id, draft_msg->data, draft_msg->len, &err);
		if (!logdb_set_outgoing(ob->ag->log, e->id, "failed", reason, &err))
			log_debug("acct=%s id=%lld step=log error=%s", ob->a->name, (long long)e->id,
			    log_quote(q, sizeof(q), err.msg));
	}
	if (d != NULL)
		for (size_t i = 0; i < d->n_rcpts; i++)
			buf_printf(&to, "%s%s", i ? ", " : "", d->rcpts[i]);
	notice_build(&notice, ob->a, d != NULL ? d->subject : NULL, to.data, reason, adv, ob->a->failed,
	    ob->a->outbox);
	kerr_clear(&err);
	if (!imapc_append(ob->im, "INBOX", flags, 0, notice.data, notice.len, NULL, &err)) {
		log_warn("acct=%s id=%lld step=notice error=%s", ob->a->name, (long long)e->id,
		    log_quote(q, sizeof(q), err.msg));
		if (imap_dead(&err)) {
			buf_release(&notice);
			buf_release(&to);
			return OB_DEAD;  /* resume moves the draft (FAILED + still in the outbox) */
		}
	}
	buf_release(&notice);
	buf_release(&to);
	return move_failed(ob, e);
}

/* Fetch the draft of a journal entry (NULL in *gone_r when it left). */
static enum res
fetch_draft(struct ob *ob, const struct journal_entry *e, struct buf *msg, bool *gone_r)
{
	struct kerr err = KERR_INIT;

	uint32_t uid;

	*gone_r = false;
	if (msg->len > 0)
		return OB_OK;
	if (!draft_uid(ob, e, &uid))
		return OB_DEAD;
	if (uid == 0) {
		*gone_r = true;
		return OB_OK;
	}
	if (imapc_fetch_uid(ob->im, uid, msg, &err))
		return OB_OK;
	if (imap_dead(&err)) {
		session_error(ob->rt, "fetch", &err);
		return OB_DEAD;
	}
	buf_reset(msg);
	*gone_r = true;
	return OB_OK;
}

/* Message-ID for a draft that has none: random, at the account's domain. */
static char *
make_message_id(const struct conf_account *a)
{
	const char *dom = strchr(a->address, '@');
	char rnd[33];

	random_hex(rnd, 16);
	return xasprintf("kyso.%s@%s", rnd, dom != NULL ? dom + 1 : "localhost");
}

/* QUEUED -> SIGNED.  On success signed_r holds the signed bytes. */
static enum res
do_sign(struct ob *ob, struct journal_entry *e, struct buf *draft_msg, const struct draft *d,
    struct buf *signed_r)
{
	struct agent *ag = ob->ag;
	const struct conf_identity *id;
	struct agent_signer *s;
	struct smime_sign_opts so = SMIME_SIGN_OPTS_INIT;
	struct kerr err = KERR_INIT;
	struct buf in = BUF_INIT;
	const char *msg = draft_msg->data;
	size_t len = draft_msg->len;
	char *reason = NULL;
	enum res r;

	if (!d->header_ok || len == 0)
		return fail_perm(ob, e, JOURNAL_QUEUED, ADV_BAD_MIME,
		    "the message header cannot be read (broken MIME)", d, draft_msg);
	if (d->from == NULL)
		return fail_perm(ob, e, JOURNAL_QUEUED, ADV_NO_FROM, "the message has no From address", d,
		    draft_msg);
	if (d->n_rcpts == 0)
		return fail_perm(ob, e, JOURNAL_QUEUED, ADV_NO_RCPT, "the message has no recipients (To, Cc, Bcc)",
		    d, draft_msg);
	if (d->too_many)
		return fail_perm(ob, e, JOURNAL_QUEUED, ADV_TOO_MANY, "the message has more than 1000 recipients", d,
		    draft_msg);
	id = conf_identity_for(ob->rt->conf, d->from);
	if (id == NULL) {
		reason = xasprintf("no signing identity for the sender %s", d->from);
		r = fail_perm(ob, e, JOURNAL_QUEUED, ADV_NO_IDENTITY, reason, d, draft_msg);
		free(reason);
		return r;
	}
	/* A draft without Message-ID gets the one journalled for it, so the
	 * exactly-once checks (Sent, the recipient) can find it. */
	if (d->message_id == NULL) {
		buf_printf(&in, "Message-ID: <%s>\r\n", e->message_id);
		buf_append(&in, msg, len);
		msg = in.data;
		len = in.len;
	}
	so.digest = strcmp(id->digest, "sha512") == 0 ? SMIME_DIGEST_SHA512 :
	    strcmp(id->digest, "sha384") == 0 ? SMIME_DIGEST_SHA384 : SMIME_DIGEST_SHA256;
	so.mode = id->mode == CONF_MODE_OPAQUE ? SMIME_MODE_OPAQUE : SMIME_MODE_DETACHED;
	so.organisation = id->organisation;
	so.trust = ag->trust;
	so.set_date = true;
	so.verify_after = true;
	s = agent_signer_get(ag, id, &err);
	if (s == NULL) {
		/* The key cannot be opened: the operator must act; the draft waits. */
		session_error(ob->rt, "signer", &err);
		buf_release(&in);
		defer(ob, e, &err);
		return OB_NEXT;
	}
	if (!smime_signer_check(s->signer, &so, d->from, &err)) {
		agent_signer_release(s);
		buf_release(&in);
		reason = xasprintf("signing refused: %s", err.msg);
		r = fail_perm(ob, e, JOURNAL_QUEUED, ADV_SIGN, reason, d, draft_msg);
		free(reason);
		return r;
	}
	kerr_clear(&err);
	if (!smime_sign_message(s->signer, &so, msg, len, signed_r, &err)) {
		agent_signer_release(s);
		buf_release(&in);
		buf_reset(signed_r);
		if (err.cls != KERR_PERM) {
			defer(ob, e, &err);
			return OB_NEXT;
		}
		reason = xasprintf("cannot sign: %s", err.msg);
		r = fail_perm(ob, e, JOURNAL_QUEUED, ADV_BAD_MIME, reason, d, draft_msg);
		free(reason);
		return r;
	}
	agent_signer_release(s);
	buf_release(&in);
	/* Before submission: the signed bytes, in the journal. */
	if (!journal_advance(ag->journal, e->id, JOURNAL_QUEUED, JOURNAL_SIGNED, signed_r->data, signed_r->len,
	    id->name, &err)) {
		char q[600];

		log_error("acct=%s id=%lld step=signed class=%s error=%s", ob->a->name, (long long)e->id,
		    kerr_class_name(err.cls), log_quote(q, sizeof(q), err.msg));
		session_error(ob->rt, "journal", &err);
		buf_reset(signed_r);
		if (err.cls == KERR_TEMP)
			defer(ob, e, &err);     /* (a full disk: this fails too, and the draft stays) */
		return OB_NEXT;
	}
	e->state = JOURNAL_SIGNED;
	atomic_fetch_add(&ag->metrics.signed_total, 1);
	if (ag->log != NULL) {
		struct logdb_place p = { ob->a->name, ob->a->address, ob->a->outbox, e->uidvalidity, e->uid };

		struct buf row = BUF_INIT;

		/* The signed copy has no Bcc: the log gets the draft's, in front. */
		if (d->bcc.len > 0) {
			buf_printf(&row, "Bcc: %s\r\n", d->bcc.data);
			buf_append(&row, signed_r->data, signed_r->len);
		}
		if (!logdb_add_outgoing(ag->log, &p, e->id, row.len > 0 ? row.data : signed_r->data,
		    row.len > 0 ? row.len : signed_r->len, &err))
			log_debug("acct=%s id=%lld step=log error=%s", ob->a->name, (long long)e->id, err.msg);
		buf_release(&row);
	}
	log_step(ob, e, "signed", "identity=%s bytes=%zu", id->name, signed_r->len);
	agent_crash_point("signed");
	return OB_OK;
}

/* SIGNED -> SUBMITTED. */
static enum res
do_submit(struct ob *ob, struct journal_entry *e, const struct buf *sig, const struct draft *d)
{
	struct agent *ag = ob->ag;
	struct kerr err = KERR_INIT;
	struct smtpc_reply data = { 0 }, *replies = NULL;
	const char **rcpts = NULL;
	size_t max;
	char q[600], *reason = NULL, *detail = NULL;
	enum res r = OB_NEXT;

	if (d->n_rcpts == 0)
		return fail_perm(ob, e, JOURNAL_SIGNED, ADV_NO_RCPT, "the message has no recipients (To, Cc, Bcc)",
		    d, NULL);
	if (!smtp_open(ob, &err)) {
		defer(ob, e, &err);
		return OB_NEXT;
	}
	max = smtpc_max_size(ob->sm);
	if (max > 0 && sig->len > max) {
		reason = xasprintf("the signed message is %zu bytes; the server accepts at most %zu", sig->len, max);
		r = fail_perm(ob, e, JOURNAL_SIGNED, ADV_TOO_BIG, reason, d, NULL);
		free(reason);
		return r;
	}
	/* The mark: from here until SUBMITTED is committed the outcome of this
	 * attempt is unknown to a restarted agent. */
	if (!journal_note(ag->journal, e->id, "submitting", &err)) {
		log_error("acct=%s id=%lld step=submit error=%s", ob->a->name, (long long)e->id,
		    log_quote(q, sizeof(q), err.msg));
		session_error(ob->rt, "journal", &err);
		return OB_NEXT;  /* not submitted: retried at the next pass */
	}
	rcpts = xcalloc(d->n_rcpts, sizeof(*rcpts));
	replies = xcalloc(d->n_rcpts, sizeof(*replies));
	for (size_t i = 0; i < d->n_rcpts; i++)
		rcpts[i] = d->rcpts[i];
	if (!smtpc_send(ob->sm, ob->a->address, rcpts, d->n_rcpts, sig->data, sig->len, replies, &data, &err)) {
		bool answered = data.code != 0;

		for (size_t i = 0; i < d->n_rcpts; i++)
			answered = answered || replies[i].code != 0;
		free(rcpts);
		free(replies);
		if (err.cls == KERR_PERM) {
			reason = xasprintf("refused by the mail server: %s", err.msg);
			r = fail_perm(ob, e, JOURNAL_SIGNED, ADV_REFUSED, reason, d, NULL);
			free(reason);
			return r;
		}
		/* A 4xx leaves the session usable; a lost connection does not,
		 * and then the other messages of this pass wait too. */
		if (!answered) {
			smtp_close(ob);
			ob->smtp_down = true;
		}
		defer(ob, e, &err);
		return OB_NEXT;
	}
	free(rcpts);
	free(replies);
	detail = xasprintf("%d %s", data.code, data.text);
	if (!journal_advance(ag->journal, e->id, JOURNAL_SIGNED, JOURNAL_SUBMITTED, NULL, 0, detail, &err)) {
		/* Sent, but not recorded.  This process remembers it (unrec) and
		 * records it when the journal works again; only a crash before that
		 * leaves the duplicate window of docs/AGENT.md. */
		log_error("acct=%s id=%lld step=submitted class=%s error=%s note=\"sent; recorded when the "
		    "journal works again\"", ob->a->name, (long long)e->id, kerr_class_name(err.cls),
		    log_quote(q, sizeof(q), err.msg));
		session_error(ob->rt, "journal", &err);
		ob->unrec = xreallocarray(ob->unrec, ob->n_unrec + 1, sizeof(*ob->unrec));
		ob->unrec[ob->n_unrec].id = e->id;
		ob->unrec[ob->n_unrec++].detail = detail;
		return OB_NEXT;
	}
	e->state = JOURNAL_SUBMITTED;
	atomic_fetch_add(&ag->metrics.sent_total, 1);
	if (ag->log != NULL && !logdb_set_outgoing(ag->log, e->id, "sent", detail, &err))
		log_debug("acct=%s id=%lld step=log error=%s", ob->a->name, (long long)e->id, err.msg);
	log_step(ob, e, "submitted", "rcpts=%zu reply=%s", d->n_rcpts, log_quote(q, sizeof(q), detail));
	free(detail);
	agent_crash_point("submitted");
	return OB_OK;
}

/* SUBMITTED -> FILED. */
static enum res
do_file(struct ob *ob, struct journal_entry *e, const struct buf *sig, bool check_first)
{
	struct kerr err = KERR_INIT;
	const char *flags[] = { "\\Seen" };
	bool found = false;
	char q[600];

	if (check_first) {
		if (!in_sent(ob, e->message_id, &found, &err)) {
			session_error(ob->rt, "search-sent", &err);
			return OB_DEAD;
		}
	}
	if (!found && !imapc_append(ob->im, ob->sent, flags, 1, sig->data, sig->len, NULL, &err)) {
		if (imap_dead(&err)) {
			session_error(ob->rt, "file", &err);
			return OB_DEAD;
		}
		/* The Sent folder may be missing: make it once and try again. */
		kerr_clear(&err);
		if (!imapc_create(ob->im, ob->sent, &err) ||
		    !imapc_append(ob->im, ob->sent, flags, 1, sig->data, sig->len, NULL, &err)) {
			if (imap_dead(&err)) {
				session_error(ob->rt, "file", &err);
				return OB_DEAD;
			}
			defer(ob, e, &err);
			return OB_NEXT;
		}
	}
	if (!journal_advance(ob->ag->journal, e->id, JOURNAL_SUBMITTED, JOURNAL_FILED, NULL, 0,
	    found ? "already in Sent" : ob->a->sent != NULL ? ob->a->sent : ob->sent, &err)) {
		log_error("acct=%s id=%lld step=filed error=%s", ob->a->name, (long long)e->id,
		    log_quote(q, sizeof(q), err.msg));
		return OB_NEXT;
	}
	e->state = JOURNAL_FILED;
	atomic_fetch_add(&ob->ag->metrics.filed_total, 1);
	log_step(ob, e, "filed", "folder=%s%s", log_quote(q, sizeof(q), ob->sent), found ? " already=yes" : "");
	agent_crash_point("filed");
	return OB_OK;
}

/* FILED -> DONE. */
static enum res
do_done(struct ob *ob, struct journal_entry *e)
{
	struct kerr err = KERR_INIT;
	char q[600];

	uint32_t uid;

	if (!ob->outbox_selected && !select_outbox(ob, &err)) {
		session_error(ob->rt, "select", &err);
		return OB_DEAD;
	}
	if (!draft_uid(ob, e, &uid))
		return OB_DEAD;
	if (uid != 0 && !imapc_delete_uid(ob->im, uid, &err)) {
		if (imap_dead(&err)) {
			session_error(ob->rt, "remove-draft", &err);
			return OB_DEAD;
		}
		/* Already gone (removed by hand, or by us before a crash). */
		log_debug("acct=%s id=%lld step=remove-draft uid=%u note=%s", ob->a->name, (long long)e->id,
		    uid, log_quote(q, sizeof(q), err.msg));
	}
	if (!journal_advance(ob->ag->journal, e->id, JOURNAL_FILED, JOURNAL_DONE, NULL, 0, NULL, &err)) {
		log_error("acct=%s id=%lld step=done error=%s", ob->a->name, (long long)e->id,
		    log_quote(q, sizeof(q), err.msg));
		return OB_NEXT;
	}
	e->state = JOURNAL_DONE;
	log_step(ob, e, "done", NULL);
	agent_crash_point("done");
	return OB_OK;
}

/* Take one journal entry as far as it goes. */
static enum res
handle(struct ob *ob, struct journal_entry *e)
{
	struct buf draft_msg = BUF_INIT, sig = BUF_INIT;
	struct draft d = { 0 };
	struct kerr err = KERR_INIT;
	bool gone = false, resumed = true;
	enum res r = OB_OK;
	char q[600];

	(void)cache_take(ob, e->id, &draft_msg);        /* else fetched below when needed */
	if (e->state == JOURNAL_QUEUED) {
		resumed = false;
		if ((r = fetch_draft(ob, e, &draft_msg, &gone)) != OB_OK)
			goto out;
		if (gone) {
			/* Taken out of the outbox before it was signed (or, after a
			 * UIDVALIDITY change, not found by its Message-ID: then the
			 * scan takes it as a new draft). */
			if (!journal_advance(ob->ag->journal, e->id, JOURNAL_QUEUED, JOURNAL_FAILED, NULL, 0,
			    "the draft left the outbox before it was signed: not sent", &err))
				log_error("acct=%s id=%lld step=forget error=%s", ob->a->name, (long long)e->id,
				    log_quote(q, sizeof(q), err.msg));
			log_step(ob, e, "withdrawn", "state=queued");
			goto out;
		}
		draft_parse(draft_msg.data, draft_msg.len, &d);
		r = do_sign(ob, e, &draft_msg, &d, &sig);
		if (r != OB_OK || e->state != JOURNAL_SIGNED)
			goto out;
	} else {
		/* Resumed: the stored signed bytes; for a submission, the
		 * envelope comes from the draft (the signed copy has no Bcc). */
		if (!journal_signed_bytes(ob->ag->journal, e->id, &sig, &err)) {
			log_error("acct=%s id=%lld step=resume error=%s", ob->a->name, (long long)e->id,
			    log_quote(q, sizeof(q), err.msg));
			r = OB_NEXT;
			goto out;
		}
		if (e->state == JOURNAL_SIGNED) {
			if ((r = fetch_draft(ob, e, &draft_msg, &gone)) != OB_OK)
				goto out;
			if (!gone)
				draft_parse(draft_msg.data, draft_msg.len, &d);
		}
	}
	if (e->message_id == NULL) {
		struct draft sd;

		draft_parse(sig.data, sig.len, &sd);
		e->message_id = sd.message_id;
		sd.message_id = NULL;
		draft_release(&sd);
	}

	if (e->state == JOURNAL_SIGNED) {
		for (size_t i = 0; i < ob->n_unrec; i++) {
			if (ob->unrec[i].id != e->id)
				continue;
			if (!journal_advance(ob->ag->journal, e->id, JOURNAL_SIGNED, JOURNAL_SUBMITTED, NULL, 0,
			    ob->unrec[i].detail, &err)) {
				r = OB_NEXT;    /* still failing: never submit it again */
				goto out;
			}
			e->state = JOURNAL_SUBMITTED;
			resumed = false;        /* not filed yet: this process knows */
			free(ob->unrec[i].detail);
			ob->unrec[i] = ob->unrec[--ob->n_unrec];
			log_step(ob, e, "submitted", "note=\"recorded late\"");
			break;
		}
	}
	if (e->state == JOURNAL_SIGNED) {
		bool found = false;

		if (resumed) {
			/* Was it submitted (and filed) before the restart? */
			if (!in_sent(ob, e->message_id, &found, &err)) {
				session_error(ob->rt, "search-sent", &err);
				r = OB_DEAD;
				goto out;
			}
			if (found) {
				if (journal_advance(ob->ag->journal, e->id, JOURNAL_SIGNED, JOURNAL_SUBMITTED, NULL, 0,
				    "found in Sent after a restart", &err))
					e->state = JOURNAL_SUBMITTED;
			} else if (gone) {
				/* The official took the draft back out of the outbox
				 * before it went out (a retry was pending, or the
				 * agent was stopped): respect that, send nothing. */
				if (!journal_advance(ob->ag->journal, e->id, JOURNAL_SIGNED, JOURNAL_FAILED, NULL, 0,
				    "the draft left the outbox before it was sent: not sent", &err))
					log_error("acct=%s id=%lld step=withdrawn error=%s", ob->a->name,
					    (long long)e->id, log_quote(q, sizeof(q), err.msg));
				else if (ob->ag->log != NULL)
					(void)logdb_set_outgoing(ob->ag->log, e->id, "failed",
					    "the draft left the outbox before it was sent", &err);
				log_step(ob, e, "withdrawn", "state=signed%s", e->last_error != NULL &&
				    strcmp(e->last_error, "submitting") == 0 ? " note=\"an interrupted attempt may "
				    "have reached the server\"" : "");
				goto out;
			} else if (e->last_error != NULL && strcmp(e->last_error, "submitting") == 0) {
				log_warn("acct=%s id=%lld msgid=%s step=resubmit note=\"the previous attempt was "
				    "interrupted during SMTP; if the server had accepted it, the recipients get it "
				    "twice\"", ob->a->name, (long long)e->id,
				    log_quote(q, sizeof(q), e->message_id != NULL ? e->message_id : ""));
			}
		}
		if (e->state == JOURNAL_SIGNED) {
			if ((r = do_submit(ob, e, &sig, &d)) != OB_OK || e->state != JOURNAL_SUBMITTED)
				goto out;
			resumed = false;        /* we know it is not in Sent */
		}
	}
	if (e->state == JOURNAL_SUBMITTED) {
		if ((r = do_file(ob, e, &sig, resumed)) != OB_OK || e->state != JOURNAL_FILED)
			goto out;
	}
	if (e->state == JOURNAL_FILED)
		r = do_done(ob, e);
out:
	draft_release(&d);
	buf_release(&draft_msg);
	buf_release(&sig);
	return r;
}

/* Is a message with this Message-ID unfinished in the journal under
 * another UIDVALIDITY of the outbox? */
static bool
in_flight_elsewhere(struct ob *ob, const char *msgid)
{
	struct journal_entry *v = NULL;
	size_t n = 0;
	struct kerr err = KERR_INIT;
	bool found = false;

	if (!journal_pending(ob->ag->journal, ob->a->name, INT64_MAX, 1000, &v, &n, &err))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!found && v[i].uidvalidity != ob->uidvalidity && v[i].message_id != NULL && strcmp(v[i].message_id, msgid) == 0 &&
		    strcmp(v[i].folder, ob->a->outbox) == 0)
			found = true;
		journal_entry_release(&v[i]);
	}
	free(v);
	return found;
}

/* The outbox's messages: each new UID is fetched, journalled (QUEUED) and
 * its draft kept for handle().  A FAILED one still there is moved again. */
static enum res
scan(struct ob *ob)
{
	struct imapc_query q = { 0 };
	struct imapc_uids u = IMAPC_UIDS_INIT;
	struct kerr err = KERR_INIT;
	enum res r = OB_OK;
	char qq[600];

	if (!ob->outbox_selected && !select_outbox(ob, &err)) {
		session_error(ob->rt, "select", &err);
		return OB_DEAD;
	}
	if (!imapc_search(ob->im, &q, &u, &err)) {
		session_error(ob->rt, "search", &err);
		return OB_DEAD;
	}
	for (size_t i = 0; i < u.n && !atomic_load(&ob->rt->stop); i++) {
		struct buf msg = BUF_INIT;
		struct draft d;
		struct journal_key key = { ob->a->name, ob->a->outbox, ob->uidvalidity, u.uids[i] };
		enum journal_state st;
		int64_t id;
		char *mid = NULL;

		if (seen_has(ob, u.uids[i]))
			continue;
		if (!imapc_fetch_uid(ob->im, u.uids[i], &msg, &err)) {
			buf_release(&msg);
			if (imap_dead(&err)) {
				session_error(ob->rt, "fetch", &err);
				r = OB_DEAD;
				break;
			}
			continue;       /* expunged meanwhile */
		}
		draft_parse(msg.data, msg.len, &d);
		if (d.message_id != NULL && in_flight_elsewhere(ob, d.message_id)) {
			/* Journalled under the outbox's previous UIDVALIDITY and not
			 * finished: that entry finds this draft by its Message-ID. */
			log_info("acct=%s step=queue uid=%u note=\"already in progress under an earlier "
			    "UIDVALIDITY\"", ob->a->name, u.uids[i]);
			seen_add(ob, u.uids[i]);
			draft_release(&d);
			buf_release(&msg);
			continue;
		}
		mid = d.message_id != NULL ? xstrdup(d.message_id) : make_message_id(ob->a);
		draft_release(&d);
		if (!journal_enqueue(ob->ag->journal, &key, mid, &id, &st, &err)) {
			log_error("acct=%s step=queue uid=%u class=%s error=%s", ob->a->name, u.uids[i],
			    kerr_class_name(err.cls), log_quote(qq, sizeof(qq), err.msg));
			session_error(ob->rt, "journal", &err);
			buf_release(&msg);
			free(mid);
			continue;       /* not lost: still in the outbox, tried at the next pass */
		}
		seen_add(ob, u.uids[i]);
		if (st == JOURNAL_QUEUED) {
			char mq[300];

			log_info("acct=%s msgid=%s id=%lld step=queued uid=%u bytes=%zu", ob->a->name,
			    log_quote(mq, sizeof(mq), mid), (long long)id, u.uids[i], msg.len);
			agent_crash_point("queued");
			if (ob->cache_bytes + msg.len <= CACHE_MAX) {
				ob->cache = xreallocarray(ob->cache, ob->n_cache + 1, sizeof(*ob->cache));
				ob->cache[ob->n_cache].id = id;
				ob->cache[ob->n_cache++].msg = msg;
				ob->cache_bytes += msg.len;
				msg = (struct buf)BUF_INIT;
			}
		} else if (st == JOURNAL_FAILED) {
			struct journal_entry e = { .id = id, .uidvalidity = ob->uidvalidity, .uid = u.uids[i] };

			if (move_failed(ob, &e) == OB_DEAD)
				r = OB_DEAD;
		} else if (st == JOURNAL_DONE) {
			/* Flagged \Deleted but not expunged (a server without UIDPLUS). */
			(void)imapc_delete_uid(ob->im, u.uids[i], &err);
		}
		buf_release(&msg);
		free(mid);
		if (r == OB_DEAD)
			break;
	}
	imapc_uids_release(&u);
	return r;
}

/* Everything the journal says is due for this account. */
static enum res
drain(struct ob *ob)
{
	struct kerr err = KERR_INIT;
	char q[600];

	for (unsigned round = 0; round < 1000 && !atomic_load(&ob->rt->stop); round++) {
		struct journal_entry *v = NULL;
		size_t n = 0, progressed = 0;
		enum res r = OB_OK;

		if (!journal_pending(ob->ag->journal, ob->a->name, now_s(), PENDING_BATCH, &v, &n, &err)) {
			log_error("acct=%s step=pending error=%s", ob->a->name, log_quote(q, sizeof(q), err.msg));
			return OB_NEXT;
		}
		for (size_t i = 0; i < n; i++) {
			enum journal_state before = v[i].state;
			int before_attempts = v[i].attempts;

			if (r != OB_DEAD && !atomic_load(&ob->rt->stop) && strcmp(v[i].folder, ob->a->outbox) == 0) {
				r = handle(ob, &v[i]);
				if (v[i].state != before || r == OB_OK || v[i].attempts != before_attempts)
					progressed++;
			}
			journal_entry_release(&v[i]);
		}
		free(v);
		if (r == OB_DEAD)
			return OB_DEAD;
		if (n < PENDING_BATCH || progressed == 0)
			break;
	}
	return OB_OK;
}

/* Seconds until the next deferred entry is due; -1 when none. */
static int64_t
next_due(struct ob *ob)
{
	struct journal_entry *v = NULL;
	size_t n = 0;
	struct kerr err = KERR_INIT;
	int64_t best = -1, now = now_s();

	if (!journal_pending(ob->ag->journal, ob->a->name, INT64_MAX, 1000, &v, &n, &err))
		return 5;
	for (size_t i = 0; i < n; i++) {
		int64_t d = v[i].next_attempt - now;

		if (strcmp(v[i].folder, ob->a->outbox) == 0 && (best < 0 || d < best))
			best = d < 0 ? 0 : d;
		journal_entry_release(&v[i]);
	}
	free(v);
	return best;
}

/* After login: the folders exist, Sent is known. */
static bool
setup_folders(struct ob *ob, struct kerr *err)
{
	struct imapc_folders fs = IMAPC_FOLDERS_INIT;
	const struct imapc_folder *sent;

	/* Names are UTF-8 with '/' between levels whatever the server uses
	 * (imapc translates). */
	if (!imapc_list(ob->im, &fs, err))
		return false;
	xfree(&ob->outbox);
	xfree(&ob->failed);
	xfree(&ob->sent);
	ob->outbox = xstrdup(ob->a->outbox);
	ob->failed = xstrdup(ob->a->failed);
	if (ob->a->sent != NULL)
		ob->sent = xstrdup(ob->a->sent);
	else if ((sent = imapc_folders_find_use(&fs, IMAPC_USE_SENT)) != NULL)
		ob->sent = xstrdup(sent->name);
	else
		ob->sent = xstrdup("Sent");
	imapc_folders_release(&fs);
	if (!imapc_create(ob->im, ob->outbox, err) || !imapc_create(ob->im, ob->failed, err))
		return false;
	log_debug("acct=%s step=folders outbox=%s failed=%s sent=%s", ob->a->name, ob->outbox, ob->failed,
	    ob->sent);
	return true;
}

void
outbox_run(struct account_rt *rt)
{
	struct ob ob = { .rt = rt, .ag = rt->ag, .a = rt->acct };
	unsigned attempt = 0;
	bool ever = false;

	while (!atomic_load(&rt->stop)) {
		struct kerr err = KERR_INIT;
		bool dead = false;

		ob.im = session_open(rt, &err);
		if (ob.im == NULL) {
			if (atomic_load(&rt->stop))
				break;
			session_error(rt, "connect", &err);
			(void)session_sleep(rt, session_backoff_ms(attempt++));
			continue;
		}
		if (ever)
			atomic_fetch_add(&ob.ag->metrics.imap_reconnects_total, 1);
		ever = true;
		ob.outbox_selected = false;
		if (!setup_folders(&ob, &err) || !select_outbox(&ob, &err)) {
			session_error(rt, "folders", &err);
			session_close(rt, &ob.im);
			(void)session_sleep(rt, session_backoff_ms(attempt++));
			continue;
		}
		attempt = 0;
		if (!imapc_has_capability(ob.im, "IDLE"))
			log_info("acct=%s step=wait result=no-idle poll=%u", ob.a->name, rt->conf->agent.poll_s);
		while (!atomic_load(&rt->stop) && !dead) {
			int64_t due, wait_s;
			bool changed = false;

			ob.smtp_down = false;
			dead = scan(&ob) == OB_DEAD || drain(&ob) == OB_DEAD;
			smtp_close(&ob);
			cache_clear(&ob);
			if (dead || atomic_load(&rt->stop))
				break;
			due = next_due(&ob);
			wait_s = imapc_has_capability(ob.im, "IDLE") ? rt->conf->agent.idle_s : rt->conf->agent.poll_s;
			if (due >= 0 && due < wait_s)
				wait_s = due > 0 ? due : 1;
			if (ob.ag->log != NULL)
				(void)logdb_account_idle(ob.ag->log, ob.a->name, now_s(), &err);
			if (imapc_has_capability(ob.im, "IDLE")) {
				if (!imapc_idle(ob.im, (int)wait_s, &changed, &err)) {
					if (!atomic_load(&rt->stop))
						session_error(rt, "idle", &err);
					dead = true;
				}
			} else {
				if (!session_sleep(rt, wait_s * 1000))
					break;
			}
		}
		session_close(rt, &ob.im);
		ob.outbox_selected = false;
		if (dead && !atomic_load(&rt->stop))
			(void)session_sleep(rt, session_backoff_ms(attempt++));
	}
	smtp_close(&ob);
	cache_clear(&ob);
	for (size_t i = 0; i < ob.n_unrec; i++) {
		log_error("acct=%s id=%lld step=stop note=\"submitted but not recorded: a restart sends it "
		    "again\"", rt->acct->name, (long long)ob.unrec[i].id);
		free(ob.unrec[i].detail);
	}
	xfree(&ob.unrec);
	xfree(&ob.seen);
	xfree(&ob.outbox);
	xfree(&ob.failed);
	xfree(&ob.sent);
	log_info("acct=%s step=outbox result=stopped", rt->acct->name);
}
