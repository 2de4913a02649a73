/* Unit tests of agent/imapc.c: modified UTF-7, and sessions with scripted
 * fake servers (the real server is exercised by tests/e2e/smoke). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/imapc.h"
#include "tests/unit/agent/nettest.h"
#include "tests/unit/testmain.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#define LIBETPAN_LEAKS_BEGIN() __lsan_disable()
#define LIBETPAN_LEAKS_END() __lsan_enable()
#else
#define LIBETPAN_LEAKS_BEGIN() ((void)0)
#define LIBETPAN_LEAKS_END() ((void)0)
#endif

/* ---- modified UTF-7 ---- */

static const struct {
	const char *utf8, *mutf7;
} mutf7_ok[] = {
	{ "", "" },
	{ "INBOX", "INBOX" },
	{ "a&b", "a&-b" },
	{ "&", "&-" },
	{ "Ký số", "K&AP0- s&HtE-" },
	{ "Thư đã gửi", "Th&AbA- &AREA4w- g&Hu0-i" },
	{ "Hộp thư đến", "H&Htk-p th&AbA- &AREevw-n" },
	{ "Đ", "&ARA-" },
	{ "~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },   /* RFC 3501 */
	{ "😀", "&2D3eAA-" },                                               /* surrogate pair */
	{ "\tx", "&AAk-x" },                                                /* control: encoded */
	{ "Sent.Ký số", "Sent.K&AP0- s&HtE-" },
};

START_TEST(mutf7_encode_table)
{
	char *got = imapc_mutf7_encode(mutf7_ok[_i].utf8);

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, mutf7_ok[_i].mutf7);
	free(got);
}
END_TEST

START_TEST(mutf7_decode_table)
{
	char *got = imapc_mutf7_decode(mutf7_ok[_i].mutf7);

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, mutf7_ok[_i].utf8);
	free(got);
}
END_TEST

static const char *const mutf7_bad[] = {
	"&",              /* unterminated */
	"&AP0",           /* no '-' */
	"&-&",            /* unterminated after a good one */
	"&AGE-",          /* 'a' must be written directly */
	"&2D3-",          /* lone high surrogate */
	"&3gA-",          /* lone low surrogate */
	"&AP0!-",         /* not base64 */
	"&AP1-",          /* non-zero leftover bits */
	"&A-",            /* too short for one character */
	"a\001b",         /* control character */
	"K\xc3\xbd",      /* 8-bit */
	"&2D3eAA3gA-",    /* pair then lone low surrogate */
};

START_TEST(mutf7_decode_refuses)
{
	ck_assert_ptr_null(imapc_mutf7_decode(mutf7_bad[_i]));
}
END_TEST

static const char *const utf8_bad[] = {
	"\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\xc3", "\x80",
};

START_TEST(mutf7_encode_refuses)
{
	ck_assert_ptr_null(imapc_mutf7_encode(utf8_bad[_i]));
}
END_TEST

START_TEST(mutf7_round_trip_fed_bytewise)
{
	/* Every prefix of a valid UTF-8 string that ends on a character boundary. */
	const char *s = "Văn bản đến & đi 台北 😀 ~/x";
	size_t n = strlen(s);

	for (size_t i = 0; i <= n; i++) {
		char *prefix = xstrndup(s, i), *enc = imapc_mutf7_encode(prefix), *dec;

		if ((i < n && ((unsigned char)s[i] & 0xc0) == 0x80)) {
			ck_assert_ptr_null(enc);   /* cut inside a character */
		} else {
			ck_assert_ptr_nonnull(enc);
			dec = imapc_mutf7_decode(enc);
			ck_assert_ptr_nonnull(dec);
			ck_assert_str_eq(dec, prefix);
			free(dec);
		}
		free(enc);
		free(prefix);
	}
}
END_TEST

/* ---- a scripted IMAP server ---- */

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

struct imap_script {
	SSL_CTX *ctx;               /* for STARTTLS */
	const char *greeting;       /* whole line */
	const char *caps_plain;     /* CAPABILITY answer before TLS */
	const char *caps_tls;       /* and inside TLS */
	const char *starttls_extra; /* bytes sent right after the STARTTLS go-ahead */
	const char *login_reply;    /* e.g. "OK Logged in" */
	const char *message;        /* what UID FETCH 9 returns */
	struct buf appended;        /* what APPEND stored */
	char append_line[512];
	bool tls;                   /* STARTTLS done */
};

static void
srv_imap(struct fake *f, void *arg)
{
	struct imap_script *s = arg;
	char line[1024], tag[32], cmd[64];

	fake_printf(f, "%s\r\n", s->greeting);
	while (fake_readline(f, line, sizeof(line))) {
		if (sscanf(line, "%31s %63s", tag, cmd) != 2)
			return;
		if (strcasecmp(cmd, "UID") == 0)
			sscanf(line, "%*s UID %63s", cmd);
		if (strcasecmp(cmd, "CAPABILITY") == 0) {
			fake_printf(f, "* CAPABILITY %s\r\n%s OK done\r\n",
			    s->tls ? s->caps_tls : s->caps_plain, tag);
		} else if (strcasecmp(cmd, "STARTTLS") == 0) {
			fake_printf(f, "%s OK Begin TLS\r\n%s", tag, s->starttls_extra != NULL ?
			    s->starttls_extra : "");
			if (!fake_starttls(f, s->ctx))
				return;
			s->tls = true;
		} else if (strcasecmp(cmd, "LOGIN") == 0) {
			fake_printf(f, "%s %s\r\n", tag, s->login_reply);
		} else if (strcasecmp(cmd, "SELECT") == 0 || strcasecmp(cmd, "EXAMINE") == 0) {
			fake_printf(f, "* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1234] ok\r\n"
			    "* OK [UIDNEXT 10] ok\r\n%s OK [%s] done\r\n", tag,
			    strcasecmp(cmd, "EXAMINE") == 0 ? "READ-ONLY" : "READ-WRITE");
		} else if (strcasecmp(cmd, "SEARCH") == 0) {
			/* "8:*" also matches the last message, UID 7 here. */
			fake_printf(f, "* SEARCH 9 7\r\n%s OK done\r\n", tag);
		} else if (strcasecmp(cmd, "FETCH") == 0) {
			fake_printf(f, "* 1 FETCH (FLAGS (\\Seen))\r\n* 3 FETCH (UID 9 BODY[] {%zu}\r\n",
			    strlen(s->message));
			fake_write(f, s->message, strlen(s->message));
			fake_printf(f, ")\r\n%s OK done\r\n", tag);
		} else if (strcasecmp(cmd, "APPEND") == 0) {
			char *brace = strrchr(line, '{');
			size_t n = brace != NULL ? strtoul(brace + 1, NULL, 10) : 0;
			char rest[16];

			snprintf(s->append_line, sizeof(s->append_line), "%s", line);
			fake_printf(f, "+ go ahead\r\n");
			if (!fake_read_n(f, n, &s->appended) || !fake_readline(f, rest, sizeof(rest)))
				return;
			fake_printf(f, "%s OK [APPENDUID 1234 11] done\r\n", tag);
		} else if (strcasecmp(cmd, "LIST") == 0) {
			fake_printf(f, "* LIST (\\HasNoChildren) \".\" INBOX\r\n"
			    "* LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n"
			    "* LIST (\\Noselect \\HasChildren) \".\" \"K&AP0- s&HtE-\"\r\n"
			    "* LIST (\\HasNoChildren \\Drafts) \".\" \"K&AP0- s&HtE-.Nh&AOE-p\"\r\n"
			    "%s OK done\r\n", tag);
		} else if (strcasecmp(cmd, "LOGOUT") == 0) {
			fake_printf(f, "* BYE bye\r\n%s OK done\r\n", tag);
			return;
		} else {
			fake_printf(f, "%s BAD what?\r\n", tag);
		}
	}
}

static struct conf_endpoint
endpoint(const char *host, uint16_t port, enum conf_tls tls)
{
	struct conf_endpoint ep = { (char *)host, port, tls };

	return ep;
}

static struct tls_opts
opts(int timeout_s)
{
	struct tls_opts o = { .ca_file = pki->ca_file, .verify = true, .timeout_s = timeout_s };

	return o;
}

/* A STARTTLS endpoint whose server must be refused before any credential. */
static void
refused_before_login(struct imap_script *s, enum kerr_class want_cls, const char *want_tail)
{
	struct fake *f = fake_start(srv_imap, s, NULL);
	struct conf_endpoint ep = endpoint("localhost", fake_port(f), CONF_TLS_STARTTLS);
	struct tls_opts o = opts(5);
	struct kerr err = KERR_INIT;
	struct imapc *im = imapc_connect(&ep, &o, &err);
	char want[512];
	char *sent;

	ck_assert_ptr_null(im);
	snprintf(want, sizeof(want), "imap localhost:%u: %s", fake_port(f), want_tail);
	ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "got: %s\nwant: %s", err.msg, want);
	ck_assert_int_eq(err.cls, want_cls);
	sent = fake_finish(&f);
	ck_assert_msg(strstr(sent, "LOGIN") == NULL && strstr(sent, "AUTHENTICATE") == NULL,
	    "sent: %s", sent);
	free(sent);
}

START_TEST(no_starttls_in_greeting)
{
	struct imap_script s = {
		.greeting = "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready",
		.caps_plain = "IMAP4rev1 AUTH=PLAIN",
	};

	refused_before_login(&s, KERR_CONFIG, "the server does not offer STARTTLS; kyso never "
	    "logs in without TLS (use imaps:// or enable STARTTLS on the server)");
}
END_TEST

START_TEST(no_starttls_in_capability)
{
	struct imap_script s = {
		.greeting = "* OK fake ready",
		.caps_plain = "IMAP4rev1 AUTH=PLAIN",
	};

	refused_before_login(&s, KERR_CONFIG, "the server does not offer STARTTLS");
}
END_TEST

START_TEST(preauth_on_starttls)
{
	struct imap_script s = {
		.greeting = "* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] welcome",
		.caps_plain = "IMAP4rev1 STARTTLS",
	};

	refused_before_login(&s, KERR_CONFIG, "the server greeted with PREAUTH");
}
END_TEST

START_TEST(starttls_injection)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct imap_script s = {
		.ctx = ctx,
		.greeting = "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake ready",
		.caps_plain = "IMAP4rev1 STARTTLS LOGINDISABLED",
		.starttls_extra = "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n",
	};

	refused_before_login(&s, KERR_CONFIG, "the server sent 35 unexpected bytes right after "
	    "accepting STARTTLS");
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(greeting_bye)
{
	struct imap_script s = { .greeting = "* BYE too many connections from your IP" };

	/* libetpan 1.9.4 leaks the parsed greeting when it is a BYE (74 bytes, in
	 * mailimap_connect): not ours to fix, so not ours to report. */
	LIBETPAN_LEAKS_BEGIN();
	refused_before_login(&s, KERR_TEMP, "greeting: the server closed the session: "
	    "too many connections from your IP");
	LIBETPAN_LEAKS_END();
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
	struct conf_endpoint ep = endpoint("127.0.0.1", fake_port(f), CONF_TLS_STARTTLS);
	struct tls_opts o = opts(1);
	struct kerr err = KERR_INIT;
	int64_t t0 = test_now_ms();
	struct imapc *im = imapc_connect(&ep, &o, &err);
	int64_t took = test_now_ms() - t0;
	char want[200];

	ck_assert_ptr_null(im);
	snprintf(want, sizeof(want), "imap 127.0.0.1:%u: greeting: timed out after 1 s waiting "
	    "for the server", fake_port(f));
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(err.cls, KERR_TEMP);
	ck_assert_msg(took < 3000, "took %lld ms", (long long)took);
	free(fake_finish(&f));
}
END_TEST

START_TEST(connection_refused)
{
	uint16_t port = closed_port();
	struct conf_endpoint ep = endpoint("127.0.0.1", port, CONF_TLS_IMPLICIT);
	struct tls_opts o = opts(5);
	struct kerr err = KERR_INIT;
	char want[200];

	ck_assert_ptr_null(imapc_connect(&ep, &o, &err));
	snprintf(want, sizeof(want), "imap 127.0.0.1:%u: connect: Connection refused", port);
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(err.cls, KERR_TEMP);
}
END_TEST

/* STARTTLS, then the capabilities asked again inside TLS; then a login reply. */
static void
starttls_then_login(const char *login_reply, bool want_ok, enum kerr_class want_cls,
    const char *want_tail)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct imap_script s = {
		.ctx = ctx,
		.greeting = "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED XPLAINONLY] fake ready",
		.caps_plain = "IMAP4rev1 STARTTLS LOGINDISABLED XPLAINONLY",
		.caps_tls = "IMAP4rev1 AUTH=PLAIN IDLE UIDPLUS",
		.login_reply = login_reply,
	};
	struct fake *f = fake_start(srv_imap, &s, NULL);
	struct conf_endpoint ep = endpoint("localhost", fake_port(f), CONF_TLS_STARTTLS);
	struct tls_opts o = opts(5);
	struct kerr err = KERR_INIT;
	struct imapc *im = imapc_connect(&ep, &o, &err);
	char want[400];
	char *sent;

	ck_assert_msg(im != NULL, "%s", err.msg);
	ck_assert(imapc_has_capability(im, "IDLE"));
	ck_assert(imapc_has_capability(im, "UIDPLUS"));
	ck_assert(!imapc_has_capability(im, "XPLAINONLY"));     /* pre-TLS list dropped */
	ck_assert(!imapc_has_capability(im, "LOGINDISABLED"));
	if (want_ok) {
		ck_assert_msg(imapc_login(im, "vanthu@benluc.longan.gov.vn", "pa ss\"w", &err), "%s",
		    err.msg);
	} else {
		ck_assert(!imapc_login(im, "vanthu@benluc.longan.gov.vn", "pa ss\"w", &err));
		snprintf(want, sizeof(want), "imap localhost:%u: login as vanthu@benluc.longan.gov.vn: "
		    "%s", fake_port(f), want_tail);
		ck_assert_str_eq(err.msg, want);
		ck_assert_int_eq(err.cls, want_cls);
	}
	ck_assert(imapc_logout(im, &err));
	imapc_free(&im);
	sent = fake_finish(&f);
	/* before TLS: CAPABILITY was in the greeting, so only STARTTLS was sent */
	ck_assert_msg(strncmp(sent, "1 STARTTLS\r\n2 CAPABILITY\r\n3 LOGIN ", 34) == 0, "%s", sent);
	ck_assert_msg(strstr(sent, "\"pa ss\\\"w\"") != NULL, "%s", sent);
	free(sent);
	SSL_CTX_free(ctx);
}

START_TEST(starttls_login_ok)
{
	starttls_then_login("OK Logged in", true, KERR_NONE, NULL);
}
END_TEST

START_TEST(starttls_login_refused)
{
	starttls_then_login("NO [AUTHENTICATIONFAILED] Authentication failed.", false, KERR_CONFIG,
	    "the server answered NO: [AUTHENTICATIONFAILED] Authentication failed.");
}
END_TEST

START_TEST(starttls_login_unavailable)
{
	starttls_then_login("NO [UNAVAILABLE] Try again later", false, KERR_TEMP,
	    "the server answered NO: [UNAVAILABLE] Try again later");
}
END_TEST

/* A whole session over implicit TLS: select, search, fetch, append, list. */
START_TEST(session_over_implicit_tls)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	static const char msg[] = "Subject: =?UTF-8?B?S8O9IHPhu5E=?=\r\nX: y\r\n\r\nb\xe1\xbb\x91 "
	    "\xc4\x91i\r\n.\r\n..\r\n\x01\x7f binary-ish\r\n";
	struct imap_script s = {
		.ctx = ctx,
		.greeting = "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN UIDPLUS] fake ready",
		.login_reply = "OK [CAPABILITY IMAP4rev1 UIDPLUS IDLE MOVE] Logged in",
		.message = msg,
	};
	struct fake *f = fake_start(srv_imap, &s, ctx);
	struct conf_endpoint ep = endpoint("localhost", fake_port(f), CONF_TLS_IMPLICIT);
	struct tls_opts o = opts(5);
	struct kerr err = KERR_INIT;
	struct imapc *im = imapc_connect(&ep, &o, &err);
	struct imapc_mailbox mb;
	struct imapc_query q = { .uid_min = 8 };
	struct imapc_uids uids = IMAPC_UIDS_INIT;
	struct imapc_folders fs = IMAPC_FOLDERS_INIT;
	struct buf got = BUF_INIT;
	const char *flags[] = { "\\Seen", "$Kyso_Signed" };
	static const char appended[] = "Subject: x\r\n\r\nb\xe1\xbb\x91\r\n";
	uint32_t uid = 0;
	char *sent;

	ck_assert_msg(im != NULL, "%s", err.msg);
	ck_assert_msg(imapc_login(im, "u", "p", &err), "%s", err.msg);
	ck_assert(imapc_has_capability(im, "MOVE"));   /* from the login answer */
	ck_assert_msg(imapc_select(im, "INBOX", true, &mb, &err), "%s", err.msg);
	ck_assert_uint_eq(mb.uidvalidity, 1234);
	ck_assert_uint_eq(mb.uidnext, 10);
	ck_assert_uint_eq(mb.exists, 3);
	ck_assert(mb.readonly);
	ck_assert_msg(imapc_search(im, &q, &uids, &err), "%s", err.msg);
	ck_assert_uint_eq(uids.n, 1);
	ck_assert_uint_eq(uids.uids[0], 9);
	ck_assert_msg(imapc_fetch_uid(im, 9, &got, &err), "%s", err.msg);
	ck_assert_uint_eq(got.len, sizeof(msg) - 1);
	ck_assert(memcmp(got.data, msg, got.len) == 0);
	ck_assert(!imapc_fetch_uid(im, 5, &got, &err));
	ck_assert_int_eq(err.cls, KERR_PERM);
	ck_assert_msg(imapc_append(im, "Ký số", flags, 2, appended, sizeof(appended) - 1, &uid, &err),
	    "%s", err.msg);
	ck_assert_uint_eq(uid, 11);
	ck_assert(!imapc_append(im, "Ký số", NULL, 0, "a\nb\r\n", 5, NULL, &err));
	ck_assert_int_eq(err.cls, KERR_PERM);
	ck_assert_msg(strstr(err.msg, "bare LF at offset 1") != NULL, "%s", err.msg);
	ck_assert_msg(imapc_list(im, &fs, &err), "%s", err.msg);
	ck_assert_uint_eq(fs.n, 4);
	ck_assert_str_eq(fs.f[0].name, "INBOX");
	ck_assert_str_eq(fs.f[2].name, "Ký số");
	ck_assert(fs.f[2].noselect);
	ck_assert_str_eq(fs.f[3].name, "Ký số/Nháp");   /* levels are '/' in the API */
	ck_assert_int_eq(fs.f[3].delimiter, '.');
	ck_assert_ptr_eq(imapc_folders_find_use(&fs, IMAPC_USE_SENT), &fs.f[1]);
	ck_assert_ptr_eq(imapc_folders_find_use(&fs, IMAPC_USE_DRAFTS), &fs.f[3]);
	ck_assert_ptr_null(imapc_folders_find_use(&fs, IMAPC_USE_TRASH));
	ck_assert(imapc_logout(im, &err));
	imapc_free(&im);
	sent = fake_finish(&f);
	ck_assert_msg(strstr(s.append_line, "APPEND \"K&AP0- s&HtE-\" (\\Seen $Kyso_Signed) {") != NULL,
	    "%s", s.append_line);
	ck_assert_uint_eq(s.appended.len, sizeof(appended) - 1);
	ck_assert(memcmp(s.appended.data, appended, s.appended.len) == 0);
	ck_assert_msg(strstr(sent, "EXAMINE INBOX") != NULL, "%s", sent);
	ck_assert_msg(strstr(sent, "UID SEARCH UID 8:*") != NULL, "%s", sent);
	ck_assert_msg(strstr(sent, "BODY.PEEK[]") != NULL, "%s", sent);
	free(sent);
	buf_release(&got);
	buf_release(&s.appended);
	imapc_uids_release(&uids);
	imapc_folders_release(&fs);
	SSL_CTX_free(ctx);
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("imapc");
	TCase *tc = tcase_create("mutf7");
	TCase *net = tcase_create("session");

	tcase_add_loop_test(tc, mutf7_encode_table, 0, (int)(sizeof(mutf7_ok) / sizeof(mutf7_ok[0])));
	tcase_add_loop_test(tc, mutf7_decode_table, 0, (int)(sizeof(mutf7_ok) / sizeof(mutf7_ok[0])));
	tcase_add_loop_test(tc, mutf7_decode_refuses, 0, (int)(sizeof(mutf7_bad) / sizeof(mutf7_bad[0])));
	tcase_add_loop_test(tc, mutf7_encode_refuses, 0, (int)(sizeof(utf8_bad) / sizeof(utf8_bad[0])));
	tcase_add_test(tc, mutf7_round_trip_fed_bytewise);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(net, setup, teardown);  /* one PKI, made in the parent */
	tcase_set_timeout(net, 30);
	tcase_add_test(net, no_starttls_in_greeting);
	tcase_add_test(net, no_starttls_in_capability);
	tcase_add_test(net, preauth_on_starttls);
	tcase_add_test(net, starttls_injection);
	tcase_add_test(net, greeting_bye);
	tcase_add_test(net, silent_server_times_out);
	tcase_add_test(net, connection_refused);
	tcase_add_test(net, starttls_login_ok);
	tcase_add_test(net, starttls_login_refused);
	tcase_add_test(net, starttls_login_unavailable);
	tcase_add_test(net, session_over_implicit_tls);
	suite_add_tcase(s, net);
	return s;
}

KYSO_TEST_MAIN(make_suite)
