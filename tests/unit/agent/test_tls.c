/* Unit tests of agent/tls.c: against in-process TLS servers with a PKI made here. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "agent/log.h"
#include "agent/tls.h"
#include "tests/unit/agent/nettest.h"
#include "tests/unit/testmain.h"

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

static struct tls_opts
opts(const char *ca, bool verify, int timeout_s, const char *name)
{
	struct tls_opts o = { .ca_file = ca, .verify = verify, .timeout_s = timeout_s, .tls_name = name };

	return o;
}

/* Connect and handshake; NULL with err on failure. */
static struct tls_conn *
dial(const char *host, uint16_t port, const struct tls_opts *o, struct kerr *err)
{
	struct tls_conn *c = tls_conn_connect(host, port, o, err);

	if (c != NULL && !tls_conn_handshake(c, err))
		tls_conn_free(&c);
	return c;
}

/* ---- servers ---- */

static void
srv_hello(struct fake *f, void *arg)
{
	char line[256];

	(void)arg;
	fake_printf(f, "* hello\r\n");
	if (fake_readline(f, line, sizeof(line)))
		fake_printf(f, "echo %s\r\n", line);
}

static void
srv_silent(struct fake *f, void *arg)
{
	(void)arg;
	fake_hold(f);
}

static void
srv_plain_greeting(struct fake *f, void *arg)
{
	(void)arg;
	fake_printf(f, "* OK IMAP4rev1 ready\r\n");
	fake_hold(f);
}

static void
srv_close_at_once(struct fake *f, void *arg)
{
	(void)f; (void)arg;
}

static void
srv_vanish(struct fake *f, void *arg)
{
	(void)arg;
	fake_drop(f);
}

static void
srv_late_data(struct fake *f, void *arg)
{
	(void)arg;
	usleep(300 * 1000);
	fake_printf(f, "* late\r\n");
	fake_hold(f);
}

/* Echo n bytes back (n = *(size_t *)arg). */
static void
srv_echo_n(struct fake *f, void *arg)
{
	struct buf b = BUF_INIT;

	if (fake_read_n(f, *(size_t *)arg, &b))
		fake_write(f, b.data, b.len);
	buf_release(&b);
	fake_hold(f);
}

struct starttls_script {
	SSL_CTX *ctx;
	const char *after_ok;   /* extra bytes sent with the go-ahead (injection) */
};

static void
srv_starttls(struct fake *f, void *arg)
{
	struct starttls_script *s = arg;
	char line[256];

	fake_printf(f, "* plain greeting\r\n");
	if (!fake_readline(f, line, sizeof(line)) || strcmp(line, "STARTTLS") != 0)
		return;
	fake_printf(f, "OK go ahead\r\n%s", s->after_ok);
	if (fake_starttls(f, s->ctx))
		fake_printf(f, "* inside TLS\r\n");
	fake_hold(f);
}

/* ---- tests ---- */

START_TEST(verified_by_name)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct fake *f = fake_start(srv_hello, NULL, ctx);
	struct tls_opts o = opts(pki->ca_file, true, 5, NULL);
	struct kerr err = KERR_INIT;
	struct tls_conn *c = dial("localhost", fake_port(f), &o, &err);
	MMAPString *line = mmap_string_new("");
	mailstream *s;
	char *got;

	ck_assert_msg(c != NULL, "%s", err.msg);
	ck_assert(tls_conn_is_tls(c));
	ck_assert_msg(strncmp(tls_conn_describe(c), "TLSv1.", 6) == 0, "%s", tls_conn_describe(c));
	s = tls_conn_stream_new(c);
	ck_assert_str_eq(mailstream_read_line(s, line), "* hello\r\n");
	ck_assert_int_eq(mailstream_write(s, "ping\r\n", 6), 6);
	ck_assert_int_eq(mailstream_flush(s), 0);
	ck_assert_str_eq(mailstream_read_line(s, line), "echo ping\r\n");
	mailstream_close(s);
	tls_conn_free(&c);
	got = fake_finish(&f);
	ck_assert_str_eq(got, "ping\r\n");
	ck_assert_str_eq(testpki_last_sni(), "localhost");
	free(got);
	mmap_string_free(line);
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(verified_by_ip_without_sni)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct fake *f = fake_start(srv_hello, NULL, ctx);
	struct tls_opts o = opts(pki->ca_file, true, 5, NULL);
	struct kerr err = KERR_INIT;
	struct tls_conn *c = dial("127.0.0.1", fake_port(f), &o, &err);

	ck_assert_msg(c != NULL, "%s", err.msg);
	tls_conn_free(&c);
	free(fake_finish(&f));
	ck_assert_str_eq(testpki_last_sni(), "");  /* RFC 6066: no SNI for IP addresses */
	SSL_CTX_free(ctx);
}
END_TEST

/* Every way verification must fail, with the exact message and class. */
static const struct {
	const char *host;
	const char *name;
	bool other_ca;
	const char *want;    /* after "HOST:PORT: "; with other_ca, " (CA file ...)" follows */
} refused[] = {
	{ "localhost", NULL, true,
	  "TLS certificate verify failed: unable to get local issuer certificate" },
	{ "localhost", "mail.example.org", false,
	  "TLS certificate verify failed: host name mismatch: certificate is not for mail.example.org" },
	{ "127.0.0.1", "127.0.0.3", false,
	  "TLS certificate verify failed: host name mismatch: certificate is not for 127.0.0.3" },
	{ "localhost", "localhost.evil.example", false,
	  "TLS certificate verify failed: host name mismatch: certificate is not for localhost.evil.example" },
	{ "127.0.0.1", "::1", false,
	  "TLS certificate verify failed: host name mismatch: certificate is not for ::1" },
};

START_TEST(verify_refused)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct fake *f = fake_start(srv_hello, NULL, ctx);
	const char *ca = refused[_i].other_ca ? pki->other_ca_file : pki->ca_file;
	struct tls_opts o = opts(ca, true, 5, refused[_i].name);
	struct kerr err = KERR_INIT;
	struct tls_conn *c = dial(refused[_i].host, fake_port(f), &o, &err);
	char want[600];

	ck_assert_ptr_null(c);
	if (refused[_i].other_ca)
		snprintf(want, sizeof(want), "%s:%u: %s (CA file %s)", refused[_i].host, fake_port(f),
		    refused[_i].want, ca);
	else
		snprintf(want, sizeof(want), "%s:%u: %s", refused[_i].host, fake_port(f),
		    refused[_i].want);
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	free(fake_finish(&f));
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(verify_off_is_loud)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct fake *f = fake_start(srv_hello, NULL, ctx);
	struct tls_opts o = opts(pki->other_ca_file, false, 5, "mail.example.org");
	struct kerr err = KERR_INIT;
	FILE *logf = tmpfile();
	char logbuf[2048] = "";
	struct tls_conn *c;

	ck_assert_ptr_nonnull(logf);
	log_setup(LOG_LEVEL_INFO, LOG_TARGET_FD, fileno(logf));
	c = dial("localhost", fake_port(f), &o, &err);
	log_setup(LOG_LEVEL_INFO, LOG_TARGET_STDERR, -1);
	ck_assert_msg(c != NULL, "%s", err.msg);
	rewind(logf);
	logbuf[fread(logbuf, 1, sizeof(logbuf) - 1, logf)] = '\0';
	fclose(logf);
	ck_assert_msg(strstr(logbuf, " warn tls host=localhost:") != NULL, "log: %s", logbuf);
	ck_assert_msg(strstr(logbuf, "verify=no") != NULL, "log: %s", logbuf);
	tls_conn_free(&c);
	free(fake_finish(&f));
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(bad_ca_file)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct fake *f = fake_start(srv_hello, NULL, ctx);
	char *missing = xasprintf("%s/nope.pem", pki->dir);
	struct tls_opts o = opts(missing, true, 5, NULL);
	struct kerr err = KERR_INIT;
	struct tls_conn *c = dial("localhost", fake_port(f), &o, &err);

	ck_assert_ptr_null(c);
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	ck_assert_msg(strstr(err.msg, ": cannot load CA file ") != NULL, "%s", err.msg);
	ck_assert_msg(strstr(err.msg, missing) != NULL, "%s", err.msg);
	/* the server's key file is not a CA file either */
	o.ca_file = pki->server_key_file;
	c = dial("localhost", fake_port(f), &o, &err);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	free(missing);
	free(fake_finish(&f));
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(obsolete_server_refused)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, TLS1_1_VERSION);
	struct fake *f = fake_start(srv_hello, NULL, ctx);
	struct tls_opts o = opts(pki->ca_file, true, 5, NULL);
	struct kerr err = KERR_INIT;
	struct tls_conn *c = dial("localhost", fake_port(f), &o, &err);

	ck_assert_ptr_null(c);
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	ck_assert_msg(strstr(err.msg, ": TLS handshake failed: ") != NULL, "%s", err.msg);
	free(fake_finish(&f));
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(plain_server_on_tls_port)
{
	struct fake *f = fake_start(srv_plain_greeting, NULL, NULL);
	struct tls_opts o = opts(pki->ca_file, true, 5, NULL);
	struct kerr err = KERR_INIT;
	struct tls_conn *c = dial("localhost", fake_port(f), &o, &err);

	ck_assert_ptr_null(c);
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	ck_assert_msg(strstr(err.msg, ": TLS handshake failed: ") != NULL, "%s", err.msg);
	free(fake_finish(&f));
}
END_TEST

START_TEST(handshake_timeout)
{
	struct fake *f = fake_start(srv_silent, NULL, NULL);
	struct tls_opts o = opts(pki->ca_file, true, 1, NULL);
	struct kerr err = KERR_INIT;
	int64_t t0 = test_now_ms();
	struct tls_conn *c = dial("localhost", fake_port(f), &o, &err);
	int64_t took = test_now_ms() - t0;
	char want[128];

	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "localhost:%u: TLS handshake timed out after 1 s", fake_port(f));
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(err.cls, KERR_TEMP);
	ck_assert_msg(took >= 900 && took < 3000, "took %lld ms", (long long)took);
	free(fake_finish(&f));
}
END_TEST

START_TEST(server_hangs_up_in_handshake)
{
	struct fake *f = fake_start(srv_close_at_once, NULL, NULL);
	struct tls_opts o = opts(pki->ca_file, true, 5, NULL);
	struct kerr err = KERR_INIT;
	int64_t t0 = test_now_ms();
	struct tls_conn *c = dial("localhost", fake_port(f), &o, &err);
	char want[128];

	ck_assert_ptr_null(c);
	ck_assert(test_now_ms() - t0 < 2000);
	/* "server closed the connection", or "Connection reset by peer" when the
	 * server's kernel still held our ClientHello unread */
	snprintf(want, sizeof(want), "localhost:%u: TLS handshake: ", fake_port(f));
	ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
	ck_assert_msg(strstr(err.msg, "closed") != NULL || strstr(err.msg, "reset") != NULL, "%s",
	    err.msg);
	ck_assert_int_eq(err.cls, KERR_TEMP);
	free(fake_finish(&f));
}
END_TEST

START_TEST(connection_refused)
{
	uint16_t port = closed_port();
	struct tls_opts o = opts(pki->ca_file, true, 5, NULL);
	struct kerr err = KERR_INIT;
	struct tls_conn *c = tls_conn_connect("127.0.0.1", port, &o, &err);
	char want[128];

	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "127.0.0.1:%u: connect: Connection refused", port);
	ck_assert_str_eq(err.msg, want);
	ck_assert_int_eq(err.cls, KERR_TEMP);
}
END_TEST

START_TEST(read_timeout)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct fake *f = fake_start(srv_silent, NULL, ctx);
	struct tls_opts o = opts(pki->ca_file, true, 1, NULL);
	struct kerr err = KERR_INIT;
	struct tls_conn *c = dial("localhost", fake_port(f), &o, &err);
	char byte;
	mailstream *s;
	int64_t t0;

	ck_assert_msg(c != NULL, "%s", err.msg);
	s = tls_conn_stream_new(c);
	t0 = test_now_ms();
	ck_assert_int_eq(mailstream_read(s, &byte, 1), -1);
	ck_assert(test_now_ms() - t0 < 3000);
	ck_assert(tls_conn_io_error(c, &err));
	ck_assert_str_eq(err.msg, "timed out after 1 s waiting for the server");
	ck_assert_int_eq(err.cls, KERR_TEMP);
	mailstream_close(s);
	tls_conn_free(&c);
	free(fake_finish(&f));
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(server_closes)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct fake *f = fake_start(srv_close_at_once, NULL, ctx);
	struct tls_opts o = opts(pki->ca_file, true, 5, NULL);
	struct kerr err = KERR_INIT;
	struct tls_conn *c = dial("localhost", fake_port(f), &o, &err);
	char byte;
	mailstream *s;

	ck_assert_msg(c != NULL, "%s", err.msg);
	s = tls_conn_stream_new(c);
	free(fake_finish(&f));   /* the server has gone */
	ck_assert_int_eq(mailstream_read(s, &byte, 1), -1);
	ck_assert(tls_conn_io_error(c, &err));
	ck_assert_str_eq(err.msg, "server closed the connection");
	mailstream_close(s);
	tls_conn_free(&c);
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(server_vanishes)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct fake *f = fake_start(srv_vanish, NULL, ctx);
	struct tls_opts o = opts(pki->ca_file, true, 5, NULL);
	struct kerr err = KERR_INIT;
	struct tls_conn *c = dial("localhost", fake_port(f), &o, &err);
	char byte;
	mailstream *s;

	ck_assert_msg(c != NULL, "%s", err.msg);
	s = tls_conn_stream_new(c);
	free(fake_finish(&f));   /* gone without close_notify */
	ck_assert_int_eq(mailstream_read(s, &byte, 1), -1);
	ck_assert(tls_conn_io_error(c, &err));
	ck_assert_str_eq(err.msg, "server closed the connection");
	ck_assert_int_eq(err.cls, KERR_TEMP);
	mailstream_close(s);
	tls_conn_free(&c);
	SSL_CTX_free(ctx);
}
END_TEST

static void *
cancel_later(void *arg)
{
	usleep(200 * 1000);
	tls_conn_cancel(arg);
	return NULL;
}

START_TEST(cancel_wakes_a_blocked_read)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct fake *f = fake_start(srv_silent, NULL, ctx);
	struct tls_opts o = opts(pki->ca_file, true, 30, NULL);
	struct kerr err = KERR_INIT;
	struct tls_conn *c = dial("localhost", fake_port(f), &o, &err);
	pthread_t th;
	char byte;
	mailstream *s;
	int64_t t0;

	ck_assert_msg(c != NULL, "%s", err.msg);
	s = tls_conn_stream_new(c);
	t0 = test_now_ms();
	pthread_create(&th, NULL, cancel_later, c);
	ck_assert_int_eq(mailstream_read(s, &byte, 1), -1);
	ck_assert(test_now_ms() - t0 < 2000);
	pthread_join(th, NULL);
	ck_assert(tls_conn_io_error(c, &err));
	ck_assert_str_eq(err.msg, "cancelled");
	ck_assert_int_eq(tls_conn_wait(c, 1000), TLS_WAIT_CANCELLED);
	mailstream_close(s);
	tls_conn_free(&c);
	free(fake_finish(&f));
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(wait_for_data)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct fake *f = fake_start(srv_late_data, NULL, ctx);
	struct tls_opts o = opts(pki->ca_file, true, 5, NULL);
	struct kerr err = KERR_INIT;
	struct tls_conn *c = dial("localhost", fake_port(f), &o, &err);
	MMAPString *line = mmap_string_new("");
	mailstream *s;

	ck_assert_msg(c != NULL, "%s", err.msg);
	s = tls_conn_stream_new(c);
	ck_assert_int_eq(tls_conn_wait(c, 50), TLS_WAIT_TIMEOUT);
	ck_assert_int_eq(tls_conn_wait(c, 3000), TLS_WAIT_READABLE);
	ck_assert_str_eq(mailstream_read_line(s, line), "* late\r\n");
	mailstream_close(s);
	tls_conn_free(&c);
	free(fake_finish(&f));
	mmap_string_free(line);
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(big_transfer_is_exact)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	size_t n = 3 * 1024 * 1024 + 17;
	struct fake *f = fake_start(srv_echo_n, &n, ctx);
	struct tls_opts o = opts(pki->ca_file, true, 10, NULL);
	struct kerr err = KERR_INIT;
	struct tls_conn *c = dial("localhost", fake_port(f), &o, &err);
	char *out = xmalloc(n), *in = xmalloc(n);
	size_t got = 0;
	mailstream *s;

	ck_assert_msg(c != NULL, "%s", err.msg);
	for (size_t i = 0; i < n; i++)
		out[i] = (char)((i * 7919) >> 3);
	s = tls_conn_stream_new(c);
	ck_assert_int_eq(mailstream_write(s, out, n), (ssize_t)n);
	ck_assert_int_eq(mailstream_flush(s), 0);
	while (got < n) {
		ssize_t r = mailstream_read(s, in + got, n - got);

		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
	ck_assert(memcmp(in, out, n) == 0);
	mailstream_close(s);
	tls_conn_free(&c);
	free(fake_finish(&f));
	free(in);
	free(out);
	SSL_CTX_free(ctx);
}
END_TEST

static void
starttls_case(const char *after_ok, bool want_ok)
{
	SSL_CTX *ctx = testpki_server_ctx(pki, 0);
	struct starttls_script script = { ctx, after_ok };
	struct fake *f = fake_start(srv_starttls, &script, NULL);
	struct tls_opts o = opts(pki->ca_file, true, 5, NULL);
	struct kerr err = KERR_INIT;
	struct tls_conn *c = tls_conn_connect("localhost", fake_port(f), &o, &err);
	MMAPString *line = mmap_string_new("");
	mailstream *s;
	char want[200];

	ck_assert_msg(c != NULL, "%s", err.msg);
	s = tls_conn_stream_new(c);
	ck_assert_str_eq(mailstream_read_line(s, line), "* plain greeting\r\n");
	ck_assert(!tls_conn_is_tls(c));
	mailstream_write(s, "STARTTLS\r\n", 10);
	mailstream_flush(s);
	ck_assert_str_eq(mailstream_read_line(s, line), "OK go ahead\r\n");
	if (want_ok) {
		ck_assert_msg(tls_stream_starttls(s, &err), "%s", err.msg);
		ck_assert(tls_conn_is_tls(c));
		ck_assert_str_eq(mailstream_read_line(s, line), "* inside TLS\r\n");
	} else {
		ck_assert(!tls_stream_starttls(s, &err));
		snprintf(want, sizeof(want), "localhost:%u: the server sent %zu unexpected bytes",
		    fake_port(f), strlen(after_ok));
		ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
		ck_assert_int_eq(err.cls, KERR_CONFIG);
		ck_assert(!tls_conn_is_tls(c));
	}
	mailstream_close(s);
	tls_conn_free(&c);
	free(fake_finish(&f));
	mmap_string_free(line);
	SSL_CTX_free(ctx);
}

START_TEST(starttls_upgrades_in_place)
{
	starttls_case("", true);
}
END_TEST

START_TEST(starttls_refuses_injected_bytes)
{
	starttls_case("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n", false);
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("tls");

	tcase_add_unchecked_fixture(tc, setup, teardown);  /* one PKI, made in the parent */
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, verified_by_name);
	tcase_add_test(tc, verified_by_ip_without_sni);
	tcase_add_loop_test(tc, verify_refused, 0, (int)(sizeof(refused) / sizeof(refused[0])));
	tcase_add_test(tc, verify_off_is_loud);
	tcase_add_test(tc, bad_ca_file);
	tcase_add_test(tc, obsolete_server_refused);
	tcase_add_test(tc, plain_server_on_tls_port);
	tcase_add_test(tc, handshake_timeout);
	tcase_add_test(tc, server_hangs_up_in_handshake);
	tcase_add_test(tc, connection_refused);
	tcase_add_test(tc, read_timeout);
	tcase_add_test(tc, server_closes);
	tcase_add_test(tc, server_vanishes);
	tcase_add_test(tc, cancel_wakes_a_blocked_read);
	tcase_add_test(tc, wait_for_data);
	tcase_add_test(tc, big_transfer_is_exact);
	tcase_add_test(tc, starttls_upgrades_in_place);
	tcase_add_test(tc, starttls_refuses_injected_bytes);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
