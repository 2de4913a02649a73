/*
 * Unit tests of agent/inbox.c against a scripted IMAP server (nettest.h), for
 * what the real Dovecot of tests/e2e/agent-inbox.sh cannot be made to do: a
 * server without IDLE (polling with NOOP), a folder whose PERMANENTFLAGS
 * refuse keywords, and a message that vanishes between the flag fetch and
 * the body fetch.
 */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "tests/unit/agent/nettest.h"
#include "tests/unit/testmain.h"

/* ---- what agent.c provides in the daemon ---- */

void
agent_verify_opts(const struct agent *a, struct smime_verify_opts *o_r)
{
	struct smime_verify_opts o = SMIME_VERIFY_OPTS_INIT;

	o.trust = a->trust;
	o.revocation = SMIME_REVOCATION_OFF;
	*o_r = o;
}

void
agent_crash_point(const char *point)
{
	(void)point;
}

/* ---- the scripted server ---- */

#define NMSG 3

struct srv {
	const char *permanentflags;     /* "(\\Seen \\*)" or "(\\Seen)" */
	int n_visible;                  /* messages visible now (UIDs 1..n) */
	bool vanish3;                   /* UID 3 is listed by SEARCH but gone for FETCH */
	const char *flags[NMSG + 1];    /* FLAGS of each UID */
	int noops;
};

static const char unsigned_msg[] =
    "From: A <a@x.vn>\r\nTo: b@y.vn\r\nSubject: hello\r\nX-Kyso-Verdict: valid\r\nMessage-ID: <m@x>\r\n\r\nhi\r\n";

static void
srv_imap(struct fake *f, void *arg)
{
	struct srv *s = arg;
	char line[1024], tag[32], cmd[64];

	fake_printf(f, "* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] ready\r\n");
	while (fake_readline(f, line, sizeof(line))) {
		if (sscanf(line, "%31s %63s", tag, cmd) != 2)
			return;
		if (strcasecmp(cmd, "UID") == 0)
			sscanf(line, "%*s UID %63s", cmd);
		if (strcasecmp(cmd, "CAPABILITY") == 0) {
			fake_printf(f, "* CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS\r\n%s OK done\r\n", tag);
		} else if (strcasecmp(cmd, "LOGIN") == 0) {
			fake_printf(f, "%s OK Logged in\r\n", tag);
		} else if (strcasecmp(cmd, "SELECT") == 0 || strcasecmp(cmd, "EXAMINE") == 0) {
			fake_printf(f, "* FLAGS (\\Seen \\Answered \\Deleted)\r\n* OK [PERMANENTFLAGS %s] ok\r\n"
			    "* %d EXISTS\r\n* OK [UIDVALIDITY 77] ok\r\n* OK [UIDNEXT %d] ok\r\n%s OK [READ-WRITE] done\r\n",
			    s->permanentflags, s->n_visible, s->n_visible + 1, tag);
		} else if (strcasecmp(cmd, "SEARCH") == 0) {
			fake_printf(f, "* SEARCH");
			for (int i = 1; i <= s->n_visible; i++)
				fake_printf(f, " %d", i);
			fake_printf(f, "\r\n%s OK done\r\n", tag);
		} else if (strcasecmp(cmd, "FETCH") == 0) {
			unsigned uid = 0;

			sscanf(line, "%*s %*s FETCH %u", &uid);
			if (uid < 1 || uid > NMSG || (int)uid > s->n_visible || (uid == 3 && s->vanish3)) {
				fake_printf(f, "%s OK done\r\n", tag);    /* nothing: gone */
			} else if (strstr(line, "FLAGS") != NULL && strstr(line, "BODY") == NULL) {
				fake_printf(f, "* %u FETCH (UID %u FLAGS (%s))\r\n%s OK done\r\n", uid, uid, s->flags[uid], tag);
			} else {
				fake_printf(f, "* %u FETCH (UID %u BODY[] {%zu}\r\n", uid, uid, strlen(unsigned_msg));
				fake_write(f, unsigned_msg, strlen(unsigned_msg));
				fake_printf(f, ")\r\n%s OK done\r\n", tag);
			}
		} else if (strcasecmp(cmd, "STORE") == 0) {
			fake_printf(f, "%s OK done\r\n", tag);
		} else if (strcasecmp(cmd, "NOOP") == 0) {
			/* the first poll brings the next message */
			if (++s->noops == 1 && s->n_visible < NMSG) {
				s->n_visible++;
				fake_printf(f, "* %d EXISTS\r\n", s->n_visible);
			}
			fake_printf(f, "%s OK done\r\n", tag);
		} else if (strcasecmp(cmd, "LOGOUT") == 0) {
			fake_printf(f, "* BYE bye\r\n%s OK done\r\n", tag);
			return;
		} else {
			fake_printf(f, "%s BAD what?\r\n", tag);
		}
	}
}

/* ---- the test harness: one account, one inbox_run thread ---- */

static struct testpki *pki;
static char dir[] = "/tmp/kyso-inbox-XXXXXX";
static char logpath[128];

static void
setup(void)
{
	char dbpath[128];
	int fd;

	pki = testpki_new();
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(logpath, sizeof(logpath), "%s/agent.log", dir);
	snprintf(dbpath, sizeof(dbpath), "%s/kyso.db", dir);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	ck_assert_int_ge(fd, 0);
	log_setup(LOG_LEVEL_DEBUG, LOG_TARGET_FD, fd);
	(void)dbpath;
}

static void
teardown(void)
{
	char cmd[160];

	testpki_free(&pki);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/kyso-inbox-XXXXXX");
}

struct run {
	struct agent ag;
	struct conf conf;
	struct conf_account acct;
	struct account_rt rt;
	pthread_t t;
};

static void *
run_main(void *arg)
{
	struct run *r = arg;

	inbox_run(&r->rt, "INBOX");
	return NULL;
}

static void
run_start(struct run *r, uint16_t port)
{
	struct kerr e = KERR_INIT;
	char dbpath[160];

	memset(r, 0, sizeof(*r));
	snprintf(dbpath, sizeof(dbpath), "%s/kyso.db", dir);
	r->ag.log = logdb_open(dbpath, &e);
	ck_assert_msg(r->ag.log != NULL, "%s", e.msg);
	r->ag.trust = smime_trust_new(pki->ca_file, NULL, NULL, &e);
	ck_assert_msg(r->ag.trust != NULL, "%s", e.msg);
	r->ag.conf = &r->conf;
	r->conf.agent.poll_s = 1;
	r->acct.name = "a";
	r->acct.address = "a@x.vn";
	r->acct.username = "a@x.vn";
	r->acct.imap.host = "127.0.0.1";
	r->acct.imap.port = port;
	r->acct.imap.tls = CONF_TLS_IMPLICIT;
	r->acct.tls_ca = pki->ca_file;
	r->acct.tls_verify = true;
	r->acct.backlog = CONF_BACKLOG_ALL;
	r->rt.ag = &r->ag;
	r->rt.conf = &r->conf;
	r->rt.acct = &r->acct;
	r->rt.password = "secret-password";
	ck_assert_int_eq(pipe(r->rt.wake_fd), 0);
	pthread_mutex_init(&r->rt.lock, NULL);
	ck_assert_int_eq(pthread_create(&r->t, NULL, run_main, r), 0);
}

static bool
seen(struct run *r, uint32_t uid)
{
	struct logdb_place p = { "a", "a@x.vn", "INBOX", 77, uid };
	struct kerr e = KERR_INIT;
	bool s = false;

	ck_assert_msg(logdb_seen(r->ag.log, &p, &s, &e), "%s", e.msg);
	return s;
}

static void
wait_seen(struct run *r, uint32_t uid)
{
	int64_t end = test_now_ms() + 8000;

	while (!seen(r, uid) && test_now_ms() < end)
		usleep(20000);
	ck_assert_msg(seen(r, uid), "UID %u was never logged", uid);
}

/* The folder's saved position: moved past a UID only after its keywords are
 * stored (the log row comes before the STORE, so wait_seen alone races
 * run_stop against the STORE). */
static uint32_t
position(struct run *r)
{
	struct kerr e = KERR_INIT;
	uint32_t uv = 0, last = 0;
	bool found = false;

	ck_assert_msg(logdb_folder_get(r->ag.log, "a", "INBOX", &uv, &last, &found, &e), "%s", e.msg);
	return found ? last : 0;
}

static void
wait_done(struct run *r, uint32_t uid)
{
	int64_t end = test_now_ms() + 8000;

	while (position(r) < uid && test_now_ms() < end)
		usleep(20000);
	ck_assert_msg(position(r) >= uid, "UID %u was never done (position %u)", uid, position(r));
}

static void
run_stop(struct run *r)
{
	atomic_store(&r->rt.stop, true);
	(void)!write(r->rt.wake_fd[1], "x", 1);
	pthread_mutex_lock(&r->rt.lock);
	for (size_t i = 0; i < 8; i++)
		if (r->rt.sessions[i] != NULL)
			imapc_cancel(r->rt.sessions[i]);
	pthread_mutex_unlock(&r->rt.lock);
	pthread_join(r->t, NULL);
	close(r->rt.wake_fd[0]);
	close(r->rt.wake_fd[1]);
	pthread_mutex_destroy(&r->rt.lock);
	logdb_close(&r->ag.log);
	smime_trust_free(&r->ag.trust);
}

static char *
read_log(void)
{
	struct buf b = BUF_INIT;
	FILE *fp = fopen(logpath, "r");
	char chunk[4096];
	size_t n;

	ck_assert_ptr_nonnull(fp);
	buf_append(&b, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(&b, chunk, n);
	fclose(fp);
	return buf_steal(&b, NULL);
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* No IDLE: polls with NOOP; keywords allowed: the forged one goes, ours comes. */
START_TEST(poll_and_replace_forged)
{
	struct srv s = { .permanentflags = "(\\Seen \\Deleted \\*)", .n_visible = 1,
	    .flags = { NULL, "\\Recent KySo_HopLe $Label1", "KySo_MaHoa kyso_tepkhonghople", "" } };
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct fake *f = fake_start(srv_imap, &s, ctx);
	struct run r;
	char *sent, *log;

	run_start(&r, fake_port(f));
	wait_seen(&r, 1);
	wait_seen(&r, 2);          /* arrived while polling */
	wait_done(&r, 2);
	run_stop(&r);
	sent = fake_finish(&f);
	SSL_CTX_free(ctx);
	log = read_log();
	ck_assert_msg(strstr(sent, "NOOP") != NULL, "no NOOP: %s", sent);
	ck_assert_msg(strstr(sent, "IDLE") == NULL, "IDLE sent to a server without it: %s", sent);
	ck_assert_msg(strstr(sent, "BODY.PEEK[]") != NULL, "%s", sent);
	ck_assert_msg(strstr(sent, "UID STORE 1 -FLAGS.SILENT (KySo_HopLe)") != NULL, "%s", sent);
	ck_assert_msg(strstr(sent, "UID STORE 1 +FLAGS.SILENT (KySo_KhongKy)") != NULL, "%s", sent);
	/* a forged attachment keyword on a message without signed attachments goes too */
	ck_assert_msg(strstr(sent, "UID STORE 2 -FLAGS.SILENT (KySo_MaHoa kyso_tepkhonghople)") != NULL, "%s", sent);
	ck_assert_msg(strstr(sent, "KySo_Tep") == NULL, "an attachment keyword set: %s", sent);
	ck_assert_msg(strstr(sent, "$Label1") == NULL && strstr(sent, "\\Seen") == NULL,
	    "touched a foreign flag: %s", sent);
	ck_assert_msg(strstr(sent, "secret-password") != NULL, "LOGIN expected");
	ck_assert_msg(strstr(log, "secret-password") == NULL, "password in the log");
	ck_assert_msg(strstr(log, "verdict=unsigned attachments=-") != NULL, "%s", log);
	free(sent);
	free(log);
}
END_TEST

/* PERMANENTFLAGS without \* : results are logged, never stored; warned once. */
START_TEST(no_keywords_logged_only)
{
	struct srv s = { .permanentflags = "(\\Seen \\Deleted)", .n_visible = 1, .flags = { NULL, "", "", "" } };
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct fake *f = fake_start(srv_imap, &s, ctx);
	struct run r;
	char *sent, *log;

	run_start(&r, fake_port(f));
	wait_seen(&r, 1);
	wait_seen(&r, 2);
	run_stop(&r);
	sent = fake_finish(&f);
	SSL_CTX_free(ctx);
	log = read_log();
	ck_assert_msg(strstr(sent, "STORE") == NULL, "STORE in a folder without keywords: %s", sent);
	ck_assert_int_eq(count(log, "result=no-keywords"), 1);
	free(sent);
	free(log);
}
END_TEST

/* UID 3 is listed but gone when fetched: skipped, the rest goes on. */
START_TEST(vanished_skipped)
{
	struct srv s = { .permanentflags = "(\\*)", .n_visible = 3, .vanish3 = true, .flags = { NULL, "", "", "" } };
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct fake *f = fake_start(srv_imap, &s, ctx);
	struct run r;
	char *sent, *log;
	int64_t end;

	run_start(&r, fake_port(f));
	wait_seen(&r, 2);
	end = test_now_ms() + 3000;
	while (s.noops == 0 && test_now_ms() < end)   /* reached the waiting loop */
		usleep(20000);
	ck_assert(!seen(&r, 3));
	run_stop(&r);
	sent = fake_finish(&f);
	SSL_CTX_free(ctx);
	log = read_log();
	ck_assert_msg(strstr(log, "uid=3 step=fetch result=gone") != NULL, "%s", log);
	ck_assert_msg(strstr(sent, "UID FETCH 3 BODY") == NULL, "fetched a vanished message: %s", sent);
	free(sent);
	free(log);
}
END_TEST

START_TEST(keyword_defaults)
{
	struct conf c;

	memset(&c, 0, sizeof(c));
	ck_assert_str_eq(inbox_keyword(NULL, SMIME_VERDICT_VALID), "KySo_HopLe");
	ck_assert_str_eq(inbox_keyword(&c, SMIME_VERDICT_PARTIAL), "KySo_MotPhan");
	ck_assert_str_eq(inbox_keyword(&c, SMIME_VERDICT_INVALID), "KySo_KhongHopLe");
	ck_assert_str_eq(inbox_keyword(&c, SMIME_VERDICT_INDETERMINATE), "KySo_ChuaXacDinh");
	ck_assert_str_eq(inbox_keyword(&c, SMIME_VERDICT_UNSIGNED), "KySo_KhongKy");
	ck_assert_str_eq(inbox_keyword(&c, SMIME_VERDICT_ENCRYPTED), "KySo_MaHoa");
	ck_assert_str_eq(inbox_keyword(&c, SMIME_VERDICT_MALFORMED), "KySo_LoiDinhDang");
	c.agent.keywords[SMIME_VERDICT_VALID] = "Signed_OK";
	ck_assert_str_eq(inbox_keyword(&c, SMIME_VERDICT_VALID), "Signed_OK");
	ck_assert_str_eq(inbox_keyword(&c, (enum smime_verdict)99), "KySo_LoiDinhDang");
}
END_TEST

START_TEST(attachment_keyword_defaults)
{
	struct conf c;

	memset(&c, 0, sizeof(c));
	ck_assert_str_eq(inbox_attachment_keyword(NULL, SMIME_VERDICT_VALID), "KySo_TepHopLe");
	ck_assert_str_eq(inbox_attachment_keyword(&c, SMIME_VERDICT_PARTIAL), "KySo_TepMotPhan");
	ck_assert_str_eq(inbox_attachment_keyword(&c, SMIME_VERDICT_INVALID), "KySo_TepKhongHopLe");
	ck_assert_str_eq(inbox_attachment_keyword(&c, SMIME_VERDICT_INDETERMINATE), "KySo_TepChuaXacDinh");
	ck_assert_str_eq(inbox_attachment_keyword(&c, SMIME_VERDICT_MALFORMED), "KySo_TepChuaXacDinh");
	c.agent.attachment_keywords[SMIME_VERDICT_INVALID] = "Tep_Xau";
	ck_assert_str_eq(inbox_attachment_keyword(&c, SMIME_VERDICT_INVALID), "Tep_Xau");
}
END_TEST

/* The attachments' verdict: the worst signed one; none when none is signed. */
START_TEST(attachment_verdict_order)
{
	static const struct {
		enum smime_verdict in[4];
		size_t n;
		bool has;
		enum smime_verdict want;
	} cases[] = {
		{ { 0 }, 0, false, 0 },
		{ { SMIME_VERDICT_UNSIGNED, SMIME_VERDICT_UNSIGNED }, 2, false, 0 },
		{ { SMIME_VERDICT_UNSIGNED, SMIME_VERDICT_VALID }, 2, true, SMIME_VERDICT_VALID },
		{ { SMIME_VERDICT_VALID, SMIME_VERDICT_PARTIAL }, 2, true, SMIME_VERDICT_PARTIAL },
		{ { SMIME_VERDICT_PARTIAL, SMIME_VERDICT_MALFORMED, SMIME_VERDICT_VALID }, 3, true,
		  SMIME_VERDICT_INDETERMINATE },
		{ { SMIME_VERDICT_ENCRYPTED }, 1, true, SMIME_VERDICT_INDETERMINATE },
		{ { SMIME_VERDICT_INDETERMINATE, SMIME_VERDICT_PARTIAL }, 2, true, SMIME_VERDICT_INDETERMINATE },
		{ { SMIME_VERDICT_INDETERMINATE, SMIME_VERDICT_INVALID, SMIME_VERDICT_VALID }, 3, true,
		  SMIME_VERDICT_INVALID },
		{ { SMIME_VERDICT_INVALID, SMIME_VERDICT_MALFORMED, SMIME_VERDICT_UNSIGNED }, 3, true,
		  SMIME_VERDICT_INVALID },
	};
	struct smime_attachment a[4];
	struct smime_report r;
	enum smime_verdict v;

	ck_assert(!inbox_attachment_verdict(NULL, &v));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0, sizeof(r));
		memset(a, 0, sizeof(a));
		for (size_t j = 0; j < cases[i].n; j++)
			a[j].verdict = cases[i].in[j];
		r.verdict = SMIME_VERDICT_UNSIGNED;
		r.attachments = a;
		r.n_attachments = cases[i].n;
		v = (enum smime_verdict)99;
		ck_assert_msg(inbox_attachment_verdict(&r, &v) == cases[i].has, "case %zu", i);
		if (cases[i].has)
			ck_assert_msg(v == cases[i].want, "case %zu: %s, not %s", i, smime_verdict_code(v),
			    smime_verdict_code(cases[i].want));
		else
			ck_assert_msg(v == (enum smime_verdict)99, "case %zu: v_r written", i);
	}
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("inbox");
	TCase *tc = tcase_create("inbox");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, poll_and_replace_forged);
	tcase_add_test(tc, no_keywords_logged_only);
	tcase_add_test(tc, vanished_skipped);
	tcase_add_test(tc, keyword_defaults);
	tcase_add_test(tc, attachment_keyword_defaults);
	tcase_add_test(tc, attachment_verdict_order);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
