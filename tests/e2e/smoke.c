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
 * Last, what the agent needs of imapc against the real Dovecot: nested UTF-8
 * folders, keywords, MOVE, delete, and IDLE woken by another session (the
 * wake latency is printed as a TAP comment).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* ---- what the agent needs of imapc ---- */

#define AGENT_USER "test1@longan.gov.vn"

static struct imapc *
agent_session(const char *user)
{
	struct conf_endpoint e = ep(env("IMAP_HOST"), "IMAPS_PORT", CONF_TLS_IMPLICIT);
	struct tls_opts o = trusted();
	struct kerr err = KERR_INIT;
	struct imapc *im = imapc_connect(&e, &o, &err);

	ck_assert_msg(im != NULL, "%s", err.msg);
	ck_assert_msg(imapc_login(im, user, password_of(user), &err), "%s", err.msg);
	return im;
}

static bool
listed(const struct imapc_folders *fs, const char *name)
{
	for (size_t i = 0; i < fs->n; i++)
		if (strcmp(fs->f[i].name, name) == 0)
			return true;
	return false;
}

static bool
has_flag(const struct imapc_msgflags *m, const char *flag)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->flags[i], flag) == 0)
			return true;
	return false;
}

/* The flags of uid, which must be there. */
static void
flags_of(struct imapc *im, uint32_t uid, struct imapc_flaglist *fl)
{
	struct kerr err = KERR_INIT;

	ck_assert_msg(imapc_fetch_flags(im, uid, uid, fl, &err), "%s", err.msg);
	ck_assert_uint_eq(fl->n, 1);
	ck_assert_uint_eq(fl->m[0].uid, uid);
}

/* The UIDs of the messages with Message-ID id in folder (selected read-write). */
static size_t
find_id(struct imapc *im, const char *folder, const char *id, uint32_t *uid_r)
{
	struct kerr err = KERR_INIT;
	struct imapc_mailbox mb;
	struct imapc_query q = { .header = "Message-ID", .value = id };
	struct imapc_uids uids = IMAPC_UIDS_INIT;
	size_t n;

	ck_assert_msg(imapc_select(im, folder, false, &mb, &err), "%s", err.msg);
	ck_assert_msg(imapc_search(im, &q, &uids, &err), "%s", err.msg);
	n = uids.n;
	if (uid_r != NULL)
		*uid_r = n > 0 ? uids.uids[0] : 0;
	imapc_uids_release(&uids);
	return n;
}

START_TEST(create_nested_utf8)
{
	struct imapc *im = agent_session(AGENT_USER);
	struct kerr err = KERR_INIT;
	struct imapc_folders fs = IMAPC_FOLDERS_INIT;
	struct imapc_mailbox mb;
	uint32_t uid = 0;
	char id[128];
	size_t len;
	char *msg = make_message("create", id, sizeof(id), &len);

	ck_assert_msg(imapc_create(im, "Ký số/Lỗi", &err), "%s", err.msg);
	ck_assert_msg(imapc_list(im, &fs, &err), "%s", err.msg);
	ck_assert_msg(listed(&fs, "Ký số"), "the parent is not listed");
	ck_assert_msg(listed(&fs, "Ký số/Lỗi"), "the folder is not listed");
	/* again: it exists, which is success (Dovecot answers NO [ALREADYEXISTS]) */
	ck_assert_msg(imapc_create(im, "Ký số/Lỗi", &err), "%s", err.msg);
	ck_assert_msg(imapc_create(im, "Ký số", &err), "%s", err.msg);
	ck_assert_msg(imapc_create(im, "INBOX", &err), "%s", err.msg);
	/* usable: select it and file a message there */
	ck_assert_msg(imapc_select(im, "Ký số/Lỗi", false, &mb, &err), "%s", err.msg);
	ck_assert_msg(imapc_append(im, "Ký số/Lỗi", NULL, 0, msg, len, &uid, &err), "%s", err.msg);
	ck_assert_uint_eq(find_id(im, "Ký số/Lỗi", id, NULL), 1);
	/* what the server refuses is the operator's problem, with its words */
	ck_assert(!imapc_create(im, "Ký số//Lỗi", &err));
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	ck_assert(!imapc_create(im, "K\xff", &err));
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	ck_assert(imapc_logout(im, &err));
	imapc_free(&im);
	imapc_folders_release(&fs);
	free(msg);
}
END_TEST

START_TEST(keywords_stored_and_removed)
{
	struct imapc *im = agent_session(AGENT_USER);
	struct kerr err = KERR_INIT;
	struct imapc_flaglist fl = IMAPC_FLAGLIST_INIT;
	struct imapc_mailbox mb;
	struct buf got = BUF_INIT;
	const char *kw[] = { "KySo_HopLe" }, *two[] = { "$KysoValid", "\\Flagged" };
	const char *bad[] = { "KySo HopLe" }, *inject[] = { "x)\r\nA1 DELETE INBOX\r\n" };
	uint32_t uid = 0;
	char id[128];
	size_t len;
	char *msg = make_message("keywords", id, sizeof(id), &len);

	ck_assert_msg(imapc_create(im, "Kiểm tra cờ", &err), "%s", err.msg);
	ck_assert_msg(imapc_append(im, "Kiểm tra cờ", NULL, 0, msg, len, &uid, &err), "%s", err.msg);
	ck_assert_uint_ne(uid, 0);
	ck_assert_msg(imapc_select(im, "Kiểm tra cờ", false, &mb, &err), "%s", err.msg);
	ck_assert(imapc_keywords_allowed(im));          /* Dovecot: PERMANENTFLAGS (... \*) */
	ck_assert(imapc_keyword_allowed(im, "KySo_HopLe"));

	/* reading the message does not mark it read */
	flags_of(im, uid, &fl);
	ck_assert(!has_flag(&fl.m[0], "\\Seen"));
	ck_assert_msg(imapc_fetch_uid(im, uid, &got, &err), "%s", err.msg);
	ck_assert_uint_eq(got.len, len);
	flags_of(im, uid, &fl);
	ck_assert(!has_flag(&fl.m[0], "\\Seen"));

	ck_assert_msg(imapc_store_flags(im, uid, true, kw, 1, &err), "%s", err.msg);
	flags_of(im, uid, &fl);
	ck_assert(has_flag(&fl.m[0], "KySo_HopLe"));
	ck_assert(!has_flag(&fl.m[0], "\\Seen"));
	ck_assert_msg(imapc_store_flags(im, uid, true, two, 2, &err), "%s", err.msg);
	flags_of(im, uid, &fl);
	ck_assert(has_flag(&fl.m[0], "KySo_HopLe"));
	ck_assert(has_flag(&fl.m[0], "$KysoValid"));
	ck_assert(has_flag(&fl.m[0], "\\Flagged"));
	ck_assert_msg(imapc_store_flags(im, uid, false, kw, 1, &err), "%s", err.msg);
	flags_of(im, uid, &fl);
	ck_assert(!has_flag(&fl.m[0], "KySo_HopLe"));
	ck_assert(has_flag(&fl.m[0], "$KysoValid"));
	ck_assert(!has_flag(&fl.m[0], "\\Seen"));
	ck_assert_msg(imapc_store_flags(im, uid, true, NULL, 0, &err), "%s", err.msg);

	/* refused before anything is sent; the session goes on */
	ck_assert(!imapc_store_flags(im, uid, true, bad, 1, &err));
	ck_assert_int_eq(err.cls, KERR_PERM);
	ck_assert(!imapc_store_flags(im, uid, true, inject, 1, &err));
	ck_assert_int_eq(err.cls, KERR_PERM);
	ck_assert_msg(strstr(err.msg, "\r") == NULL && strstr(err.msg, "\n") == NULL, "%s", err.msg);
	ck_assert_uint_eq(find_id(im, "INBOX", "<none>", NULL), 0);   /* INBOX still there */

	/* the range form: everything from uid on */
	ck_assert_msg(imapc_select(im, "Kiểm tra cờ", false, &mb, &err), "%s", err.msg);
	ck_assert_msg(imapc_fetch_flags(im, uid, 0, &fl, &err), "%s", err.msg);
	ck_assert_uint_eq(fl.n, 1);
	ck_assert_msg(imapc_fetch_flags(im, uid + 1, 0, &fl, &err), "%s", err.msg);
	ck_assert_uint_eq(fl.n, 0);                      /* "n:*" answers the last one: dropped */
	ck_assert(imapc_logout(im, &err));
	imapc_free(&im);
	imapc_flaglist_release(&fl);
	buf_release(&got);
	free(msg);
}
END_TEST

START_TEST(move_and_delete)
{
	struct imapc *im = agent_session(AGENT_USER);
	struct kerr err = KERR_INIT;
	struct imapc_mailbox mb, now;
	struct buf got = BUF_INIT;
	uint32_t uid = 0, moved = 0, uid2 = 0;
	char id[128], id2[128];
	size_t len, len2;
	char *msg = make_message("move", id, sizeof(id), &len);
	char *msg2 = make_message("delete", id2, sizeof(id2), &len2);

	ck_assert(imapc_has_capability(im, "MOVE"));
	ck_assert_msg(imapc_create(im, "Chuyển/Nguồn", &err), "%s", err.msg);
	ck_assert_msg(imapc_create(im, "Chuyển/Đích", &err), "%s", err.msg);
	ck_assert_msg(imapc_append(im, "Chuyển/Nguồn", NULL, 0, msg, len, &uid, &err), "%s", err.msg);
	ck_assert_msg(imapc_select(im, "Chuyển/Nguồn", false, &mb, &err), "%s", err.msg);
	ck_assert_uint_eq(mb.exists, 1);
	ck_assert_msg(imapc_move_uid(im, uid, "Chuyển/Đích", &err), "%s", err.msg);
	imapc_selected(im, &now);
	ck_assert_uint_eq(now.exists, 0);
	ck_assert_uint_eq(find_id(im, "Chuyển/Nguồn", id, NULL), 0);
	ck_assert_uint_eq(find_id(im, "Chuyển/Đích", id, &moved), 1);
	ck_assert_msg(imapc_fetch_uid(im, moved, &got, &err), "%s", err.msg);
	ck_assert_uint_eq(got.len, len);
	ck_assert(memcmp(got.data, msg, len) == 0);

	/* the UID is gone from the source: refused, per message */
	ck_assert_msg(imapc_select(im, "Chuyển/Nguồn", false, &mb, &err), "%s", err.msg);
	ck_assert(!imapc_move_uid(im, uid, "Chuyển/Đích", &err));
	ck_assert_int_eq(err.cls, KERR_PERM);
	/* a destination that does not exist */
	ck_assert_msg(imapc_select(im, "Chuyển/Đích", false, &mb, &err), "%s", err.msg);
	ck_assert(!imapc_move_uid(im, moved, "Không có/Thư mục", &err));
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	ck_assert_msg(strstr(err.msg, "[TRYCREATE]") != NULL, "%s", err.msg);

	/* delete */
	ck_assert_msg(imapc_append(im, "Chuyển/Đích", NULL, 0, msg2, len2, &uid2, &err), "%s", err.msg);
	ck_assert_msg(imapc_select(im, "Chuyển/Đích", false, &mb, &err), "%s", err.msg);
	ck_assert_uint_eq(mb.exists, 2);
	ck_assert_msg(imapc_delete_uid(im, uid2, &err), "%s", err.msg);
	imapc_selected(im, &now);
	ck_assert_uint_eq(now.exists, 1);
	ck_assert_uint_eq(find_id(im, "Chuyển/Đích", id2, NULL), 0);
	ck_assert_uint_eq(find_id(im, "Chuyển/Đích", id, NULL), 1);    /* the other one stays */
	ck_assert_msg(imapc_delete_uid(im, uid2, &err), "%s", err.msg); /* already gone: fine */
	ck_assert_msg(imapc_noop(im, &err), "%s", err.msg);
	ck_assert(imapc_logout(im, &err));
	imapc_free(&im);
	buf_release(&got);
	free(msg);
	free(msg2);
}
END_TEST

struct idler {
	struct imapc *im;
	int timeout_s;
	bool ok, changed;
	struct kerr err;
	int64_t returned_ms;
};

static void *
idle_thread(void *arg)
{
	struct idler *d = arg;

	d->ok = imapc_idle(d->im, d->timeout_s, &d->changed, &d->err);
	d->returned_ms = test_now_ms();
	return NULL;
}

START_TEST(idle_wakes_on_append)
{
	struct imapc *watcher = agent_session("test2@longan.gov.vn");
	struct imapc *writer = agent_session("test2@longan.gov.vn");
	struct kerr err = KERR_INIT;
	struct imapc_mailbox mb, after;
	struct idler d = { .im = watcher, .timeout_s = 20, .err = KERR_INIT };
	pthread_t t;
	int64_t t0, appended;
	uint32_t uid = 0;
	char id[128];
	size_t len;
	char *msg = make_message("idle", id, sizeof(id), &len);

	ck_assert(imapc_has_capability(watcher, "IDLE"));
	ck_assert_msg(imapc_create(writer, "Theo dõi", &err), "%s", err.msg);
	ck_assert_msg(imapc_select(watcher, "Theo dõi", true, &mb, &err), "%s", err.msg);

	/* nothing happens: the wait ends at the timeout, with DONE, and the session goes on */
	t0 = test_now_ms();
	d.timeout_s = 1;
	ck_assert_msg(imapc_idle(watcher, 1, &d.changed, &err), "%s", err.msg);
	ck_assert(!d.changed);
	ck_assert_msg(test_now_ms() - t0 >= 900 && test_now_ms() - t0 < 3000, "%lld ms",
	    (long long)(test_now_ms() - t0));
	ck_assert_msg(imapc_noop(watcher, &err), "%s", err.msg);

	d.timeout_s = 20;
	ck_assert_int_eq(pthread_create(&t, NULL, idle_thread, &d), 0);
	usleep(500 * 1000);   /* let IDLE begin (if not, Dovecot reports the news at once) */
	ck_assert_msg(imapc_append(writer, "Theo dõi", NULL, 0, msg, len, &uid, &err), "%s", err.msg);
	appended = test_now_ms();
	pthread_join(t, NULL);
	ck_assert_msg(d.ok, "%s", d.err.msg);
	ck_assert(d.changed);
	imapc_selected(watcher, &after);
	ck_assert_uint_eq(after.exists, mb.exists + 1);
	ck_assert_uint_eq(after.uidvalidity, mb.uidvalidity);
	ck_assert_msg(d.returned_ms - appended < 10000, "IDLE woke %lld ms after the APPEND",
	    (long long)(d.returned_ms - appended));
	printf("# IDLE woke %lld ms after the other session's APPEND returned\n",
	    (long long)(d.returned_ms - appended));
	fflush(stdout);
	ck_assert_msg(imapc_noop(watcher, &err), "%s", err.msg);   /* still in step */
	ck_assert(imapc_logout(watcher, &err));
	ck_assert(imapc_logout(writer, &err));
	imapc_free(&watcher);
	imapc_free(&writer);
	free(msg);
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("e2e-smoke");
	TCase *rt = tcase_create("round-trip");
	TCase *no = tcase_create("refusals");
	TCase *ag = tcase_create("agent");
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

	tcase_set_timeout(ag, 60);
	tcase_add_test(ag, create_nested_utf8);
	tcase_add_test(ag, keywords_stored_and_removed);
	tcase_add_test(ag, move_and_delete);
	tcase_add_test(ag, idle_wakes_on_append);
	suite_add_tcase(s, ag);
	return s;
}

KYSO_TEST_MAIN(make_suite)
