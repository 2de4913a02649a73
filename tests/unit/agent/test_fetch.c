/* Unit tests of agent/fetch.c: against an in-process HTTP server that
 * misbehaves on purpose (tests/unit/httpd.c).  Table-driven, bad inputs in
 * every table; the chunked body is also sent one byte at a time. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/fetch.h"
#include "agent/log.h"
#include "tests/unit/httpd.h"
#include "tests/unit/testmain.h"

static struct httpd *srv;

static int64_t
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
reply(int fd, const char *s)
{
	httpd_write(fd, s, strlen(s));
}

static void
handler(struct httpd *h, int fd, const struct httpd_req *req, void *arg)
{
	const char *t = req->target;

	(void)arg;
	if (strcmp(t, "/hello") == 0 || strcmp(t, "/a/b?x=1") == 0)
		reply(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
	else if (strcmp(t, "/echo") == 0) {
		httpd_printf(fd, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s %s ",
		    strlen(req->method) + strlen(req->content_type) + req->body.len + 2,
		    req->method, req->content_type);
		httpd_write(fd, req->body.data, req->body.len);     /* may hold NUL bytes */
	} else if (strcmp(t, "/chunked") == 0) {
		const char *s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "5\r\nhello\r\n6;name=value\r\n world\r\nA \r\n, chunked!\r\n0\r\nX-Trailer: 1\r\n\r\n";

		for (; *s != '\0'; s++)         /* one byte at a time */
			httpd_write(fd, s, 1);
	} else if (strcmp(t, "/chunkzeros") == 0)
		reply(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
		    "000000000000000000002\r\nok\r\n00\r\n\r\n");
	else if (strcmp(t, "/close") == 0)
		reply(fd, "HTTP/1.0 200 OK\r\nContent-Type: application/pkix-crl\r\n\r\nread to the end");
	else if (strcmp(t, "/interim") == 0)
		reply(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	else if (strcmp(t, "/r1") == 0)
		reply(fd, "HTTP/1.1 302 Found\r\nLocation: r2\r\nContent-Length: 0\r\n\r\n");
	else if (strcmp(t, "/r2") == 0)
		reply(fd, "HTTP/1.1 301 Moved Permanently\r\nLocation: /r3\r\nContent-Length: 0\r\n\r\n");
	else if (strcmp(t, "/r3") == 0)
		httpd_printf(fd, "HTTP/1.1 308 Permanent Redirect\r\nLocation: http://%s/hello\r\n\r\n", req->host);
	else if (strcmp(t, "/loop") == 0)
		reply(fd, "HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n");
	else if (strcmp(t, "/tohttps") == 0)
		reply(fd, "HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1/x\r\nContent-Length: 0\r\n\r\n");
	else if (strcmp(t, "/noloc") == 0)
		reply(fd, "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n");
	else if (strcmp(t, "/post303") == 0)
		reply(fd, "HTTP/1.1 303 See Other\r\nLocation: /echo\r\nContent-Length: 0\r\n\r\n");
	else if (strcmp(t, "/post307") == 0)
		reply(fd, "HTTP/1.1 307 Temporary Redirect\r\nLocation: /echo\r\nContent-Length: 0\r\n\r\n");
	else if (strcmp(t, "/busy") == 0)
		reply(fd, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
	else if (strcmp(t, "/big") == 0) {
		reply(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
		for (int i = 0; i < 10; i++)
			reply(fd, "0123456789");
	} else if (strcmp(t, "/bigchunked") == 0)
		reply(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "8\r\n01234567\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n");
	else if (strcmp(t, "/hugechunk") == 0)
		reply(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nx");
	else if (strcmp(t, "/bigclose") == 0) {
		reply(fd, "HTTP/1.0 200 OK\r\n\r\n");
		for (int i = 0; i < 10; i++)
			reply(fd, "0123456789");
	} else if (strcmp(t, "/slow") == 0)
		httpd_hold(h, fd, HTTPD_TIMEOUT_MS);
	else if (strcmp(t, "/slowbody") == 0) {
		reply(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
		httpd_hold(h, fd, HTTPD_TIMEOUT_MS);
	} else if (strcmp(t, "/truncated") == 0)
		reply(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
	else if (strcmp(t, "/garbage") == 0)
		reply(fd, "220 mail.example ESMTP\r\n\r\n");
	else if (strcmp(t, "/empty") == 0)
		;       /* close without a word */
	else if (strcmp(t, "/hugeheader") == 0) {
		reply(fd, "HTTP/1.1 200 OK\r\nX-Big: ");
		for (int i = 0; i < 2000; i++)
			reply(fd, "aaaaaaaaaa");
		reply(fd, "\r\nContent-Length: 2\r\n\r\nok");
	} else if (strcmp(t, "/manyheaders") == 0) {
		reply(fd, "HTTP/1.1 200 OK\r\n");
		for (int i = 0; i < 2000; i++)
			httpd_printf(fd, "X-H%d: v\r\n", i);
		reply(fd, "Content-Length: 2\r\n\r\nok");
	} else if (strcmp(t, "/twocl") == 0)
		reply(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
	else if (strcmp(t, "/badcl") == 0)
		reply(fd, "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello");
	else if (strcmp(t, "/gzip") == 0)
		reply(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx");
	else if (strcmp(t, "/badchunk") == 0)
		reply(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
	else if (strcmp(t, "/folded") == 0)
		reply(fd, "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 2\r\n\r\nok");
	else
		reply(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
}

static void
setup(void)
{
	srv = httpd_start("127.0.0.1", 0, handler, NULL);
	ck_assert_ptr_nonnull(srv);
}

static void
teardown(void)
{
	httpd_stop(&srv);
}

static char *
url(const char *path)
{
	return xasprintf("http://127.0.0.1:%u%s", (unsigned)httpd_port(srv), path);
}

/* GET path with max; true/false as fetch_http, body in out. */
static bool
get(const char *path, size_t max, int timeout_ms, struct buf *out, struct kerr *err)
{
	struct fetch_opts fo = { .timeout_ms = timeout_ms };
	char *u = url(path);
	bool ok = fetch_http(&fo, u, NULL, NULL, 0, max, out, err);

	free(u);
	return ok;
}

START_TEST(get_simple)
{
	struct buf out = BUF_INIT;
	struct kerr err = KERR_INIT;
	struct httpd_req req;
	char *host;

	ck_assert_msg(get("/a/b?x=1#frag", 1000, 2000, &out, &err), "%s", err.msg);
	ck_assert_str_eq(out.data, "hello");
	ck_assert_uint_eq(out.len, 5);
	ck_assert(httpd_last(srv, &req));
	ck_assert_str_eq(req.method, "GET");
	ck_assert_str_eq(req.target, "/a/b?x=1");       /* no fragment */
	host = xasprintf("127.0.0.1:%u", (unsigned)httpd_port(srv));
	ck_assert_str_eq(req.host, host);
	ck_assert(req.connection_close);
	ck_assert_ptr_nonnull(strstr(req.head.data, "HTTP/1.1\r\n"));
	httpd_req_release(&req);
	free(host);
	buf_release(&out);
}
END_TEST

START_TEST(post_body)
{
	struct fetch_opts fo = FETCH_OPTS_INIT;
	struct smime_fetcher f = fetch_http_fetcher(&fo);
	struct buf out = BUF_INIT;
	struct kerr err = KERR_INIT;
	static const char body[] = "\x30\x03\x02\x01\x00ocsp";
	struct httpd_req req;
	char *u = url("/echo");

	ck_assert_msg(f.fetch(f.ctx, u, "application/ocsp-request", body, sizeof(body) - 1, 1000, &out, &err),
	    "%s", err.msg);
	ck_assert_uint_eq(out.len, 4 + 1 + 24 + 1 + sizeof(body) - 1);
	ck_assert_int_eq(memcmp(out.data, "POST application/ocsp-request ", 30), 0);
	ck_assert_int_eq(memcmp(out.data + 30, body, sizeof(body) - 1), 0);
	ck_assert(httpd_last(srv, &req));
	ck_assert_ptr_nonnull(strstr(req.head.data, "Content-Length: 9\r\n"));
	httpd_req_release(&req);
	free(u);
	buf_release(&out);
}
END_TEST

/* The good responses: path, method, expected body. */
static const struct {
	const char *path;
	bool post;
	const char *want;
} good[] = {
	{ "/chunked", false, "hello world, chunked!" },
	{ "/chunkzeros", false, "ok" },                   /* leading zeros, "Chunked" */
	{ "/close", false, "read to the end" },
	{ "/interim", false, "ok" },
	{ "/r1", false, "hello" },                       /* 302 relative, 301 absolute path, 308 URL */
	{ "/post303", true, "GET  " },                    /* 303: POST becomes GET, no body */
	{ "/post307", true, "POST text/plain data" },     /* 307: POST repeated */
};

START_TEST(good_responses)
{
	struct buf out = BUF_INIT;
	struct kerr err = KERR_INIT;
	struct fetch_opts fo = { .timeout_ms = 2000 };
	char *u = url(good[_i].path);

	ck_assert_msg(fetch_http(&fo, u, "text/plain", good[_i].post ? "data" : NULL, good[_i].post ? 4 : 0,
	    1000, &out, &err), "%s: %s", good[_i].path, err.msg);
	ck_assert_str_eq(out.data, good[_i].want);
	ck_assert_uint_eq(out.len, strlen(good[_i].want));
	free(u);
	buf_release(&out);
}
END_TEST

/* The bad responses: path, max, class, a piece of the message. */
static const struct {
	const char *path;
	size_t max;
	enum kerr_class cls;
	const char *msg;
} bad[] = {
	{ "/missing", 1000, KERR_PERM, "HTTP 404 Not Found" },
	{ "/busy", 1000, KERR_TEMP, "HTTP 503" },
	{ "/big", 20, KERR_PERM, "larger than 20 bytes" },
	{ "/bigchunked", 20, KERR_PERM, "larger than 20 bytes" },
	{ "/hugechunk", 20, KERR_PERM, "larger than 20 bytes" },
	{ "/bigclose", 20, KERR_PERM, "larger than 20 bytes" },
	{ "/loop", 1000, KERR_PERM, "more than 3 redirects" },
	{ "/tohttps", 1000, KERR_PERM, "https:// is not supported" },
	{ "/noloc", 1000, KERR_PERM, "without a Location" },
	{ "/truncated", 1000, KERR_TEMP, "truncated" },
	{ "/garbage", 1000, KERR_PERM, "not an HTTP/1.x response" },
	{ "/empty", 1000, KERR_TEMP, "closed the connection" },
	{ "/hugeheader", 1000, KERR_PERM, "too long" },
	{ "/manyheaders", 1000, KERR_PERM, "too long" },
	{ "/twocl", 1000, KERR_PERM, "two different Content-Length" },
	{ "/badcl", 1000, KERR_PERM, "bad Content-Length" },
	{ "/gzip", 1000, KERR_PERM, "unsupported Transfer-Encoding" },
	{ "/badchunk", 1000, KERR_PERM, "bad chunk size" },
	{ "/folded", 1000, KERR_PERM, "folded header" },
};

START_TEST(bad_responses)
{
	struct buf out = BUF_INIT;
	struct kerr err = KERR_INIT;

	buf_appends(&out, "stale");
	ck_assert_msg(!get(bad[_i].path, bad[_i].max, 2000, &out, &err), "%s fetched", bad[_i].path);
	ck_assert_msg(err.cls == bad[_i].cls, "%s: class %s: %s", bad[_i].path, kerr_class_name(err.cls), err.msg);
	ck_assert_msg(strstr(err.msg, bad[_i].msg) != NULL, "%s: %s", bad[_i].path, err.msg);
	ck_assert_uint_eq(out.len, 0);          /* nothing half-read is handed back */
	buf_release(&out);
}
END_TEST

START_TEST(slow_server_times_out)
{
	static const char *const paths[] = { "/slow", "/slowbody" };
	struct buf out = BUF_INIT;
	struct kerr err = KERR_INIT;
	int64_t t0 = ms_now(), took;

	ck_assert(!get(paths[_i], 1000, 300, &out, &err));
	took = ms_now() - t0;
	ck_assert_int_eq(err.cls, KERR_TEMP);
	ck_assert_msg(strstr(err.msg, "timed out after 300 ms") != NULL, "%s", err.msg);
	ck_assert_msg(took >= 250 && took < 2000, "took %lld ms", (long long)took);
	buf_release(&out);
}
END_TEST

START_TEST(connection_refused)
{
	struct fetch_opts fo = { .timeout_ms = 2000 };
	struct buf out = BUF_INIT;
	struct kerr err = KERR_INIT;
	char *u = xasprintf("http://127.0.0.1:%u/x.crl", (unsigned)httpd_free_port());

	ck_assert(!fetch_http(&fo, u, NULL, NULL, 0, 100, &out, &err));
	ck_assert_int_eq(err.cls, KERR_TEMP);
	ck_assert_msg(strstr(err.msg, "Connection refused") != NULL, "%s", err.msg);
	free(u);
	buf_release(&out);
}
END_TEST

START_TEST(ipv6_loopback)
{
	struct httpd *h6 = httpd_start("::1", 0, handler, NULL);
	struct fetch_opts fo = { .timeout_ms = 2000 };
	struct buf out = BUF_INIT;
	struct kerr err = KERR_INIT;
	struct httpd_req req;
	char *u, *host;

	if (h6 == NULL)
		return;         /* no IPv6 on this machine */
	u = xasprintf("http://[::1]:%u/hello", (unsigned)httpd_port(h6));
	ck_assert_msg(fetch_http(&fo, u, NULL, NULL, 0, 100, &out, &err), "%s", err.msg);
	ck_assert_str_eq(out.data, "hello");
	ck_assert(httpd_last(h6, &req));
	host = xasprintf("[::1]:%u", (unsigned)httpd_port(h6));
	ck_assert_str_eq(req.host, host);
	httpd_req_release(&req);
	httpd_stop(&h6);
	free(host);
	free(u);
	buf_release(&out);
}
END_TEST

/* URLs: good ones and their parts, then bad ones (no network touched). */
static const struct {
	const char *url;
	const char *host, *hostport, *path;
	unsigned port;
} good_urls[] = {
	{ "http://ca.gov.vn/crl/g2.crl", "ca.gov.vn", "ca.gov.vn", "/crl/g2.crl", 80 },
	{ "HTTP://CA.gov.vn", "CA.gov.vn", "CA.gov.vn", "/", 80 },
	{ "http://127.0.0.1:18080/sub-gov.crl", "127.0.0.1", "127.0.0.1:18080", "/sub-gov.crl", 18080 },
	{ "http://ocsp.ca.gov.vn:80/", "ocsp.ca.gov.vn", "ocsp.ca.gov.vn", "/", 80 },
	{ "http://[::1]:8080/a?b=c#d", "::1", "[::1]:8080", "/a?b=c", 8080 },
	{ "http://[2001:db8::1]", "2001:db8::1", "[2001:db8::1]", "/", 80 },
	{ "http://host?q", "host", "host", "/?q", 80 },
	{ "http://host:/x", "host", "host", "/x", 80 },
};

START_TEST(url_good)
{
	struct fetch_url u;
	struct kerr err = KERR_INIT;

	ck_assert_msg(fetch_url_parse(good_urls[_i].url, &u, &err), "%s: %s", good_urls[_i].url, err.msg);
	ck_assert_str_eq(u.host, good_urls[_i].host);
	ck_assert_str_eq(u.hostport, good_urls[_i].hostport);
	ck_assert_str_eq(u.path, good_urls[_i].path);
	ck_assert_uint_eq(u.port, good_urls[_i].port);
}
END_TEST

static const struct {
	const char *url;
	const char *msg;
} bad_urls[] = {
	{ "https://ca.gov.vn/g2.crl", "https:// is not supported" },
	{ "HTTPS://ca.gov.vn/g2.crl", "https:// is not supported" },
	{ "ldap://ca.gov.vn/cn=G2?certificateRevocationList", "not an http:// URL" },
	{ "ftp://ca.gov.vn/g2.crl", "not an http:// URL" },
	{ "ca.gov.vn/g2.crl", "not an http:// URL" },
	{ "", "empty URL" },
	{ "http://", "no host" },
	{ "http:///g2.crl", "no host" },
	{ "http://:8080/g2.crl", "no host" },
	{ "http://ca.gov.vn/a b.crl", "space" },
	{ "http://ca gov.vn/", "space" },
	{ "http://ca.gov.vn/\r\nX-Injected: 1", "control" },
	{ "http://ca.gov.vn/t\xe1\xbb\xab.crl", "non-ASCII" },
	{ "http://user:pw@ca.gov.vn/", "user information" },
	{ "http://ca.gov.vn:0/", "bad port" },
	{ "http://ca.gov.vn:65536/", "bad port" },
	{ "http://ca.gov.vn:99999999999999999999/", "bad port" },
	{ "http://ca.gov.vn:8o/", "bad port" },
	{ "http://[::1/", "bad IPv6" },
	{ "http://[]/", "bad IPv6" },
	{ "http://[::1]x/", "bad IPv6" },
	{ "http://[fe80::1%25eth0]/", "bad IPv6" },
	{ "http://ca.gov.vn!/", "bad character" },
};

START_TEST(url_bad)
{
	struct fetch_url u;
	struct kerr err = KERR_INIT;
	struct buf out = BUF_INIT;

	ck_assert_msg(!fetch_url_parse(bad_urls[_i].url, &u, &err), "%s parsed", bad_urls[_i].url);
	ck_assert_int_eq(err.cls, KERR_PERM);
	ck_assert_msg(strstr(err.msg, bad_urls[_i].msg) != NULL, "%s: %s", bad_urls[_i].url, err.msg);
	kerr_clear(&err);
	ck_assert(!fetch_http(NULL, bad_urls[_i].url, NULL, NULL, 0, 100, &out, &err));
	ck_assert_int_eq(err.cls, KERR_PERM);
	ck_assert_int_eq(httpd_count(srv), 0);
	buf_release(&out);
}
END_TEST

START_TEST(url_too_long)
{
	struct fetch_url u;
	struct kerr err = KERR_INIT;
	char *s = xmalloc(FETCH_MAX_URL + 20);

	strcpy(s, "http://ca.gov.vn/");
	memset(s + strlen(s), 'a', FETCH_MAX_URL);
	s[FETCH_MAX_URL + 10] = '\0';
	ck_assert(!fetch_url_parse(s, &u, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "URL too long"));
	free(s);
}
END_TEST

/* One debug line per fetch: url, status, bytes, ms; never the body. */
START_TEST(logs_one_line)
{
	char path[] = "/tmp/kyso-fetchlog-XXXXXX";
	int fd = mkstemp(path);
	struct buf out = BUF_INIT, logged = BUF_INIT;
	struct kerr err = KERR_INIT;
	char tmp[4096];
	ssize_t n;
	char *want;

	ck_assert_int_ge(fd, 0);
	unlink(path);
	log_setup(LOG_LEVEL_DEBUG, LOG_TARGET_FD, fd);
	ck_assert(get("/hello", 100, 2000, &out, &err));
	ck_assert(!get("/missing", 100, 2000, &out, &err));
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_append(&logged, tmp, (size_t)n);
	want = xasprintf("step=fetch url=\"http://127.0.0.1:%u/hello\" method=GET status=200 bytes=5 ms=",
	    (unsigned)httpd_port(srv));
	ck_assert_msg(strstr(logged.data, want) != NULL, "%s", logged.data);
	ck_assert_ptr_nonnull(strstr(logged.data, "status=404 bytes=0"));
	ck_assert_ptr_nonnull(strstr(logged.data, "result=error class=permanent"));
	ck_assert_ptr_null(strstr(logged.data, "hello\n"));
	ck_assert_ptr_null(strstr(logged.data, "not found"));
	free(want);
	close(fd);
	buf_release(&logged);
	buf_release(&out);
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("fetch");
	TCase *tc = tcase_create("http");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, get_simple);
	tcase_add_test(tc, post_body);
	tcase_add_loop_test(tc, good_responses, 0, (int)(sizeof(good) / sizeof(good[0])));
	tcase_add_loop_test(tc, bad_responses, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_loop_test(tc, slow_server_times_out, 0, 2);
	tcase_add_test(tc, connection_refused);
	tcase_add_test(tc, ipv6_loopback);
	tcase_add_loop_test(tc, url_good, 0, (int)(sizeof(good_urls) / sizeof(good_urls[0])));
	tcase_add_loop_test(tc, url_bad, 0, (int)(sizeof(bad_urls) / sizeof(bad_urls[0])));
	tcase_add_test(tc, url_too_long);
	tcase_add_test(tc, logs_one_line);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
