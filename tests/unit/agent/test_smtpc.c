/* Unit tests of agent/smtpc.c: message checks, and sessions with scripted
 * fake servers (the real server is exercised by tests/e2e/smoke). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "agent/log.h"
#include "agent/smtpc.h"
#include "tests/unit/agent/nettest.h"
#include "tests/unit/testmain.h"

/* ---- what can be sent unchanged ---- */

static char long_line[1100];

static const struct {
	const char *msg;
	size_t len;          /* 0: strlen */
	const char *why;     /* NULL: fine */
} checks[] = {
	{ "a\r\n", 0, NULL },
	{ "\r\n", 0, NULL },
	{ ".\r\n..\r\n.x\r\n", 0, NULL },
	{ "Subject: \xe1\xbb\x91\r\n\r\nb\r\n", 0, NULL },
	{ "", 0, "it does not end with CRLF" },
	{ "a", 0, "it does not end with CRLF" },
	{ "a\r\nb", 0, "it does not end with CRLF" },
	{ "a\nb\r\n", 0, "bare LF at offset 1" },
	{ "a\rb\r\n", 0, "bare CR at offset 1" },
	{ "a\r\r\n", 0, "bare CR at offset 1" },
	{ "a\0b\r\n", 5, "NUL byte at offset 1" },
	{ long_line, 998 + 2, NULL },
	{ long_line, 999 + 2, "line 1 is 999 bytes long; servers may break lines longer than 998" },
};

START_TEST(message_check_table)
{
	struct kerr err = KERR_INIT;
	size_t len = checks[_i].len != 0 ? checks[_i].len : strlen(checks[_i].msg);
	char want[256];

	memset(long_line, 'x', sizeof(long_line));
	long_line[998] = '\r';
	long_line[999] = '\n';
	if (len == 999 + 2) {
		long_line[998] = 'x';
		long_line[999] = '\r';
		long_line[1000] = '\n';
	}
	if (checks[_i].why == NULL) {
		ck_assert_msg(smtpc_message_check(checks[_i].msg, len, &err), "%s", err.msg);
	} else {
		ck_assert(!smtpc_message_check(checks[_i].msg, len, &err));
		snprintf(want, sizeof(want), "the message cannot be sent unchanged: %s", checks[_i].why);
		ck_assert_str_eq(err.msg, want);
		ck_assert_int_eq(err.cls, KERR_PERM);
	}
}
END_TEST

/* ---- a scripted SMTP server ---- */

static struct testpki *pki;

static void
setup(void)
{
	pki = testpki_new();
}

static void
teardown(void)
{
	testpki_free(&pki);
}

struct smtp_script {
	SSL_CTX *ctx;                /* for STARTTLS */
	const char *greeting;        /* "220 fake ESMTP" */
	const char *ehlo_plain;      /* EHLO lines, '\n'-separated */
	const char *ehlo_tls;        /* after STARTTLS */
	const char *auth_reply;      /* "235 2.7.0 ok" */
	const char *rcpt_reply[4];   /* per RCPT, NULL: 250 */
	const char *data_reply;      /* NULL: 250 queued */
	int rcpt_no;
	bool tls;
	char auth_line[512], auth_user[256], auth_pass[256], mail_line[512];
	struct buf data;             /* what DATA carried, un-dot-stuffed */
};

static void
ehlo_reply(struct fake *f, const char *lines)
{
	const char *p = lines;

	for (;;) {
		const char *nl = strchr(p, '\n');

		if (nl == NULL) {
			fake_printf(f, "250 %s\r\n", p);
			return;
		}
		fake_printf(f, "250-%.*s\r\n", (int)(nl - p), p);
		p = nl + 1;
	}
}

static void
srv_smtp(struct fake *f, void *arg)
{
	struct smtp_script *s = arg;
	char line[1024];

	fake_printf(f, "%s\r\n", s->greeting);
	if (strncmp(s->greeting, "220", 3) != 0) {
		fake_hold(f);
		return;
	}
	while (fake_readline(f, line, sizeof(line))) {
		if (strncasecmp(line, "EHLO ", 5) == 0) {
			ehlo_reply(f, s->tls ? s->ehlo_tls : s->ehlo_plain);
		} else if (strcasecmp(line, "STARTTLS") == 0) {
			fake_printf(f, "220 2.0.0 Ready to start TLS\r\n");
			if (!fake_starttls(f, s->ctx))
				return;
			s->tls = true;
		} else if (strncasecmp(line, "AUTH LOGIN", 10) == 0) {
			snprintf(s->auth_line, sizeof(s->auth_line), "%s", line);
			fake_printf(f, "334 VXNlcm5hbWU6\r\n");
			if (!fake_readline(f, s->auth_user, sizeof(s->auth_user)))
				return;
			fake_printf(f, "334 UGFzc3dvcmQ6\r\n");
			if (!fake_readline(f, s->auth_pass, sizeof(s->auth_pass)))
				return;
			fake_printf(f, "%s\r\n", s->auth_reply);
		} else if (strncasecmp(line, "AUTH ", 5) == 0) {
			snprintf(s->auth_line, sizeof(s->auth_line), "%s", line);
			fake_printf(f, "%s\r\n", s->auth_reply);
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			snprintf(s->mail_line, sizeof(s->mail_line), "%s", line);
			fake_printf(f, "250 2.1.0 Ok\r\n");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			const char *r = s->rcpt_no < 4 ? s->rcpt_reply[s->rcpt_no] : NULL;

			s->rcpt_no++;
			fake_printf(f, "%s\r\n", r != NULL ? r : "250 2.1.5 Ok");
		} else if (strcasecmp(line, "DATA") == 0) {
			fake_printf(f, "354 End data with <CR><LF>.<CR><LF>\r\n");
			buf_reset(&s->data);
			if (!fake_read_data(f, &s->data))
				return;
			fake_printf(f, "%s\r\n", s->data_reply != NULL ? s->data_reply :
			    "250 2.0.0 Ok: queued as 4XyZ");
		} else if (strcasecmp(line, "RSET") == 0) {
			s->rcpt_no = 0;
			fake_printf(f, "250 2.0.0 Ok\r\n");
		} else if (strcasecmp(line, "QUIT") == 0) {
			fake_printf(f, "221 2.0.0 Bye\r\n");
			return;
		} else {
			fake_printf(f, "502 5.5.2 Error: command not recognized\r\n");
		}
	}
}

#define EHLO_FULL "fake.example\nPIPELINING\nSIZE 100000\n8BITMIME\nAUTH PLAIN LOGIN\nENHANCEDSTATUSCODES"

static struct conf_endpoint
endpoint(uint16_t port, enum conf_tls tls)
{
	struct conf_endpoint ep = { (char *)"localhost", port, tls };

	return ep;
}

static struct tls_opts
opts(int timeout_s)
{
	struct tls_opts o = { .ca_file = pki->ca_file, .verify = true, .timeout_s = timeout_s };

	return o;
}

static char *
b64(const char *p, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)p, (int)n);
	return out;
}

/* Message bytes a careless sender would damage: dots, 8 bit, a 998-byte line. */
static char *
tricky_message(size_t *len_r)
{
	struct buf b = BUF_INIT;
	char line[999];

	buf_appends(&b, "From: vanthu@benluc.longan.gov.vn\r\nSubject: =?UTF-8?B?VsSDbiBi4bqjbg==?=\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
	    ".leading dot\r\n.\r\n..\r\nV\xc4\x83n b\xe1\xba\xa3n \xc4\x91\xe1\xba\xbfn\r\n"
	    "\r\n\r\n");
	memset(line, 'L', 998);
	line[998] = '\0';
	buf_appends(&b, line);
	buf_appends(&b, "\r\n.\r\n");
	*len_r = b.len;
	return buf_steal(&b, NULL);
}

START_TEST(no_starttls_refused_before_auth)
{
	struct smtp_script s = { .greeting = "220 fake ESMTP", .ehlo_plain = "fake\nAUTH PLAIN\nSIZE 1000" };
	struct fake *f = fake_start(srv_smtp, &s, NULL);
	struct conf_endpoint ep = endpoint(fake_port(f), CONF_TLS_STARTTLS);
	struct tls_opts o = opts(5);
	struct kerr err = KERR_INIT;
	char want[300];
	char *sent;

	ck_assert_ptr_null(smtpc_connect(&ep, &o, &err));
	snprintf(want, sizeof(want), "smtp localhost:%u: the server does not offer STARTTLS; kyso "
	    "never logs in without TLS (use smtps:// or enable STARTTLS on the server)", fake_port(f));
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	sent = fake_finish(&f);
	ck_assert_msg(strncmp(sent, "EHLO ", 5) == 0, "%s", sent);
	ck_assert_msg(strstr(sent, "AUTH") == NULL && strstr(sent, "MAIL") == NULL, "%s", sent);
	free(sent);
}
END_TEST

static void
srv_silent(struct fake *f, void *arg)
{
	(void)arg;
	fake_hold(f);
}

START_TEST(silent_server_times_out)
{
	struct fake *f = fake_start(srv_silent, NULL, NULL);
	struct conf_endpoint ep = endpoint(fake_port(f), CONF_TLS_STARTTLS);
	struct tls_opts o = opts(1);
	struct kerr err = KERR_INIT;
	int64_t t0 = test_now_ms();
	char want[200];

	ck_assert_ptr_null(smtpc_connect(&ep, &o, &err));
	ck_assert_msg(test_now_ms() - t0 < 3000, "took %lld ms", (long long)(test_now_ms() - t0));
	snprintf(want, sizeof(want), "smtp localhost:%u: greeting: timed out after 1 s waiting for "
	    "the server", fake_port(f));
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(err.cls, KERR_TEMP);
	free(fake_finish(&f));
}
END_TEST

START_TEST(greeting_554)
{
	struct smtp_script s = { .greeting = "554 5.3.2 No service for you" };
	struct fake *f = fake_start(srv_smtp, &s, NULL);
	struct conf_endpoint ep = endpoint(fake_port(f), CONF_TLS_STARTTLS);
	struct tls_opts o = opts(5);
	struct kerr err = KERR_INIT;
	char want[200];

	ck_assert_ptr_null(smtpc_connect(&ep, &o, &err));
	snprintf(want, sizeof(want), "smtp localhost:%u: greeting: the server replied 554 5.3.2 No "
	    "service for you", fake_port(f));
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(err.cls, KERR_TEMP);
	free(fake_finish(&f));
}
END_TEST

START_TEST(starttls_auth_send_exact)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct smtp_script s = {
		.ctx = ctx, .greeting = "220 fake ESMTP",
		.ehlo_plain = "fake.example\nSTARTTLS\nAUTH PLAIN LOGIN\nXPLAINONLY",
		.ehlo_tls = EHLO_FULL, .auth_reply = "235 2.7.0 Authentication successful",
	};
	struct fake *f = fake_start(srv_smtp, &s, NULL);
	struct conf_endpoint ep = endpoint(fake_port(f), CONF_TLS_STARTTLS);
	struct tls_opts o = opts(5);
	struct kerr err = KERR_INIT;
	const char *rcpts[] = { "ubnd@longan.gov.vn", "sotttt@longan.gov.vn" };
	struct smtpc_reply rr[2], done;
	FILE *logf = tmpfile();
	char logbuf[4096] = "", want[300];
	size_t len;
	char *msg = tricky_message(&len), *sent, *plain;
	struct smtpc *sm;

	log_setup(LOG_LEVEL_DEBUG, LOG_TARGET_FD, fileno(logf));
	sm = smtpc_connect(&ep, &o, &err);
	ck_assert_msg(sm != NULL, "%s", err.msg);
	ck_assert_uint_eq(smtpc_max_size(sm), 100000);
	ck_assert_msg(smtpc_auth(sm, "vanthu@benluc.longan.gov.vn", "s3cr\xc3\xa9t pw", &err), "%s",
	    err.msg);
	ck_assert_msg(smtpc_send(sm, "vanthu@benluc.longan.gov.vn", rcpts, 2, msg, len, rr, &done,
	    &err), "%s", err.msg);
	ck_assert_int_eq(rr[0].code, 250);
	ck_assert_str_eq(rr[1].text, "2.1.5 Ok");
	ck_assert_int_eq(done.code, 250);
	ck_assert_str_eq(done.text, "2.0.0 Ok: queued as 4XyZ");
	ck_assert(smtpc_quit(sm, &err));
	smtpc_free(&sm);
	sent = fake_finish(&f);
	log_setup(LOG_LEVEL_INFO, LOG_TARGET_STDERR, -1);

	/* exactly the bytes given */
	ck_assert_uint_eq(s.data.len, len);
	ck_assert(memcmp(s.data.data, msg, len) == 0);
	snprintf(want, sizeof(want), "MAIL FROM:<vanthu@benluc.longan.gov.vn> SIZE=%zu BODY=8BITMIME",
	    len);
	ck_assert_str_eq(s.mail_line, want);
	/* AUTH PLAIN carries "\0user\0password" */
	plain = b64("\0vanthu@benluc.longan.gov.vn\0s3cr\xc3\xa9t pw", 39);
	snprintf(want, sizeof(want), "AUTH PLAIN %s", plain);
	ck_assert_str_eq(s.auth_line, want);
	/* EHLO again inside TLS; the plain-text EHLO's extensions were forgotten */
	ck_assert_msg(strncmp(sent, "EHLO ", 5) == 0 && strstr(sent, "\r\nSTARTTLS\r\nEHLO ") != NULL,
	    "%s", sent);
	/* the password is nowhere in the log, even at debug level */
	rewind(logf);
	logbuf[fread(logbuf, 1, sizeof(logbuf) - 1, logf)] = '\0';
	fclose(logf);
	ck_assert_msg(strstr(logbuf, "s3cr") == NULL && strstr(logbuf, plain) == NULL, "%s", logbuf);
	ck_assert_msg(strstr(logbuf, "smtp host=localhost:") != NULL, "%s", logbuf);
	free(plain);
	free(sent);
	free(msg);
	buf_release(&s.data);
	SSL_CTX_free(ctx);
}
END_TEST

/* Implicit TLS server with ehlo lines; connect and AUTH with the given reply. */
static void
auth_case(const char *ehlo, const char *auth_reply, bool want_ok, enum kerr_class cls,
    const char *want_tail, const char *want_auth_line)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct smtp_script s = { .ctx = ctx, .greeting = "220 fake", .ehlo_plain = ehlo,
	    .auth_reply = auth_reply };
	struct fake *f = fake_start(srv_smtp, &s, ctx);
	struct conf_endpoint ep = endpoint(fake_port(f), CONF_TLS_IMPLICIT);
	struct tls_opts o = opts(5);
	struct kerr err = KERR_INIT;
	struct smtpc *sm = smtpc_connect(&ep, &o, &err);
	char want[300];

	ck_assert_msg(sm != NULL, "%s", err.msg);
	if (want_ok) {
		ck_assert_msg(smtpc_auth(sm, "user", "pass", &err), "%s", err.msg);
	} else {
		ck_assert(!smtpc_auth(sm, "user", "pass", &err));
		snprintf(want, sizeof(want), "smtp localhost:%u: %s", fake_port(f), want_tail);
		ck_assert_str_eq(err.msg, want);
		ck_assert_int_eq(err.cls, cls);
	}
	smtpc_quit(sm, &err);
	smtpc_free(&sm);
	free(fake_finish(&f));
	if (want_auth_line != NULL)
		ck_assert_str_eq(s.auth_line, want_auth_line);
	SSL_CTX_free(ctx);
}

START_TEST(auth_refused)
{
	auth_case(EHLO_FULL, "535 5.7.8 Error: authentication failed: authentication failure",
	    false, KERR_CONFIG, "AUTH PLAIN as user refused: 535 5.7.8 Error: authentication "
	    "failed: authentication failure", NULL);
}
END_TEST

START_TEST(auth_temporary)
{
	auth_case(EHLO_FULL, "454 4.7.0 Temporary authentication failure", false, KERR_TEMP,
	    "AUTH PLAIN as user refused: 454 4.7.0 Temporary authentication failure", NULL);
}
END_TEST

START_TEST(auth_login_only)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct smtp_script s = { .ctx = ctx, .greeting = "220 fake", .ehlo_plain = "fake\nAUTH LOGIN",
	    .auth_reply = "235 ok" };
	struct fake *f = fake_start(srv_smtp, &s, ctx);
	struct conf_endpoint ep = endpoint(fake_port(f), CONF_TLS_IMPLICIT);
	struct tls_opts o = opts(5);
	struct kerr err = KERR_INIT;
	struct smtpc *sm = smtpc_connect(&ep, &o, &err);

	ck_assert_msg(sm != NULL, "%s", err.msg);
	ck_assert_msg(smtpc_auth(sm, "user", "pass", &err), "%s", err.msg);
	smtpc_free(&sm);
	free(fake_finish(&f));
	ck_assert_str_eq(s.auth_line, "AUTH LOGIN");
	ck_assert_str_eq(s.auth_user, "dXNlcg==");
	ck_assert_str_eq(s.auth_pass, "cGFzcw==");
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(auth_none_offered)
{
	auth_case("fake\nAUTH CRAM-MD5 GSSAPI", "235 ok", false, KERR_CONFIG,
	    "AUTH: the server offers no mechanism kyso supports (PLAIN, LOGIN)", NULL);
}
END_TEST

/* Implicit TLS, AUTH done; then smtpc_send with the script's replies. */
struct send_case {
	const char *ehlo;
	const char *rcpt_reply[4];
	const char *data_reply;
	const char *msg;          /* NULL: tricky_message */
	size_t n_rcpts;
	bool want_ok;
	enum kerr_class cls;
	const char *want_tail;    /* after "smtp localhost:PORT: " */
	bool want_no_mail;        /* refused before MAIL FROM */
	bool want_rset;
};

static void
send_case(const struct send_case *c)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct smtp_script s = { .ctx = ctx, .greeting = "220 fake", .ehlo_plain = c->ehlo,
	    .auth_reply = "235 ok", .data_reply = c->data_reply };
	struct fake *f;
	struct conf_endpoint ep;
	struct tls_opts o = opts(5);
	struct kerr err = KERR_INIT;
	const char *rcpts[] = { "a@longan.gov.vn", "b@longan.gov.vn", "c@longan.gov.vn" };
	struct smtpc_reply rr[3], done;
	size_t len = 0;
	char *msg = c->msg != NULL ? xstrdup(c->msg) : tricky_message(&len), *sent;
	char want[400];
	struct smtpc *sm;

	if (c->msg != NULL)
		len = strlen(msg);
	memcpy(s.rcpt_reply, c->rcpt_reply, sizeof(s.rcpt_reply));
	f = fake_start(srv_smtp, &s, ctx);
	ep = endpoint(fake_port(f), CONF_TLS_IMPLICIT);
	sm = smtpc_connect(&ep, &o, &err);
	ck_assert_msg(sm != NULL, "%s", err.msg);
	ck_assert_msg(smtpc_auth(sm, "user", "pass", &err), "%s", err.msg);
	if (c->want_ok) {
		ck_assert_msg(smtpc_send(sm, "x@benluc.longan.gov.vn", rcpts, c->n_rcpts, msg, len, rr,
		    &done, &err), "%s", err.msg);
	} else {
		ck_assert(!smtpc_send(sm, "x@benluc.longan.gov.vn", rcpts, c->n_rcpts, msg, len, rr,
		    &done, &err));
		snprintf(want, sizeof(want), "smtp localhost:%u: %s", fake_port(f), c->want_tail);
		ck_assert_str_eq(err.msg, want);
		ck_assert_int_eq(err.cls, c->cls);
		if (c->want_rset) {
			/* the session goes on: the next message is sent */
			memset(s.rcpt_reply, 0, sizeof(s.rcpt_reply));
			s.data_reply = NULL;
			ck_assert_msg(smtpc_send(sm, "x@benluc.longan.gov.vn", rcpts, 1, "a\r\n", 3, NULL,
			    NULL, &err), "%s", err.msg);
		}
	}
	smtpc_quit(sm, &err);
	smtpc_free(&sm);
	sent = fake_finish(&f);
	if (c->want_no_mail)
		ck_assert_msg(strstr(sent, "MAIL FROM") == NULL, "%s", sent);
	if (c->want_rset) {
		ck_assert_msg(strstr(sent, "\r\nRSET\r\n") != NULL, "%s", sent);
		ck_assert_msg(strstr(sent, "RSET\r\nMAIL FROM") != NULL, "%s", sent);  /* no DATA before */
	}
	free(sent);
	free(msg);
	buf_release(&s.data);
	SSL_CTX_free(ctx);
}

START_TEST(size_refused_before_mail)
{
	struct send_case c = { .ehlo = "fake\nSIZE 100\nAUTH PLAIN", .n_rcpts = 1, .cls = KERR_PERM,
	    .want_no_mail = true };
	size_t len;
	char *msg = tricky_message(&len);
	char tail[200];

	snprintf(tail, sizeof(tail), "the message is %zu bytes; the server accepts at most 100 (SIZE)",
	    len);
	c.want_tail = tail;
	send_case(&c);
	free(msg);
}
END_TEST

START_TEST(rcpt_refused_all_or_nothing)
{
	struct send_case c = { .ehlo = EHLO_FULL, .n_rcpts = 3,
	    .rcpt_reply = { NULL, "550 5.1.1 <b@longan.gov.vn>: Recipient address rejected: "
	    "User unknown", "450 4.2.0 <c@longan.gov.vn>: greylisted" },
	    .cls = KERR_PERM, .want_rset = true,
	    .want_tail = "RCPT TO:<b@longan.gov.vn> refused: 550 5.1.1 <b@longan.gov.vn>: Recipient "
	    "address rejected: User unknown (2 of 3 recipients refused; nothing sent)" };

	send_case(&c);
}
END_TEST

START_TEST(rcpt_temporary)
{
	struct send_case c = { .ehlo = EHLO_FULL, .n_rcpts = 1,
	    .rcpt_reply = { "451 4.3.0 Try again later" }, .cls = KERR_TEMP, .want_rset = true,
	    .want_tail = "RCPT TO:<a@longan.gov.vn> refused: 451 4.3.0 Try again later (1 of 1 "
	    "recipients refused; nothing sent)" };

	send_case(&c);
}
END_TEST

START_TEST(data_refused)
{
	struct send_case c = { .ehlo = EHLO_FULL, .n_rcpts = 1,
	    .data_reply = "552 5.3.4 Message too big for system", .cls = KERR_PERM,
	    .want_tail = "end of DATA: the server replied 552 5.3.4 Message too big for system" };

	send_case(&c);
}
END_TEST

START_TEST(bad_addresses_and_messages)
{
	static const struct send_case cases[] = {
		{ .ehlo = EHLO_FULL, .n_rcpts = 1, .msg = "no final CRLF", .cls = KERR_PERM,
		  .want_no_mail = true,
		  .want_tail = "the message cannot be sent unchanged: it does not end with CRLF" },
		{ .ehlo = EHLO_FULL, .n_rcpts = 0, .msg = "a\r\n", .cls = KERR_PERM, .want_no_mail = true,
		  .want_tail = "no recipients" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		send_case(&cases[i]);
}
END_TEST

START_TEST(address_injection_refused)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct smtp_script s = { .ctx = ctx, .greeting = "220 fake", .ehlo_plain = EHLO_FULL,
	    .auth_reply = "235 ok" };
	struct fake *f = fake_start(srv_smtp, &s, ctx);
	struct conf_endpoint ep = endpoint(fake_port(f), CONF_TLS_IMPLICIT);
	struct tls_opts o = opts(5);
	struct kerr err = KERR_INIT;
	const char *evil[] = { "a@b>\r\nRCPT TO:<c@d", "a b@c", "<a@b>", "nobody", "", "a@b\xc3\xa9" };
	struct smtpc *sm = smtpc_connect(&ep, &o, &err);
	char *sent;

	ck_assert_msg(sm != NULL, "%s", err.msg);
	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		const char *one[] = { evil[i] };

		ck_assert(!smtpc_send(sm, "x@y.z", one, 1, "a\r\n", 3, NULL, NULL, &err));
		ck_assert_int_eq(err.cls, KERR_PERM);
		ck_assert_msg(strstr(err.msg, "invalid recipient address") != NULL, "%s", err.msg);
		if (i < 4) {
			ck_assert(!smtpc_send(sm, evil[i], (const char *[]){ "x@y.z" }, 1, "a\r\n", 3,
			    NULL, NULL, &err));
			ck_assert_msg(strstr(err.msg, "invalid sender address") != NULL, "%s", err.msg);
		}
	}
	smtpc_free(&sm);
	sent = fake_finish(&f);
	ck_assert_msg(strstr(sent, "MAIL") == NULL && strstr(sent, "RCPT") == NULL, "%s", sent);
	free(sent);
	SSL_CTX_free(ctx);
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("smtpc");
	TCase *tc = tcase_create("check");
	TCase *net = tcase_create("session");

	tcase_add_loop_test(tc, message_check_table, 0, (int)(sizeof(checks) / sizeof(checks[0])));
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(net, setup, teardown);  /* one PKI, made in the parent */
	tcase_set_timeout(net, 30);
	tcase_add_test(net, no_starttls_refused_before_auth);
	tcase_add_test(net, silent_server_times_out);
	tcase_add_test(net, greeting_554);
	tcase_add_test(net, starttls_auth_send_exact);
	tcase_add_test(net, auth_refused);
	tcase_add_test(net, auth_temporary);
	tcase_add_test(net, auth_login_only);
	tcase_add_test(net, auth_none_offered);
	tcase_add_test(net, size_refused_before_mail);
	tcase_add_test(net, rcpt_refused_all_or_nothing);
	tcase_add_test(net, rcpt_temporary);
	tcase_add_test(net, data_refused);
	tcase_add_test(net, bad_addresses_and_messages);
	tcase_add_test(net, address_injection_refused);
	suite_add_tcase(s, net);
	return s;
}

KYSO_TEST_MAIN(make_suite)
