/* Unit tests of agent/conf.c: table-driven, with bad inputs in every table. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/conf.h"
#include "tests/unit/testmain.h"

static char tmpdir[] = "/tmp/kyso-conf-XXXXXX";

static void
write_file(const char *name, const char *text, mode_t mode)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *fp = fopen(path, "w");

	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(path, mode);
	free(path);
}

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	write_file("pw", "s3cret\n", 0600);
	write_file("pw-open", "s3cret\n", 0644);
	write_file("anchors.pem", "not checked here\n", 0644);
	write_file("id.p12", "x", 0600);
	write_file("cert.pem", "x", 0644);
	write_file("key.pem", "x", 0600);
}

static void
teardown(void)
{
	char *cmd = xasprintf("rm -rf %s", tmpdir);

	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	strcpy(tmpdir, "/tmp/kyso-conf-XXXXXX");
}

/* Load text as a config; returns the conf (or NULL) and fills rep. */
static struct conf *
load(const char *text, struct conf_report *rep)
{
	char *path = xasprintf("%s/kyso.conf", tmpdir);
	struct conf *c;

	write_file("kyso.conf", text, 0644);
	c = conf_load(path, rep);
	free(path);
	return c;
}

#define GOOD_ACCOUNT \
	"[trust]\nanchors = anchors.pem\n" \
	"[account vanthu]\naddress = VanThu@BenLuc.LongAn.gov.vn\n" \
	"imap = imaps://mail.longan.gov.vn\nsmtp = smtp://mail.longan.gov.vn\npassword_file = pw\n"

START_TEST(good_config)
{
	struct conf_report rep = CONF_REPORT_INIT;
	struct conf *c = load(
	    "; comment\n# comment\n"
	    "[agent]\nstate_dir = /var/lib/kyso-test\nlog_level = debug\n"
	    "keyword_valid = $DaKy_HopLe\nkeyword_malformed = Loi.Dinh-Dang\nidle = 600\npoll = 5\n"
	    "keyword_attachment_valid = Tep.HopLe\nkeyword_attachment_indeterminate = $TepChuaRo\n"
	    "[web]\nlisten = 127.0.0.1:9090\nadmins = IT@longan.gov.vn, b@longan.gov.vn\n"
	    "templates = tpl\nenabled = no\n"
	    GOOD_ACCOUNT
	    "outbox = Ký số\nverify_folders = Văn bản đến, Archive\nbacklog = new\n"
	    "[identity Trần Kim Ngân]\naddresses = vanthu@benluc.longan.gov.vn\np12 = id.p12\npass_file = pw\n"
	    "digest = sha384\nmode = opaque\n"
	    "[identity seal]\naddresses = ubnd@longan.gov.vn\ncert = cert.pem\nkey = key.pem\norganisation = yes\n",
	    &rep);

	for (size_t i = 0; i < rep.n; i++)
		fprintf(stderr, "%s\n", rep.lines[i]);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(rep.n, 0);
	ck_assert_str_eq(c->agent.state_dir, "/var/lib/kyso-test");
	ck_assert_int_eq(c->agent.log_level, LOG_LEVEL_DEBUG);
	ck_assert_str_eq(c->web.listen, "127.0.0.1:9090");
	ck_assert_str_eq(c->agent.keywords[0], "$DaKy_HopLe");
	ck_assert_str_eq(c->agent.keywords[1], "KySo_MotPhan");         /* default */
	ck_assert_str_eq(c->agent.keywords[6], "Loi.Dinh-Dang");
	ck_assert_str_eq(c->agent.attachment_keywords[0], "Tep.HopLe");
	ck_assert_str_eq(c->agent.attachment_keywords[1], "KySo_TepMotPhan"); /* default */
	ck_assert_str_eq(c->agent.attachment_keywords[3], "$TepChuaRo");
	ck_assert_uint_eq(c->agent.idle_s, 600);
	ck_assert_uint_eq(c->agent.poll_s, 5);
	ck_assert(!c->web.enabled);
	ck_assert(c->web.templates[0] == '/');                          /* made absolute */
	ck_assert(strstr(c->web.templates, "/tpl") != NULL);
	ck_assert_uint_eq(c->web.admins.n, 2);
	ck_assert_str_eq(c->web.admins.items[0], "it@longan.gov.vn");
	ck_assert_int_eq(c->trust.revocation, CONF_REVOCATION_PREFER);
	ck_assert_uint_eq(c->n_accounts, 1);
	ck_assert_str_eq(c->accounts[0].address, "vanthu@benluc.longan.gov.vn");
	ck_assert_str_eq(c->accounts[0].username, "vanthu@benluc.longan.gov.vn");
	ck_assert_str_eq(c->accounts[0].imap.host, "mail.longan.gov.vn");
	ck_assert_uint_eq(c->accounts[0].imap.port, 993);
	ck_assert_int_eq(c->accounts[0].imap.tls, CONF_TLS_IMPLICIT);
	ck_assert_uint_eq(c->accounts[0].smtp.port, 587);
	ck_assert_int_eq(c->accounts[0].smtp.tls, CONF_TLS_STARTTLS);
	ck_assert_str_eq(c->accounts[0].outbox, "Ký số");
	ck_assert_str_eq(c->accounts[0].failed, "Ký số/Lỗi");
	ck_assert_ptr_null(c->accounts[0].sent);
	ck_assert(c->accounts[0].tls_verify);
	ck_assert_int_eq(c->accounts[0].backlog, CONF_BACKLOG_NEW);
	ck_assert_uint_eq(c->accounts[0].verify_folders.n, 2);
	ck_assert_str_eq(c->accounts[0].verify_folders.items[0], "Văn bản đến");
	ck_assert(c->accounts[0].password_file[0] == '/');       /* made absolute */
	ck_assert_uint_eq(c->n_identities, 2);
	ck_assert_str_eq(c->identities[0].name, "Trần Kim Ngân");
	ck_assert_int_eq(c->identities[0].source, CONF_KEY_P12);
	ck_assert_str_eq(c->identities[0].digest, "sha384");
	ck_assert_int_eq(c->identities[0].mode, CONF_MODE_OPAQUE);
	ck_assert_int_eq(c->identities[1].source, CONF_KEY_PEM);
	ck_assert(c->identities[1].organisation);
	ck_assert_ptr_eq(conf_identity_for(c, "UBND@longan.gov.vn"), &c->identities[1]);
	ck_assert_ptr_null(conf_identity_for(c, "nobody@longan.gov.vn"));
	conf_free(&c);
	ck_assert_ptr_null(c);
	conf_free(&c);
	conf_report_free(&rep);
}
END_TEST

/* Each bad config must be refused with a file:line: message naming the problem. */
static const struct {
	const char *text;
	unsigned line;          /* expected line of the first problem */
	const char *words;      /* expected in the message */
} bad[] = {
	{ "[agent]\nlog_level = loud\n", 2, "log_level must be" },
	{ "[agent]\nstate_dir = /x\nstate_dir = /y\n", 3, "set twice" },
	{ "[agent]\ncolour = blue\n", 2, "unknown key 'colour'" },
	{ "[mail]\nx = 1\n", 1, "unknown section [mail]" },
	{ "[account]\naddress = a@b.vn\n", 1, "needs a name" },
	{ "[agent]\nthis line has no equals sign\n", 2, "syntax error" },
	{ GOOD_ACCOUNT "password = hunter2\n", 8, "secrets do not belong" },
	{ "[trust]\nanchors = anchors.pem\nrevocation = sometimes\n", 3, "off, prefer or require" },
	{ "[trust]\nanchors = missing.pem\n", 1, "missing.pem: No such file" },
	{ "[trust]\nanchors = anchors.pem\n[account a]\naddress = not-an-address\n", 4, "not a mail address" },
	{ "[trust]\nanchors = anchors.pem\n[account a]\nimap = http://x\n", 4, "must start with imaps://" },
	{ "[trust]\nanchors = anchors.pem\n[account a]\nimap = imaps://host:99999\n", 4, "bad port" },
	{ "[trust]\nanchors = anchors.pem\n[account a]\nimap = imaps://:993\n", 4, "no host name" },
	{ "[trust]\nanchors = anchors.pem\n[account a]\nsmtp = smtps://h/path\n", 4, "not of the form" },
	{ "[trust]\nanchors = anchors.pem\n[account a]\naddress = a@b.vn\n", 3, "has no imap server" },
	{ "[trust]\nanchors = anchors.pem\n[account a]\naddress = a@b.vn\nimap = imaps://h\nsmtp = smtps://h\n"
	  "password_file = pw-open\n", 3, "readable or writable by others" },
	{ GOOD_ACCOUNT "[account b]\naddress = vanthu@benluc.longan.gov.vn\nimap = imaps://h\nsmtp = smtps://h\n"
	  "password_file = pw\n", 8, "already used by account 'vanthu'" },
	{ GOOD_ACCOUNT "tls_verify = maybe\n", 8, "must be yes or no" },
	{ GOOD_ACCOUNT "backlog = some\n", 8, "all or new" },
	{ "[trust]\nanchors = anchors.pem\n[identity x]\naddresses = a@b.vn\n", 3, "has no key" },
	{ "[trust]\nanchors = anchors.pem\n[identity x]\naddresses = a@b.vn\np12 = id.p12\n", 3, "needs pass_file" },
	{ "[trust]\nanchors = anchors.pem\n[identity x]\naddresses = a@b.vn\np12 = id.p12\npass_file = pw\n"
	  "cert = cert.pem\nkey = key.pem\n", 3, "more than one key source" },
	{ "[trust]\nanchors = anchors.pem\n[identity x]\naddresses = a@b.vn\ncert = cert.pem\n", 3,
	  "cert and key go together" },
	{ "[trust]\nanchors = anchors.pem\n[identity x]\naddresses = a@b.vn\ncert = cert.pem\n"
	  "key = pkcs11:token=t;object=k\n", 3, "needs pin_file" },
	{ "[trust]\nanchors = anchors.pem\n[identity x]\naddresses = a@b.vn\ngpgsm = XYZ\n", 5, "fingerprint" },
	{ "[trust]\nanchors = anchors.pem\n[identity x]\naddresses = a@b.vn\ncert = cert.pem\nkey = key.pem\n"
	  "digest = md5\n", 7, "sha256, sha384 or sha512" },
	{ "[trust]\nanchors = anchors.pem\n[identity x]\naddresses = a@b.vn\ncert = cert.pem\nkey = key.pem\n"
	  "mode = clear\n", 7, "detached or opaque" },
	{ "[trust]\nanchors = anchors.pem\n[identity x]\ncert = cert.pem\nkey = key.pem\n", 3, "no addresses" },
	{ "[trust]\nanchors = anchors.pem\n[identity x]\naddresses = a@b.vn, <evil>\ncert = cert.pem\n"
	  "key = key.pem\n", 4, "'<evil>' is not a mail address" },
	{ "[account a]\naddress = a@b.vn\nimap = imaps://h\nsmtp = smtps://h\npassword_file = pw\n", 5,
	  "anchors is required" },
	{ "[web]\ntls_cert = cert.pem\n", 1, "go together" },
	{ "[agent]\n[agent]\nlog_level = info\n", 2, "appears twice" },
	{ "log_level = info\n[agent]\n", 1, "outside any section" },
	{ "[agent]\nkeyword_valid = Ký_Số\n", 2, "not an IMAP atom" },
	{ "[agent]\nkeyword_invalid = Khong Hop Le\n", 2, "not an IMAP atom" },
	{ "[agent]\nkeyword_partial = \\Seen\n", 2, "not an IMAP atom" },
	{ "[agent]\nkeyword_unsigned = a(b)\n", 2, "not an IMAP atom" },
	{ "[agent]\nkeyword_encrypted = x]\n", 2, "not an IMAP atom" },
	{ "[agent]\nkeyword_valid = A\nkeyword_invalid = a\n", 1, "each verdict needs its own keyword" },
	{ "[agent]\nkeyword_sparkly = x\n", 2, "unknown key 'keyword_sparkly'" },
	{ "[agent]\nkeyword_attachment_valid = Tệp_HợpLệ\n", 2, "not an IMAP atom" },
	{ "[agent]\nkeyword_attachment_invalid = Tep KhongHopLe\n", 2, "not an IMAP atom" },
	{ "[agent]\nkeyword_attachment_partial = \\Flagged\n", 2, "not an IMAP atom" },
	{ "[agent]\nkeyword_attachment_indeterminate = \n", 2, "1 to 64 characters" },
	{ "[agent]\nkeyword_attachment_valid = KySo_HopLe\n", 1, "each verdict needs its own keyword" },
	{ "[agent]\nkeyword_unsigned = Tep\nkeyword_attachment_partial = TEP\n", 1,
	  "keyword_unsigned and keyword_attachment_partial are both" },
	{ "[agent]\nkeyword_attachment_valid = x\nkeyword_attachment_invalid = X\n", 1,
	  "each verdict needs its own keyword" },
	{ "[agent]\nkeyword_attachment_sparkly = x\n", 2, "unknown key 'keyword_attachment_sparkly'" },
	{ "[agent]\nkeyword_attachment_valid = a\nkeyword_attachment_valid = b\n", 3, "set twice" },
	{ "[agent]\nidle = 1800\n", 2, "from 10 to 1740" },
	{ "[agent]\nidle = -5\n", 2, "seconds" },
	{ "[agent]\npoll = often\n", 2, "seconds" },
	{ "[agent]\npoll = 0\n", 2, "from 1 to 3600" },
	{ "[web]\nenabled = perhaps\n", 2, "must be yes or no" },
};

START_TEST(agent_defaults)
{
	static const char *const want[7] = { "KySo_HopLe", "KySo_MotPhan", "KySo_KhongHopLe",
		"KySo_ChuaXacDinh", "KySo_KhongKy", "KySo_MaHoa", "KySo_LoiDinhDang" };
	static const char *const want_att[4] = { "KySo_TepHopLe", "KySo_TepMotPhan", "KySo_TepKhongHopLe",
		"KySo_TepChuaXacDinh" };
	struct conf_report rep = CONF_REPORT_INIT;
	struct conf *c = load(GOOD_ACCOUNT, &rep);

	ck_assert_ptr_nonnull(c);
	for (size_t i = 0; i < 7; i++)
		ck_assert_str_eq(c->agent.keywords[i], want[i]);
	for (size_t i = 0; i < 4; i++)
		ck_assert_str_eq(c->agent.attachment_keywords[i], want_att[i]);
	ck_assert_uint_eq(c->agent.idle_s, 1500);
	ck_assert_uint_eq(c->agent.poll_s, 30);
	ck_assert(c->web.enabled);
	ck_assert_ptr_nonnull(c->web.templates);
	ck_assert(strstr(c->web.templates, "templates") != NULL);
	conf_free(&c);
	conf_report_free(&rep);
}
END_TEST

START_TEST(bad_configs)
{
	struct conf_report rep = CONF_REPORT_INIT;
	struct conf *c = load(bad[_i].text, &rep);
	char prefix[64];

	ck_assert_msg(c == NULL, "case %d was accepted", _i);
	ck_assert_uint_ge(rep.n, 1);
	snprintf(prefix, sizeof(prefix), "%s/kyso.conf:%u: ", tmpdir, bad[_i].line);
	for (size_t i = 0; i < rep.n; i++)
		fprintf(stderr, "case %d: %s\n", _i, rep.lines[i]);
	ck_assert_msg(strncmp(rep.lines[0], prefix, strlen(prefix)) == 0,
	    "case %d: expected %s, got %s", _i, prefix, rep.lines[0]);
	ck_assert_msg(strstr(rep.lines[0], bad[_i].words) != NULL,
	    "case %d: expected '%s' in %s", _i, bad[_i].words, rep.lines[0]);
	conf_report_free(&rep);
}
END_TEST

START_TEST(reports_every_problem)
{
	struct conf_report rep = CONF_REPORT_INIT;
	struct conf *c = load("[agent]\nlog_level = loud\nfoo = 1\n[nope]\n[trust]\nrevocation = x\n", &rep);

	ck_assert_ptr_null(c);
	ck_assert_uint_ge(rep.n, 4);
	conf_report_free(&rep);
}
END_TEST

START_TEST(long_line_is_reported)
{
	struct conf_report rep = CONF_REPORT_INIT;
	struct buf b = BUF_INIT;
	struct conf *c;

	buf_appends(&b, "[agent]\nstate_dir = /");
	for (int i = 0; i < 9000; i++)
		buf_appends(&b, "a");
	buf_appends(&b, "\nlog_level = info\n");
	c = load(b.data, &rep);
	ck_assert_ptr_null(c);
	ck_assert_uint_ge(rep.n, 1);
	ck_assert_ptr_nonnull(strstr(rep.lines[0], "kyso.conf:2: line is longer"));
	buf_release(&b);
	conf_report_free(&rep);
}
END_TEST

START_TEST(garbage_bytes_do_not_crash)
{
	struct conf_report rep = CONF_REPORT_INIT;
	char junk[4096];
	struct conf *c;
	unsigned seed = 12345;

	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(junk) - 1; i++) {
			seed = seed * 1103515245u + 12345u;
			junk[i] = (char)(((seed >> 16) % 255) + 1);
		}
		junk[sizeof(junk) - 1] = '\0';
		c = load(junk, &rep);
		ck_assert_ptr_null(c);
		ck_assert_uint_ge(rep.n, 1);
		conf_report_free(&rep);
	}
}
END_TEST

START_TEST(missing_file)
{
	struct conf_report rep = CONF_REPORT_INIT;
	struct conf *c = conf_load("/nonexistent/kyso.conf", &rep);

	ck_assert_ptr_null(c);
	ck_assert_uint_eq(rep.n, 1);
	ck_assert_str_eq(rep.lines[0], "/nonexistent/kyso.conf:0: cannot open: No such file or directory");
	conf_report_free(&rep);
}
END_TEST

static const struct {
	const char *kind, *url, *host;
	unsigned port;
	enum conf_tls tls;
} endpoints[] = {
	{ "imap", "imaps://mail.longan.gov.vn", "mail.longan.gov.vn", 993, CONF_TLS_IMPLICIT },
	{ "imap", "imap://mail.longan.gov.vn:1143", "mail.longan.gov.vn", 1143, CONF_TLS_STARTTLS },
	{ "imap", "IMAPS://127.0.0.1:10993/", "127.0.0.1", 10993, CONF_TLS_IMPLICIT },
	{ "smtp", "smtps://[::1]:465", "::1", 465, CONF_TLS_IMPLICIT },
	{ "smtp", "smtp://h", "h", 587, CONF_TLS_STARTTLS },
	{ "smtp", "imaps://h", NULL, 0, 0 },
	{ "smtp", "smtp://h:0", NULL, 0, 0 },
	{ "smtp", "smtp://h:25x", NULL, 0, 0 },
	{ "smtp", "smtp://[::1", NULL, 0, 0 },
	{ "imap", "imaps://user@h", NULL, 0, 0 },
	{ "imap", "imaps://h h", NULL, 0, 0 },
	{ "imap", "", NULL, 0, 0 },
};

START_TEST(endpoint_urls)
{
	struct conf_endpoint ep = { 0 };
	char msg[256] = "";
	bool ok = conf_parse_endpoint(endpoints[_i].kind, endpoints[_i].url, &ep, msg, sizeof(msg));

	if (endpoints[_i].host == NULL) {
		ck_assert_msg(!ok, "accepted %s", endpoints[_i].url);
		ck_assert_str_ne(msg, "");
	} else {
		ck_assert_msg(ok, "%s: %s", endpoints[_i].url, msg);
		ck_assert_str_eq(ep.host, endpoints[_i].host);
		ck_assert_uint_eq(ep.port, endpoints[_i].port);
		ck_assert_int_eq(ep.tls, endpoints[_i].tls);
	}
	free(ep.host);
}
END_TEST

START_TEST(secret_files)
{
	struct kerr e = KERR_INIT;
	char *path = xasprintf("%s/pw", tmpdir), *open_path = xasprintf("%s/pw-open", tmpdir);
	char *s = conf_read_secret(path, &e);

	ck_assert_str_eq(s, "s3cret");
	conf_secret_free(&s);
	ck_assert_ptr_null(s);
	s = conf_read_secret(open_path, &e);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(e.cls, KERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(e.msg, "readable or writable by others"));
	ck_assert_ptr_null(strstr(e.msg, "s3cret"));
	write_file("pw-utf8", "mật khẩu Đ\r\n", 0600);
	free(path);
	path = xasprintf("%s/pw-utf8", tmpdir);
	s = conf_read_secret(path, &e);
	ck_assert_str_eq(s, "mật khẩu Đ");
	conf_secret_free(&s);
	write_file("pw-empty", "\n", 0600);
	free(path);
	path = xasprintf("%s/pw-empty", tmpdir);
	ck_assert_ptr_null(conf_read_secret(path, &e));
	ck_assert_ptr_nonnull(strstr(e.msg, "empty"));
	free(path);
	free(open_path);
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("agent/conf");
	TCase *tc = tcase_create("conf");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, good_config);
	tcase_add_test(tc, agent_defaults);
	tcase_add_loop_test(tc, bad_configs, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, reports_every_problem);
	tcase_add_test(tc, long_line_is_reported);
	tcase_add_test(tc, garbage_bytes_do_not_crash);
	tcase_add_test(tc, missing_file);
	tcase_add_loop_test(tc, endpoint_urls, 0, (int)(sizeof(endpoints) / sizeof(endpoints[0])));
	tcase_add_test(tc, secret_files);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
