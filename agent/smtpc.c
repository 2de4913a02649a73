/* smtpc.c - SMTP submission client on libetpan over agent/tls.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "agent/log.h"
#include "agent/smtpc.h"

#define MAX_ADDRESS 254   /* RFC 5321 path limit, without the brackets */
#define MAX_LINE 998      /* RFC 5322 line limit, without CRLF */

struct smtpc {
	mailsmtp *smtp;          /* owned; owns the stream over conn */
	struct tls_conn *conn;   /* owned; outlives smtp's stream */
	char where[300];         /* "smtp host:port" */
	bool dead;               /* the connection broke: every call fails */
};

/* ------------------------------------------------------------------ */
/* Replies and errors */

/* libetpan keeps the last reply's lines, without their codes, joined by '\n'. */
static void
reply_from_libetpan(const struct smtpc *sm, struct smtpc_reply *r)
{
	const char *t = sm->smtp->response != NULL ? sm->smtp->response : "";
	size_t n = 0;

	r->code = sm->smtp->response_code;
	for (; *t != '\0' && n + 1 < sizeof(r->text); t++) {
		char ch = *t == '\n' || *t == '\r' ? ' ' : *t;

		if (ch == ' ' && (n == 0 || r->text[n - 1] == ' '))
			continue;
		r->text[n++] = ch;
	}
	while (n > 0 && r->text[n - 1] == ' ')
		n--;
	r->text[n] = '\0';
}

static enum kerr_class
class_of_code(int code)
{
	return code >= 500 && code <= 599 ? KERR_PERM : KERR_TEMP;
}

/* The connection broke (or timed out) while doing `what`. */
static bool
io_failed(struct smtpc *sm, const char *what, struct kerr *err)
{
	struct kerr io = KERR_INIT;

	if (!tls_conn_io_error(sm->conn, &io))
		return false;
	sm->dead = true;
	kerr_set(err, KERR_TEMP, "%s: %s: %s", sm->where, what, io.msg);
	return true;
}

/* libetpan returned r for `what`; reply (may be NULL) receives the reply. */
static void
smtp_fail(struct smtpc *sm, int r, const char *what, struct smtpc_reply *reply, struct kerr *err)
{
	struct smtpc_reply tmp;

	if (io_failed(sm, what, err))
		return;
	if (sm->smtp->stream == NULL)
		sm->dead = true;   /* libetpan closed it (after a refused greeting) */
	if (r == MAILSMTP_ERROR_STREAM) {
		sm->dead = true;
		kerr_set(err, KERR_TEMP, "%s: %s: connection lost", sm->where, what);
		return;
	}
	if (reply == NULL)
		reply = &tmp;
	reply_from_libetpan(sm, reply);
	if (reply->code == 0)
		kerr_set(err, KERR_TEMP, "%s: %s: %s", sm->where, what, mailsmtp_strerror(r));
	else
		kerr_set(err, class_of_code(reply->code), "%s: %s: the server replied %d %s",
		    sm->where, what, reply->code, reply->text);
}

static bool
smtp_ready(struct smtpc *sm, const char *what, struct kerr *err)
{
	if (sm->dead || sm->smtp == NULL || sm->smtp->stream == NULL) {
		kerr_set(err, KERR_TEMP, "%s: %s: not connected (the connection was lost earlier)",
		    sm->where, what);
		return false;
	}
	tls_conn_clear_io_error(sm->conn);
	return true;
}

/* ------------------------------------------------------------------ */
/* kyso's own command/reply exchange, for what libetpan does not do the way
 * kyso needs (AUTH without Cyrus SASL plugins, MAIL FROM with BODY=8BITMIME). */

/* Send one command line (with its CRLF).  private: it holds a secret; wipe
 * libetpan's write buffer afterwards. */
static bool
cmd_send(struct smtpc *sm, const char *line, bool private)
{
	mailstream *s = sm->smtp->stream;
	size_t n = strlen(line);
	bool ok;

	mailstream_set_privacy(s, private ? 0 : 1);
	ok = mailstream_write(s, line, n) == (ssize_t)n && mailstream_flush(s) == 0;
	mailstream_set_privacy(s, 1);
	if (private)
		OPENSSL_cleanse(s->write_buffer, s->buffer_max_size);
	return ok;
}

/* Read one (multi-line) reply.  Returns its code, 0 if the connection broke
 * or the reply is malformed. */
static int
reply_read(struct smtpc *sm, struct smtpc_reply *r)
{
	MMAPString *line = sm->smtp->line_buffer;
	size_t n = 0;

	r->code = 0;
	r->text[0] = '\0';
	for (;;) {
		const char *l = mailstream_read_line_remove_eol(sm->smtp->stream, line);
		int code;

		if (l == NULL || strlen(l) < 3 || l[0] < '2' || l[0] > '5' ||
		    l[1] < '0' || l[1] > '9' || l[2] < '0' || l[2] > '9' ||
		    (l[3] != '\0' && l[3] != ' ' && l[3] != '-'))
			return 0;
		code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
		if (r->code != 0 && code != r->code)
			return 0;
		r->code = code;
		if (l[3] != '\0') {
			const char *t = l + 4;

			if (n > 0 && n + 1 < sizeof(r->text))
				r->text[n++] = ' ';
			for (; *t != '\0' && n + 1 < sizeof(r->text); t++)
				r->text[n++] = *t;
			r->text[n] = '\0';
		}
		if (l[3] != '-')
			return code;
	}
}

/* Send line, read the reply.  Returns the code, or 0 with err set (lost). */
static int
exchange(struct smtpc *sm, const char *line, bool private, const char *what,
    struct smtpc_reply *r, struct kerr *err)
{
	if (!cmd_send(sm, line, private) || reply_read(sm, r) == 0) {
		if (!io_failed(sm, what, err)) {
			sm->dead = true;
			kerr_set(err, KERR_TEMP, "%s: %s: connection lost or malformed reply",
			    sm->where, what);
		}
		return 0;
	}
	return r->code;
}

/* ------------------------------------------------------------------ */
/* Connect */

static bool
ehlo(struct smtpc *sm, struct kerr *err)
{
	int r;

	sm->smtp->smtp_max_msg_size = 0;
	r = mailesmtp_ehlo(sm->smtp);
	if (r != MAILSMTP_NO_ERROR) {
		smtp_fail(sm, r, "EHLO", NULL, err);
		if (err->cls == KERR_PERM)
			err->cls = KERR_CONFIG;  /* a server without ESMTP cannot be used at all */
		return false;
	}
	return true;
}

static bool
start_tls(struct smtpc *sm, struct kerr *err)
{
	int r;

	if ((sm->smtp->esmtp & MAILSMTP_ESMTP_STARTTLS) == 0) {
		kerr_set(err, KERR_CONFIG, "%s: the server does not offer STARTTLS; kyso never logs in "
		    "without TLS (use smtps:// or enable STARTTLS on the server)", sm->where);
		return false;
	}
	r = mailesmtp_starttls(sm->smtp);
	/* libetpan >= 1.9.4 itself refuses bytes that follow the go-ahead
	 * (CVE-2020-15953); say so plainly rather than "STARTTLS failed". */
	if (r != MAILSMTP_NO_ERROR && !tls_stream_check_clean(sm->smtp->stream, err)) {
		kerr_prefix(err, "smtp ");
		sm->dead = true;
		return false;
	}
	if (r != MAILSMTP_NO_ERROR) {
		smtp_fail(sm, r, "STARTTLS", NULL, err);
		if (err->cls == KERR_PERM)
			err->cls = KERR_CONFIG;
		return false;
	}
	if (!tls_stream_starttls(sm->smtp->stream, err)) {
		kerr_prefix(err, "smtp ");
		sm->dead = true;
		return false;
	}
	/* What the server said before TLS may have been forged: say EHLO again. */
	return ehlo(sm, err);
}

struct smtpc *
smtpc_connect(const struct conf_endpoint *ep, const struct tls_opts *tls, struct kerr *err)
{
	struct smtpc *sm = xcalloc(1, sizeof(*sm));
	int r;

	snprintf(sm->where, sizeof(sm->where), "smtp %s:%u", ep->host, (unsigned)ep->port);
	sm->conn = tls_conn_connect(ep->host, ep->port, tls, err);
	if (sm->conn == NULL) {
		kerr_prefix(err, "smtp ");
		goto fail;
	}
	if (ep->tls == CONF_TLS_IMPLICIT && !tls_conn_handshake(sm->conn, err)) {
		kerr_prefix(err, "smtp ");
		goto fail;
	}
	sm->smtp = mailsmtp_new(0, NULL);
	if (sm->smtp == NULL) {
		fprintf(stderr, "kyso: out of memory creating an SMTP session\n");
		abort();
	}
	/* On failure libetpan closes the stream itself. */
	r = mailsmtp_connect(sm->smtp, tls_conn_stream_new(sm->conn));
	if (r != MAILSMTP_NO_ERROR) {
		smtp_fail(sm, r, "greeting", NULL, err);
		if (err->cls == KERR_PERM)
			err->cls = KERR_TEMP;  /* 554 "no service": try again later */
		goto fail;
	}
	if (!ehlo(sm, err))
		goto fail;
	if (ep->tls == CONF_TLS_STARTTLS && !start_tls(sm, err))
		goto fail;
	log_debug("smtp host=%s:%u result=connected tls=\"%s\" size=%zu", ep->host,
	    (unsigned)ep->port, tls_conn_describe(sm->conn), smtpc_max_size(sm));
	return sm;
fail:
	smtpc_free(&sm);
	return NULL;
}

size_t
smtpc_max_size(const struct smtpc *sm)
{
	if (sm->smtp == NULL || (sm->smtp->esmtp & MAILSMTP_ESMTP_SIZE) == 0)
		return 0;
	return sm->smtp->smtp_max_msg_size;
}

/* ------------------------------------------------------------------ */
/* AUTH */

/* base64 of n bytes (caller owns; wipe it if it holds a secret). */
static char *
b64(const void *p, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

static void
secret_free(char **sp)
{
	if (*sp != NULL) {
		OPENSSL_cleanse(*sp, strlen(*sp));
		free(*sp);
		*sp = NULL;
	}
}

static bool
auth_result(struct smtpc *sm, const char *what, const struct smtpc_reply *r, struct kerr *err)
{
	if (r->code == 235)
		return true;
	kerr_set(err, r->code >= 400 && r->code <= 499 ? KERR_TEMP : KERR_CONFIG,
	    "%s: %s refused: %d %s", sm->where, what, r->code, r->text);
	return false;
}

static bool
auth_plain(struct smtpc *sm, const char *user, const char *password, const char *what,
    struct kerr *err)
{
	size_t ul = strlen(user), pl = strlen(password);
	char *raw = xmalloc(ul + pl + 2), *enc = NULL, *line = NULL;
	struct smtpc_reply r;
	bool ok = false;

	raw[0] = '\0';
	memcpy(raw + 1, user, ul);
	raw[1 + ul] = '\0';
	memcpy(raw + 2 + ul, password, pl);
	enc = b64(raw, ul + pl + 2);
	line = xasprintf("AUTH PLAIN %s\r\n", enc);
	if (exchange(sm, line, true, what, &r, err) == 0)
		goto out;
	ok = auth_result(sm, what, &r, err);
out:
	OPENSSL_cleanse(raw, ul + pl + 2);
	free(raw);
	secret_free(&enc);
	secret_free(&line);
	return ok;
}

static bool
auth_login(struct smtpc *sm, const char *user, const char *password, const char *what,
    struct kerr *err)
{
	char *enc = NULL, *line = NULL;
	struct smtpc_reply r;
	bool ok = false;

	if (exchange(sm, "AUTH LOGIN\r\n", false, what, &r, err) == 0)
		goto out;
	if (r.code != 334) {
		ok = auth_result(sm, what, &r, err);
		goto out;
	}
	enc = b64(user, strlen(user));
	line = xasprintf("%s\r\n", enc);
	if (exchange(sm, line, false, what, &r, err) == 0)
		goto out;
	if (r.code != 334) {
		ok = auth_result(sm, what, &r, err);
		goto out;
	}
	secret_free(&enc);
	secret_free(&line);
	enc = b64(password, strlen(password));
	line = xasprintf("%s\r\n", enc);
	if (exchange(sm, line, true, what, &r, err) == 0)
		goto out;
	ok = auth_result(sm, what, &r, err);
out:
	secret_free(&enc);
	secret_free(&line);
	return ok;
}

bool
smtpc_auth(struct smtpc *sm, const char *user, const char *password, struct kerr *err)
{
	char what[300];
	int mechs;

	if (!smtp_ready(sm, "AUTH", err))
		return false;
	if (!tls_conn_is_tls(sm->conn)) {
		kerr_set(err, KERR_INTERNAL, "%s: AUTH: refusing to send a password without TLS",
		    sm->where);
		return false;
	}
	mechs = sm->smtp->auth;
	if ((mechs & MAILSMTP_AUTH_PLAIN) != 0) {
		snprintf(what, sizeof(what), "AUTH PLAIN as %s", user);
		return auth_plain(sm, user, password, what, err);
	}
	if ((mechs & MAILSMTP_AUTH_LOGIN) != 0) {
		snprintf(what, sizeof(what), "AUTH LOGIN as %s", user);
		return auth_login(sm, user, password, what, err);
	}
	kerr_set(err, KERR_CONFIG, "%s: AUTH: the server offers no mechanism kyso supports "
	    "(PLAIN, LOGIN)%s", sm->where,
	    (mechs & ~MAILSMTP_AUTH_CHECKED) == 0 ? "; it announced no AUTH at all" : "");
	return false;
}

/* ------------------------------------------------------------------ */
/* Sending */

static bool
message_check(const char *msg, size_t len, char *why, size_t n)
{
	size_t line_start = 0, line_no = 1;

	if (len < 2 || msg[len - 2] != '\r' || msg[len - 1] != '\n') {
		snprintf(why, n, "it does not end with CRLF");
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\0') {
			snprintf(why, n, "NUL byte at offset %zu", i);
			return false;
		}
		if (msg[i] == '\r' && msg[i + 1] != '\n') {   /* i + 1 < len: msg ends with CRLF */
			snprintf(why, n, "bare CR at offset %zu", i);
			return false;
		}
		if (msg[i] == '\n') {
			if (i == 0 || msg[i - 1] != '\r') {
				snprintf(why, n, "bare LF at offset %zu", i);
				return false;
			}
			if (i - 1 - line_start > MAX_LINE) {
				snprintf(why, n, "line %zu is %zu bytes long; servers may break lines "
				    "longer than %d", line_no, i - 1 - line_start, MAX_LINE);
				return false;
			}
			line_start = i + 1;
			line_no++;
		}
	}
	return true;
}

bool
smtpc_message_check(const char *msg, size_t len, struct kerr *err)
{
	char why[128];

	if (message_check(msg, len, why, sizeof(why)))
		return true;
	kerr_set(err, KERR_PERM, "the message cannot be sent unchanged: %s", why);
	return false;
}

/* An addr-spec kyso puts between < and >: printable ASCII, no space, no
 * brackets.  The empty path is allowed for the sender only. */
static bool
address_ok(const char *a, bool sender)
{
	size_t n = strlen(a);

	if (n == 0)
		return sender;
	if (n > MAX_ADDRESS || strchr(a, '@') == NULL)
		return false;
	for (; *a != '\0'; a++)
		if ((unsigned char)*a <= 0x20 || (unsigned char)*a >= 0x7f || *a == '<' || *a == '>')
			return false;
	return true;
}

static bool
has_8bit(const char *msg, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)msg[i] >= 0x80)
			return true;
	return false;
}

static void
reply_clear(struct smtpc_reply *r)
{
	if (r != NULL) {
		r->code = 0;
		r->text[0] = '\0';
	}
}

/* RSET after a refused recipient, so the session can go on. */
static void
reset(struct smtpc *sm)
{
	if (!sm->dead && mailsmtp_reset(sm->smtp) != MAILSMTP_NO_ERROR) {
		struct kerr ignored = KERR_INIT;

		if (!io_failed(sm, "RSET", &ignored))
			sm->dead = true;
	}
}

static bool
send_mail_from(struct smtpc *sm, const char *from, size_t len, bool eightbit, struct kerr *err)
{
	char line[MAX_ADDRESS + 80], what[MAX_ADDRESS + 32];
	struct smtpc_reply r;
	size_t n;

	snprintf(what, sizeof(what), "MAIL FROM:<%s>", from);
	n = (size_t)snprintf(line, sizeof(line), "MAIL FROM:<%s>", from);
	if ((sm->smtp->esmtp & MAILSMTP_ESMTP_SIZE) != 0)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " SIZE=%zu", len);
	if (eightbit && (sm->smtp->esmtp & MAILSMTP_ESMTP_8BITMIME) != 0)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " BODY=8BITMIME");
	snprintf(line + n, sizeof(line) - n, "\r\n");
	if (exchange(sm, line, false, what, &r, err) == 0)
		return false;
	if (r.code != 250) {
		kerr_set(err, class_of_code(r.code), "%s: %s refused: %d %s", sm->where, what,
		    r.code, r.text);
		return false;
	}
	return true;
}

bool
smtpc_send(struct smtpc *sm, const char *from, const char *const *rcpts, size_t n_rcpts,
    const char *msg, size_t len, struct smtpc_reply *rcpt_replies_r,
    struct smtpc_reply *data_reply_r, struct kerr *err)
{
	struct smtpc_reply rr, first_bad = { 0, "" };
	size_t refused = 0, max;
	bool any_perm = false;
	const char *bad_rcpt = NULL;
	char why[128];
	int r;

	for (size_t i = 0; rcpt_replies_r != NULL && i < n_rcpts; i++)
		reply_clear(&rcpt_replies_r[i]);
	reply_clear(data_reply_r);

	if (!address_ok(from, true)) {
		kerr_set(err, KERR_PERM, "%s: invalid sender address \"%s\"", sm->where, from);
		return false;
	}
	if (n_rcpts == 0) {
		kerr_set(err, KERR_PERM, "%s: no recipients", sm->where);
		return false;
	}
	for (size_t i = 0; i < n_rcpts; i++) {
		if (!address_ok(rcpts[i], false)) {
			kerr_set(err, KERR_PERM, "%s: invalid recipient address \"%s\"", sm->where,
			    rcpts[i]);
			return false;
		}
	}
	if (!message_check(msg, len, why, sizeof(why))) {
		kerr_set(err, KERR_PERM, "%s: the message cannot be sent unchanged: %s", sm->where, why);
		return false;
	}
	max = smtpc_max_size(sm);
	if (max > 0 && len > max) {
		kerr_set(err, KERR_PERM, "%s: the message is %zu bytes; the server accepts at most %zu "
		    "(SIZE)", sm->where, len, max);
		return false;
	}
	if (!smtp_ready(sm, "MAIL FROM", err))
		return false;

	if (!send_mail_from(sm, from, len, has_8bit(msg, len), err))
		return false;

	for (size_t i = 0; i < n_rcpts; i++) {
		struct smtpc_reply *rep = rcpt_replies_r != NULL ? &rcpt_replies_r[i] : &rr;
		char what[MAX_ADDRESS + 32];

		snprintf(what, sizeof(what), "RCPT TO:<%s>", rcpts[i]);
		r = mailesmtp_rcpt(sm->smtp, rcpts[i], 0, NULL);
		if (r == MAILSMTP_NO_ERROR) {
			reply_from_libetpan(sm, rep);
			continue;
		}
		smtp_fail(sm, r, what, rep, err);
		if (sm->dead)
			return false;
		if (refused++ == 0) {
			first_bad = *rep;
			bad_rcpt = rcpts[i];
		}
		any_perm |= class_of_code(rep->code) == KERR_PERM;
	}
	if (refused > 0) {
		reset(sm);
		kerr_set(err, any_perm ? KERR_PERM : KERR_TEMP, "%s: RCPT TO:<%s> refused: %d %s "
		    "(%zu of %zu recipients refused; nothing sent)", sm->where, bad_rcpt,
		    first_bad.code, first_bad.text, refused, n_rcpts);
		return false;
	}

	r = mailsmtp_data(sm->smtp);
	if (r != MAILSMTP_NO_ERROR) {
		smtp_fail(sm, r, "DATA", data_reply_r, err);
		reset(sm);
		return false;
	}
	/* libetpan dot-stuffs each line and always appends "\r\n.\r\n": leave out the
	 * message's final CRLF so that the server stores exactly msg. */
	r = mailsmtp_data_message(sm->smtp, msg, len - 2);
	if (r != MAILSMTP_NO_ERROR) {
		smtp_fail(sm, r, "end of DATA", data_reply_r, err);
		if (sm->dead)
			kerr_prefix(err, "(the server may or may not have accepted the message) ");
		return false;
	}
	if (data_reply_r != NULL)
		reply_from_libetpan(sm, data_reply_r);
	return true;
}

/* ------------------------------------------------------------------ */
/* End */

bool
smtpc_quit(struct smtpc *sm, struct kerr *err)
{
	(void)err;
	if (sm->smtp == NULL || sm->smtp->stream == NULL)
		return true;
	if (sm->dead) {
		mailstream_close(sm->smtp->stream);
		sm->smtp->stream = NULL;
		return true;
	}
	(void)mailsmtp_quit(sm->smtp);  /* sends QUIT, closes: the reply does not matter */
	return true;
}

void
smtpc_cancel(struct smtpc *sm)
{
	if (sm->conn != NULL)
		tls_conn_cancel(sm->conn);
}

void
smtpc_free(struct smtpc **smp)
{
	struct smtpc *sm;

	if (smp == NULL || *smp == NULL)
		return;
	sm = *smp;
	*smp = NULL;
	if (sm->smtp != NULL) {
		if (sm->smtp->stream != NULL) {
			mailstream_close(sm->smtp->stream);
			sm->smtp->stream = NULL;
		}
		mailsmtp_free(sm->smtp);
	}
	tls_conn_free(&sm->conn);
	free(sm);
}
