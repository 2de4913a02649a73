/*
 * smoke.c - end-to-end test of agent/tls.c, imapc.c and smtpc.c against the
 * real Dovecot + Postfix of tests/mailstack.  Run by tests/e2e/smoke.sh, which
 * starts the stack and exports DIR/stack.env into the environment.
 *
 * A message with Vietnamese UTF-8 headers and 8-bit body, dot-leading lines, a
 * 998-byte line and a base64 attachment is submitted over submission
 * (STARTTLS + AUTH) and over SMTPS, and read back over IMAPS, IMAP STARTTLS
 * and IMAP STARTTLS from 127.0.0.2 (where Dovecot announces LOGINDISABLED
 * before TLS); what was sent must arrive byte for byte, after the
 * Return-Path/Received lines the servers put on top.  Then every way a
 * connection must fail is tried, checking the message text and class.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "agent/imapc.h"
#include "agent/smtpc.h"
#include "tests/unit/agent/nettest.h"
#include "tests/unit/testmain.h"

#define FROM "vanthu@benluc.longan.gov.vn"
#define TO "ubnd@longan.gov.vn"
#define TIMEOUT_S 10
#define ARRIVAL_WAIT_MS 10000

/* ---- the stack ---- */

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		ck_abort_msg("%s is not set: run tests/e2e/smoke.sh, not this program", name);
	return v;
}

static uint16_t
env_port(const char *name)
{
	return (uint16_t)strtoul(env(name), NULL, 10);
}

static const char *
password_of(const char *addr)
{
	int n = atoi(env("USER_COUNT"));

	for (int i = 1; i <= n; i++) {
		char key[32];

		snprintf(key, sizeof(key), "USER%d", i);
		if (strcmp(env(key), addr) == 0) {
			snprintf(key, sizeof(key), "PASS%d", i);
			return env(key);
		}
	}
	ck_abort_msg("no account %s in the stack", addr);
	return NULL;
}

static struct conf_endpoint
ep(const char *host, const char *port_var, enum conf_tls tls)
{
	struct conf_endpoint e = { (char *)host, env_port(port_var), tls };

	return e;
}

static struct tls_opts
trusted(void)
{
	struct tls_opts o = { .ca_file = env("CA_FILE"), .verify = true, .timeout_s = TIMEOUT_S };

	return o;
}

/* ---- the message ---- */

/* A unique message, CRLF throughout.  Caller frees; *id_r gets the Message-ID. */
static char *
make_message(const char *tag, char *id_r, size_t idsize, size_t *len_r)
{
	unsigned char rnd[3000], idr[8];
	struct buf b = BUF_INIT;
	char date[64], line[1000];
	time_t now = time(NULL);
	size_t n = 0;

	RAND_bytes(idr, sizeof(idr));
	RAND_bytes(rnd, sizeof(rnd));
	snprintf(id_r, idsize, "<kyso-smoke-%s-%02x%02x%02x%02x%02x%02x%02x%02x@benluc.longan.gov.vn>",
	    tag, idr[0], idr[1], idr[2], idr[3], idr[4], idr[5], idr[6], idr[7]);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", gmtime(&now));
	buf_printf(&b, "From: V\xc4\x83n th\xc6\xb0 B\xe1\xba\xbfn L\xe1\xbb\xa9" "c <" FROM ">\r\n"
	    "To: UBND t\xe1\xbb\x89nh Long An <" TO ">\r\n"
	    "Subject: C\xc3\xb4ng v\xc4\x83n s\xe1\xbb\x91 123/UBND-VP v\xe1\xbb\x81 vi\xe1\xbb\x87" "c "
	    "k\xc3\xbd s\xe1\xbb\x91 (%s)\r\n"
	    "Date: %s\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"=_kyso_smoke\"\r\n\r\n"
	    "--=_kyso_smoke\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"
	    "K\xc3\xadnh g\xe1\xbb\xad" "i UBND t\xe1\xbb\x89nh Long An,\r\n"
	    ".D\xc3\xb2ng b\xe1\xba\xaft \xc4\x91\xe1\xba\xa7u b\xe1\xba\xb1ng d\xe1\xba\xa5u ch\xe1\xba\xa5m\r\n"
	    ".\r\n..\r\n \r\n\t\r\n", tag, date, id_r);
	/* a line of exactly 998 bytes, the RFC 5322 maximum: 332 x "ố" + "ab" */
	for (int i = 0; i < 332; i++) {
		memcpy(line + n, "\xe1\xbb\x91", 3);
		n += 3;
	}
	memcpy(line + n, "ab", 2);
	n += 2;
	buf_append(&b, line, n);
	buf_appends(&b, "\r\n\r\nTr\xc3\xa2n tr\xe1\xbb\x8dng.\r\n\r\n--=_kyso_smoke\r\n"
	    "Content-Type: application/pdf; name=\"van-ban.pdf\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename=\"van-ban.pdf\"\r\n\r\n");
	for (size_t off = 0; off < sizeof(rnd); off += 57) {
		unsigned char enc[80];
		size_t chunk = sizeof(rnd) - off < 57 ? sizeof(rnd) - off : 57;
		int m = EVP_EncodeBlock(enc, rnd + off, (int)chunk);

		buf_append(&b, enc, (size_t)m);
		buf_appends(&b, "\r\n");
	}
	buf_appends(&b, "--=_kyso_smoke--\r\n");
	*len_r = b.len;
	return buf_steal(&b, NULL);
}

/* got = header lines the servers added + exactly sent. */
static void
assert_arrived_unchanged(const struct buf *got, const char *sent, size_t len)
{
	size_t pre;

	ck_assert_msg(got->len >= len, "got %zu bytes, sent %zu", got->len, len);
	pre = got->len - len;
	ck_assert_msg(memcmp(got->data + pre, sent, len) == 0, "the message changed on its way");
	/* what was put in front is whole header lines: no blank line, CRLF at the end */
	ck_assert_msg(pre >= 2 && memcmp(got->data + pre - 2, "\r\n", 2) == 0, "prefix: %.*s",
	    (int)pre, got->data);
	ck_assert_msg(memmem(got->data, pre, "\r\n\r\n", 4) == NULL, "prefix: %.*s", (int)pre,
	    got->data);
	ck_assert_msg(strncmp(got->data, "Return-Path: ", 13) == 0 ||
	    strncmp(got->data, "Received: ", 10) == 0 || strncmp(got->data, "Delivered-To: ", 14) == 0,
	    "prefix: %.*s", (int)pre, got->data);
}

static void
submit(const char *port_var, enum conf_tls tls, const char *msg, size_t len)
{
	struct conf_endpoint e = ep(env("SMTP_HOST"), port_var, tls);
	struct tls_opts o = trusted();
	struct kerr err = KERR_INIT;
	const char *rcpts[] = { TO };
	struct smtpc_reply rr[1], done;
	struct smtpc *sm = smtpc_connect(&e, &o, &err);

	ck_assert_msg(sm != NULL, "%s", err.msg);
	ck_assert_msg(smtpc_auth(sm, FROM, password_of(FROM), &err), "%s", err.msg);
	ck_assert_msg(smtpc_send(sm, FROM, rcpts, 1, msg, len, rr, &done, &err), "%s", err.msg);
	ck_assert_int_eq(rr[0].code, 250);
	ck_assert_int_eq(done.code, 250);
	ck_assert_msg(strstr(done.text, "queued as") != NULL, "%s", done.text);
	ck_assert(smtpc_quit(sm, &err));
	smtpc_free(&sm);
}

/* Log in to TO's mailbox over host/port and wait (bounded) for message id. */
static void
read_back(const char *host, const char *port_var, enum conf_tls tls, const char *id,
    const char *sent, size_t len)
{
	struct conf_endpoint e = ep(host, port_var, tls);
	struct tls_opts o = trusted();
	struct kerr err = KERR_INIT;
	struct imapc_query q = { .header = "Message-ID", .value = id };
	struct imapc_uids uids = IMAPC_UIDS_INIT;
	struct imapc_mailbox mb;
	struct buf got = BUF_INIT;
	int64_t deadline = test_now_ms() + ARRIVAL_WAIT_MS;
	struct imapc *im = imapc_connect(&e, &o, &err);

	ck_assert_msg(im != NULL, "%s", err.msg);
	ck_assert(!imapc_has_capability(im, "LOGINDISABLED"));
	ck_assert_msg(imapc_login(im, TO, password_of(TO), &err), "%s", err.msg);
	for (;;) {
		ck_assert_msg(imapc_select(im, "INBOX", true, &mb, &err), "%s", err.msg);
		ck_assert_uint_ne(mb.uidvalidity, 0);
		ck_assert_msg(imapc_search(im, &q, &uids, &err), "%s", err.msg);
		if (uids.n > 0 || test_now_ms() > deadline)
			break;
		usleep(100 * 1000);
	}
	ck_assert_msg(uids.n == 1, "message %s not delivered within %d ms (%zu found)", id,
	    ARRIVAL_WAIT_MS, uids.n);
	ck_assert_msg(imapc_fetch_uid(im, uids.uids[0], &got, &err), "%s", err.msg);
	assert_arrived_unchanged(&got, sent, len);
	ck_assert_msg(imapc_logout(im, &err), "%s", err.msg);
	imapc_free(&im);
	imapc_uids_release(&uids);
	buf_release(&got);
}

static void
round_trip(const char *tag, const char *port_var, enum conf_tls tls)
{
	char id[128];
	size_t len;
	char *msg = make_message(tag, id, sizeof(id), &len);

	submit(port_var, tls, msg, len);
	read_back(env("IMAP_HOST"), "IMAPS_PORT", CONF_TLS_IMPLICIT, id, msg, len);
	read_back(env("IMAP_HOST"), "IMAP_PORT", CONF_TLS_STARTTLS, id, msg, len);
	read_back(env("CLEARTEXT_ADDR"), "IMAP_PORT", CONF_TLS_STARTTLS, id, msg, len);
	free(msg);
}

START_TEST(submission_starttls_round_trip)
{
	round_trip("submission", "SUBMISSION_PORT", CONF_TLS_STARTTLS);
}
END_TEST

START_TEST(smtps_round_trip)
{
	round_trip("smtps", "SMTPS_PORT", CONF_TLS_IMPLICIT);
}
END_TEST

/* The signed copy goes to \Sent: find it by special use, APPEND, read it back. */
START_TEST(append_to_sent)
{
	struct conf_endpoint e = ep(env("IMAP_HOST"), "IMAPS_PORT", CONF_TLS_IMPLICIT);
	struct tls_opts o = trusted();
	struct kerr err = KERR_INIT;
	struct imapc_folders fs = IMAPC_FOLDERS_INIT;
	struct imapc_mailbox mb;
	struct buf got = BUF_INIT;
	const char *flags[] = { "\\Seen", "$KysoSigned" };
	const struct imapc_folder *sent;
	uint32_t uid = 0;
	char id[128];
	size_t len;
	char *msg = make_message("append", id, sizeof(id), &len);
	struct imapc *im = imapc_connect(&e, &o, &err);

	ck_assert_msg(im != NULL, "%s", err.msg);
	ck_assert_msg(imapc_login(im, FROM, password_of(FROM), &err), "%s", err.msg);
	ck_assert_msg(imapc_list(im, &fs, &err), "%s", err.msg);
	sent = imapc_folders_find_use(&fs, IMAPC_USE_SENT);
	ck_assert_msg(sent != NULL, "no \\Sent folder among %zu", fs.n);
	ck_assert_ptr_nonnull(imapc_folders_find_use(&fs, IMAPC_USE_DRAFTS));
	ck_assert(imapc_has_capability(im, "UIDPLUS"));
	ck_assert_msg(imapc_append(im, sent->name, flags, 2, msg, len, &uid, &err), "%s", err.msg);
	ck_assert_uint_ne(uid, 0);
	ck_assert_msg(imapc_select(im, sent->name, false, &mb, &err), "%s", err.msg);
	ck_assert(!mb.readonly);
	ck_assert_msg(imapc_fetch_uid(im, uid, &got, &err), "%s", err.msg);
	ck_assert_uint_eq(got.len, len);   /* APPEND stores exactly what was given */
	ck_assert(memcmp(got.data, msg, len) == 0);
	/* a folder that does not exist: the operator's problem, with the server's words */
	ck_assert(!imapc_select(im, "Ký số không có", true, &mb, &err));
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	ck_assert_msg(strstr(err.msg, "EXAMINE \"Ký số không có\": the server answered NO: "
	    "Mailbox doesn't exist: ") != NULL, "%s", err.msg);
	ck_assert(imapc_logout(im, &err));
	imapc_free(&im);
	imapc_folders_release(&fs);
	buf_release(&got);
	free(msg);
}
END_TEST

/* ---- refusals ---- */

enum proto { IMAP, SMTP };

static const struct {
	enum proto proto;
	const char *port_var;
	enum conf_tls tls;
} endpoints[] = {
	{ IMAP, "IMAPS_PORT", CONF_TLS_IMPLICIT },
	{ IMAP, "IMAP_PORT", CONF_TLS_STARTTLS },
	{ SMTP, "SMTPS_PORT", CONF_TLS_IMPLICIT },
	{ SMTP, "SUBMISSION_PORT", CONF_TLS_STARTTLS },
};

/* Connect to endpoints[i] (host, opts); must fail with cls and exactly want_tail. */
static void
refused(int i, const char *host, const struct tls_opts *o, enum kerr_class cls,
    const char *want_tail)
{
	struct conf_endpoint e = ep(host, endpoints[i].port_var, endpoints[i].tls);
	struct kerr err = KERR_INIT;
	char want[700];

	if (endpoints[i].proto == IMAP)
		ck_assert_ptr_null(imapc_connect(&e, o, &err));
	else
		ck_assert_ptr_null(smtpc_connect(&e, o, &err));
	snprintf(want, sizeof(want), "%s %s:%u: %s", endpoints[i].proto == IMAP ? "imap" : "smtp",
	    host, e.port, want_tail);
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(err.cls, cls);
}

START_TEST(untrusted_ca)
{
	struct tls_opts o = trusted();
	char tail[400];

	o.ca_file = env("OTHER_CA_FILE");
	snprintf(tail, sizeof(tail), "TLS certificate verify failed: unable to get local issuer "
	    "certificate (CA file %s)", o.ca_file);
	refused(_i, env("IMAP_HOST"), &o, KERR_CONFIG, tail);
}
END_TEST

START_TEST(host_name_mismatch)
{
	struct tls_opts o = trusted();

	o.tls_name = "mail.example.org";
	refused(_i, "localhost", &o, KERR_CONFIG,
	    "TLS certificate verify failed: host name mismatch: certificate is not for mail.example.org");
	o.tls_name = "127.0.0.3";
	refused(_i, "127.0.0.1", &o, KERR_CONFIG,
	    "TLS certificate verify failed: host name mismatch: certificate is not for 127.0.0.3");
}
END_TEST

START_TEST(connection_refused)
{
	struct tls_opts o = trusted();
	uint16_t port = closed_port();
	struct conf_endpoint e = { (char *)"127.0.0.1", port, endpoints[_i].tls };
	struct kerr err = KERR_INIT;
	char want[200];

	if (endpoints[_i].proto == IMAP)
		ck_assert_ptr_null(imapc_connect(&e, &o, &err));
	else
		ck_assert_ptr_null(smtpc_connect(&e, &o, &err));
	snprintf(want, sizeof(want), "%s 127.0.0.1:%u: connect: Connection refused",
	    endpoints[_i].proto == IMAP ? "imap" : "smtp", port);
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(err.cls, KERR_TEMP);
}
END_TEST

START_TEST(verify_off_connects)
{
	struct tls_opts o = trusted();
	struct conf_endpoint e = ep(env("IMAP_HOST"), "IMAPS_PORT", CONF_TLS_IMPLICIT);
	struct kerr err = KERR_INIT;
	struct imapc *im;

	o.ca_file = env("OTHER_CA_FILE");
	o.verify = false;
	im = imapc_connect(&e, &o, &err);
	ck_assert_msg(im != NULL, "%s", err.msg);
	ck_assert_msg(imapc_login(im, TO, password_of(TO), &err), "%s", err.msg);
	imapc_free(&im);
}
END_TEST

START_TEST(imap_wrong_password)
{
	struct conf_endpoint e = ep(env("IMAP_HOST"), "IMAPS_PORT", CONF_TLS_IMPLICIT);
	struct tls_opts o = trusted();
	struct kerr err = KERR_INIT;
	struct imapc *im = imapc_connect(&e, &o, &err);
	char want[300];

	ck_assert_msg(im != NULL, "%s", err.msg);
	ck_assert(!imapc_login(im, TO, "not-the-password", &err));
	snprintf(want, sizeof(want), "imap %s:%u: login as " TO ": the server answered NO: "
	    "[AUTHENTICATIONFAILED] ", env("IMAP_HOST"), e.port);
	ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	ck_assert(strstr(err.msg, "not-the-password") == NULL);
	imapc_free(&im);
}
END_TEST

START_TEST(smtp_wrong_password)
{
	struct conf_endpoint e = ep(env("SMTP_HOST"), "SUBMISSION_PORT", CONF_TLS_STARTTLS);
	struct tls_opts o = trusted();
	struct kerr err = KERR_INIT;
	struct smtpc *sm = smtpc_connect(&e, &o, &err);
	char want[300];

	ck_assert_msg(sm != NULL, "%s", err.msg);
	ck_assert(!smtpc_auth(sm, FROM, "not-the-password", &err));
	snprintf(want, sizeof(want), "smtp %s:%u: AUTH PLAIN as " FROM " refused: 535 5.7.8 ",
	    env("SMTP_HOST"), e.port);
	ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	smtpc_free(&sm);
}
END_TEST

START_TEST(smtp_refusals)
{
	struct conf_endpoint e = ep(env("SMTP_HOST"), "SUBMISSION_PORT", CONF_TLS_STARTTLS);
	struct tls_opts o = trusted();
	struct kerr err = KERR_INIT;
	const char *nobody[] = { TO, "khongco@longan.gov.vn" };
	struct smtpc_reply rr[2];
	size_t limit = strtoul(env("MESSAGE_SIZE_LIMIT"), NULL, 10), len;
	char id[128], want[300];
	char *msg = make_message("refusals", id, sizeof(id), &len), *big;
	struct smtpc *sm = smtpc_connect(&e, &o, &err);

	ck_assert_msg(sm != NULL, "%s", err.msg);
	ck_assert_msg(smtpc_auth(sm, FROM, password_of(FROM), &err), "%s", err.msg);
	ck_assert_uint_eq(smtpc_max_size(sm), limit);

	/* an unknown recipient: nothing is sent, the reply says who */
	ck_assert(!smtpc_send(sm, FROM, nobody, 2, msg, len, rr, NULL, &err));
	ck_assert_int_eq(err.cls, KERR_PERM);
	ck_assert_int_eq(rr[0].code, 250);
	ck_assert_int_eq(rr[1].code, 550);
	ck_assert_msg(strstr(err.msg, "RCPT TO:<khongco@longan.gov.vn> refused: 550 ") != NULL, "%s",
	    err.msg);
	ck_assert_msg(strstr(err.msg, "(1 of 2 recipients refused; nothing sent)") != NULL, "%s",
	    err.msg);

	/* too big for the server's SIZE: refused before MAIL FROM */
	big = xmalloc(limit + 3);
	memset(big, 'a', limit + 1);
	for (size_t i = 900; i < limit; i += 900)
		memcpy(big + i - 2, "\r\n", 2);
	memcpy(big + limit + 1, "\r\n", 2);
	ck_assert(!smtpc_send(sm, FROM, nobody, 1, big, limit + 3, NULL, NULL, &err));
	snprintf(want, sizeof(want), "smtp %s:%u: the message is %zu bytes; the server accepts at "
	    "most %zu (SIZE)", env("SMTP_HOST"), e.port, limit + 3, limit);
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(err.cls, KERR_PERM);

	/* the session is still good */
	ck_assert_msg(smtpc_send(sm, FROM, nobody, 1, msg, len, NULL, NULL, &err), "%s", err.msg);
	ck_assert(smtpc_quit(sm, &err));
	smtpc_free(&sm);
	free(big);
	free(msg);
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("e2e-smoke");
	TCase *rt = tcase_create("round-trip");
	TCase *no = tcase_create("refusals");
	int n_ep = (int)(sizeof(endpoints) / sizeof(endpoints[0]));

	tcase_set_timeout(rt, 60);
	tcase_add_test(rt, submission_starttls_round_trip);
	tcase_add_test(rt, smtps_round_trip);
	tcase_add_test(rt, append_to_sent);
	suite_add_tcase(s, rt);

	tcase_set_timeout(no, 60);
	tcase_add_loop_test(no, untrusted_ca, 0, n_ep);
	tcase_add_loop_test(no, host_name_mismatch, 0, n_ep);
	tcase_add_loop_test(no, connection_refused, 0, n_ep);
	tcase_add_test(no, verify_off_connects);
	tcase_add_test(no, imap_wrong_password);
	tcase_add_test(no, smtp_wrong_password);
	tcase_add_test(no, smtp_refusals);
	suite_add_tcase(s, no);
	return s;
}

KYSO_TEST_MAIN(make_suite)
