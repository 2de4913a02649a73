/* Unit tests of webui/server.c, pages.c and svg.c: the routing table, the
 * static allow-list, listen addresses, CSV quoting, dates, keyset cursors
 * and the overview chart. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/testmain.h"
#include "webui/webui-private.h"

static const struct {
	const char *method, *url;
	int code;
	enum webui_route_id route;
	int64_t id;
} route_cases[] = {
	{ "GET", "/", 200, ROUTE_ROOT, 0 },
	{ "HEAD", "/", 200, ROUTE_ROOT, 0 },
	{ "GET", "/log", 200, ROUTE_LOG, 0 },
	{ "GET", "/log.csv", 200, ROUTE_LOG_CSV, 0 },
	{ "GET", "/login", 200, ROUTE_LOGIN, 0 },
	{ "POST", "/login", 200, ROUTE_LOGIN, 0 },
	{ "POST", "/logout", 200, ROUTE_LOGOUT, 0 },
	{ "GET", "/logout", 405, ROUTE_LOGOUT, 0 },
	{ "GET", "/message/42", 200, ROUTE_MESSAGE, 42 },
	{ "GET", "/message/999999999999999999", 200, ROUTE_MESSAGE, 999999999999999999LL },
	{ "GET", "/message/9999999999999999999", 404, ROUTE_NONE, 0 },
	{ "GET", "/message/0", 404, ROUTE_NONE, 0 },
	{ "GET", "/message/", 404, ROUTE_NONE, 0 },
	{ "GET", "/message/-1", 404, ROUTE_NONE, 0 },
	{ "GET", "/message/1x", 404, ROUTE_NONE, 0 },
	{ "GET", "/message/1/", 404, ROUTE_NONE, 0 },
	{ "GET", "/message", 404, ROUTE_NONE, 0 },
	{ "GET", "/accounts", 200, ROUTE_ACCOUNTS, 0 },
	{ "GET", "/overview", 200, ROUTE_OVERVIEW, 0 },
	{ "GET", "/healthz", 200, ROUTE_HEALTHZ, 0 },
	{ "GET", "/metrics", 200, ROUTE_METRICS, 0 },
	{ "GET", "/static/style.css", 200, ROUTE_STATIC, 0 },
	{ "GET", "/static/", 404, ROUTE_NONE, 0 },
	{ "POST", "/log", 405, ROUTE_LOG, 0 },
	{ "DELETE", "/log", 405, ROUTE_LOG, 0 },
	{ "PUT", "/login", 405, ROUTE_LOGIN, 0 },
	{ "BREW", "/nope", 404, ROUTE_NONE, 0 },
	{ "GET", "/log/", 404, ROUTE_NONE, 0 },
	{ "GET", "/LOG", 404, ROUTE_NONE, 0 },
	{ "GET", "", 404, ROUTE_NONE, 0 },
	{ "GET", "//log", 404, ROUTE_NONE, 0 },
	{ "get", "/log", 405, ROUTE_LOG, 0 },
};

START_TEST(routing)
{
	for (size_t i = 0; i < sizeof(route_cases) / sizeof(route_cases[0]); i++) {
		enum webui_route_id r = ROUTE_NONE;
		int64_t id = 0;
		int code = webui_route(route_cases[i].method, route_cases[i].url, &r, &id);

		ck_assert_msg(code == route_cases[i].code, "case %zu %s %s: %d", i,
		    route_cases[i].method, route_cases[i].url, code);
		ck_assert_msg(r == route_cases[i].route, "case %zu: route %d", i, (int)r);
		if (route_cases[i].id != 0)
			ck_assert_int_eq(id, route_cases[i].id);
	}
	{
		enum webui_route_id r;

		ck_assert_int_eq(webui_route(NULL, "/log", &r, NULL), 404);
		ck_assert_int_eq(webui_route("GET", NULL, &r, NULL), 404);
	}
}
END_TEST

static char dir[] = "/tmp/kyso-webui-XXXXXX";

static void
put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(static_allow_list)
{
	struct webui_static st;
	struct kerr err = KERR_INIT;
	char path[256];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	put("style.css", "body{}");
	put("app.js", "1;");
	put("logo.png", "\x89PNG");
	put("icon.svg", "<svg/>");
	put("secret.txt", "no");
	put(".hidden.css", "no");
	put("page.html", "no");
	put("a b.css", "no");
	snprintf(path, sizeof(path), "%s/sub.css", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);        /* a folder named like a file */
	snprintf(path, sizeof(path), "%s/link.css", dir);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);

	ck_assert_msg(webui_static_load(&st, dir, &err), "%s", err.msg);
	ck_assert_uint_eq(st.n, 4);
	ck_assert_ptr_nonnull(webui_static_find(&st, "style.css"));
	ck_assert_str_eq(webui_static_find(&st, "style.css")->type, "text/css; charset=utf-8");
	ck_assert_str_eq(webui_static_find(&st, "app.js")->type, "text/javascript; charset=utf-8");
	ck_assert_str_eq(webui_static_find(&st, "logo.png")->type, "image/png");
	ck_assert_ptr_nonnull(webui_static_find(&st, "icon.svg"));
	ck_assert_uint_eq(webui_static_find(&st, "style.css")->len, 6);
	/* only exact names: nothing from a URL reaches the file system */
	ck_assert_ptr_null(webui_static_find(&st, "secret.txt"));
	ck_assert_ptr_null(webui_static_find(&st, ".hidden.css"));
	ck_assert_ptr_null(webui_static_find(&st, "page.html"));
	ck_assert_ptr_null(webui_static_find(&st, "link.css"));
	ck_assert_ptr_null(webui_static_find(&st, "sub.css"));
	ck_assert_ptr_null(webui_static_find(&st, "../../etc/passwd"));
	ck_assert_ptr_null(webui_static_find(&st, "./style.css"));
	ck_assert_ptr_null(webui_static_find(&st, "style.css/"));
	ck_assert_ptr_null(webui_static_find(&st, "STYLE.CSS"));
	ck_assert_ptr_null(webui_static_find(&st, "%2e%2e/style.css"));
	ck_assert_ptr_null(webui_static_find(&st, ""));
	ck_assert_ptr_null(webui_static_find(&st, NULL));
	webui_static_release(&st);
	ck_assert_uint_eq(st.n, 0);
	/* no folder: an empty list */
	ck_assert(webui_static_load(&st, "/nonexistent/kyso", &err));
	ck_assert_uint_eq(st.n, 0);
	ck_assert_ptr_null(webui_static_find(&st, "style.css"));
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

START_TEST(listen_addresses)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct kerr err = KERR_INIT;
	char txt[64];

	ck_assert_msg(webui_listen_parse("127.0.0.1:8080", &ss, &sl, &err), "%s", err.msg);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_int_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
	ck_assert(webui_listen_parse("[::1]:0", &ss, &sl, &err));
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, txt, sizeof(txt));
	ck_assert_str_eq(txt, "::1");
	ck_assert(webui_listen_parse("localhost:443", &ss, &sl, &err));
	ck_assert(webui_listen_parse(":8080", &ss, &sl, &err));
	ck_assert(webui_listen_parse("0.0.0.0:1", &ss, &sl, &err));
	static const char *const bad[] = { "", "8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
		"127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:80x", "::1:80", "[::1]80", "[::1",
		"example.invalid:80", "999.0.0.1:80", "[zz]:80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kerr_clear(&err);
		ck_assert_msg(!webui_listen_parse(bad[i], &ss, &sl, &err), "accepted %s", bad[i]);
		ck_assert_int_eq(err.cls, KERR_CONFIG);
	}
	ck_assert(!webui_listen_parse(NULL, &ss, &sl, &err));
}
END_TEST

static const struct {
	const char *in, *out;
} csv_cases[] = {
	{ "plain", "plain" },
	{ "", "" },
	{ "a,b", "\"a,b\"" },
	{ "say \"hi\"", "\"say \"\"hi\"\"\"" },
	{ "two\nlines", "\"two\nlines\"" },
	{ "cr\rhere", "\"cr\rhere\"" },
	{ "=1+2", "'=1+2" },
	{ "+1", "'+1" },
	{ "-1", "'-1" },
	{ "@SUM(A1)", "'@SUM(A1)" },
	{ "\tx", "'\tx" },
	{ "=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"" },
	{ "Trần Kim Ngân", "Trần Kim Ngân" },
	{ "a=b", "a=b" },
};

START_TEST(csv_cells)
{
	for (size_t i = 0; i < sizeof(csv_cases) / sizeof(csv_cases[0]); i++) {
		struct buf b = BUF_INIT;

		webui_csv_cell(&b, csv_cases[i].in);
		ck_assert_msg(strcmp(b.data != NULL ? b.data : "", csv_cases[i].out) == 0,
		    "case %zu: got [%s]", i, b.data != NULL ? b.data : "");
		buf_release(&b);
	}
}
END_TEST

START_TEST(csv_row)
{
	struct json_object *row = json_tokener_parse("{\"id\":7,\"time\":1764374400,\"direction\":\"in\","
	    "\"account\":\"vanthu\",\"from_addr\":\"a@b\",\"from_name\":\"=cmd|' /C calc'!A0\","
	    "\"to_addrs\":\"x@y, z@w\",\"subject\":\"Công văn \\\"số 1\\\"\",\"attachments\":null,"
	    "\"verdict\":\"invalid\",\"reasons\":[\"digest-mismatch\",\"expired\"],\"signer\":\"CN=A\"}");
	struct buf b = BUF_INIT;

	ck_assert_ptr_nonnull(row);
	webui_csv_row(&b, row);
	ck_assert_str_eq(b.data, "7,2025-11-29 07:00,in,vanthu,a@b,'=cmd|' /C calc'!A0,\"x@y, z@w\","
	    "\"Công văn \"\"số 1\"\"\",,invalid,digest-mismatch expired,CN=A,\r\n");
	buf_release(&b);
	/* the signed attachments' verdict: the last column */
	json_object_object_add(row, "att_verdict", json_object_new_string("valid"));
	webui_csv_row(&b, row);
	ck_assert_str_eq(b.data, "7,2025-11-29 07:00,in,vanthu,a@b,'=cmd|' /C calc'!A0,\"x@y, z@w\","
	    "\"Công văn \"\"số 1\"\"\",,invalid,digest-mismatch expired,CN=A,valid\r\n");
	buf_release(&b);
	json_object_put(row);
}
END_TEST

START_TEST(days_and_cursor)
{
	int64_t t, id;
	char out[32];

	ck_assert(webui_parse_day("2025-11-29", &t));
	ck_assert_int_eq(t, 1764374400 - 7 * 3600);     /* local midnight, UTC+7 */
	webui_format_time(t, out, sizeof(out));
	ck_assert_str_eq(out, "2025-11-29 00:00");
	ck_assert(webui_parse_day("2026-11-29", &t));
	ck_assert_int_eq(t, 1795910400 - 7 * 3600);
	ck_assert(webui_parse_day("2024-02-29", &t));
	ck_assert(webui_parse_day("1970-01-01", &t));
	ck_assert_int_eq(t, -7 * 3600);
	static const char *const bad[] = { "2025-02-29", "2026-13-01", "2026-00-10", "2026-01-32",
		"2026-1-1", "26-11-29", "2026/11/29", "2026-11-29x", "", "1900-02-29",
		"2026-11-2\xc3", "-026-11-29" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!webui_parse_day(bad[i], &t), "accepted %s", bad[i]);
	ck_assert(!webui_parse_day(NULL, &t));

	ck_assert(webui_parse_before("1764374400.42", &t, &id));
	ck_assert_int_eq(t, 1764374400);
	ck_assert_int_eq(id, 42);
	static const char *const badb[] = { "", "1", "1.", ".1", "1.x", "x.1", "-1.2", "1.-2", "0.1",
		"1.0", "1.2.3", "1 .2", "99999999999999999999.1", "1.99999999999999999999" };
	for (size_t i = 0; i < sizeof(badb) / sizeof(badb[0]); i++)
		ck_assert_msg(!webui_parse_before(badb[i], &t, &id), "accepted %s", badb[i]);
	ck_assert(!webui_parse_before(NULL, &t, &id));
}
END_TEST

START_TEST(chart)
{
	struct json_object *ov = json_tokener_parse("{\"days\":["
	    "{\"day\":\"2026-11-28\",\"valid\":30,\"invalid\":10},"
	    "{\"day\":\"2026-11-29\",\"valid\":20,\"sent\":0,\"unknown\":99},"
	    "{\"day\":\"2026-11-30\"}]}");
	struct json_object *c = webui_chart(ov, 340, 140), *bars, *b0, *segs, *s0, *s1, *v;

	ck_assert(json_object_object_get_ex(c, "bars", &bars));
	ck_assert_uint_eq(json_object_array_length(bars), 3);
	ck_assert(json_object_object_get_ex(c, "max", &v));
	ck_assert_int_eq(json_object_get_int(v), 40);
	b0 = json_object_array_get_idx(bars, 0);
	ck_assert(json_object_object_get_ex(b0, "segs", &segs));
	ck_assert_uint_eq(json_object_array_length(segs), 2);
	s0 = json_object_array_get_idx(segs, 0);
	s1 = json_object_array_get_idx(segs, 1);
	/* plot 300 x 112 (pad 40 left, 20 bottom, 8 top): valid 30/40 = 84 high from y=120 */
	ck_assert(json_object_object_get_ex(s0, "verdict", &v));
	ck_assert_str_eq(json_object_get_string(v), "valid");
	ck_assert(json_object_object_get_ex(s0, "h", &v));
	ck_assert_str_eq(json_object_get_string(v), "84.0");
	ck_assert(json_object_object_get_ex(s0, "y", &v));
	ck_assert_str_eq(json_object_get_string(v), "36.0");
	ck_assert(json_object_object_get_ex(s1, "y", &v));
	ck_assert_str_eq(json_object_get_string(v), "8.0");
	ck_assert(json_object_object_get_ex(b0, "x", &v));
	ck_assert_str_eq(json_object_get_string(v), "50.0");
	ck_assert(json_object_object_get_ex(b0, "w", &v));
	ck_assert_str_eq(json_object_get_string(v), "80.0");
	ck_assert(json_object_object_get_ex(b0, "label", &v));
	ck_assert_str_eq(json_object_get_string(v), "11-28");
	/* unknown verdict keys are not drawn; an empty day has no segments */
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(bars, 1), "total", &v));
	ck_assert_int_eq(json_object_get_int(v), 20);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(bars, 2), "segs", &segs));
	ck_assert_uint_eq(json_object_array_length(segs), 0);
	json_object_put(c);
	json_object_put(ov);
	/* nothing at all */
	c = webui_chart(NULL, 0, 0);
	ck_assert(json_object_object_get_ex(c, "empty", &v));
	ck_assert(json_object_get_boolean(v));
	json_object_put(c);
}
END_TEST

START_TEST(metrics_text)
{
	struct json_object *m = json_tokener_parse("{\"messages\":{\"in\":{\"valid\":3},\"out\":{\"sent\":2}},"
	    "\"directions\":{\"in\":3,\"out\":2},\"reasons\":{\"a\\\"b\":1},\"queue_depth\":4,"
	    "\"verify_ms\":{\"window\":86400,\"buckets\":[{\"le\":10,\"count\":1},{\"le\":\"+Inf\",\"count\":3}],"
	    "\"sum\":120,\"count\":3},\"accounts\":[{\"account\":\"vanthu\",\"state\":\"idle\",\"since\":1,\"backlog\":7}]}");
	struct buf b = BUF_INIT;

	ck_assert_ptr_nonnull(m);
	webui_metrics_store(&b, m);
	ck_assert_ptr_nonnull(strstr(b.data, "\nkyso_log_messages{direction=\"in\",verdict=\"valid\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nkyso_log_messages{direction=\"out\",verdict=\"sent\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nkyso_log_failures{reason=\"a\\\"b\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nkyso_queue_depth 4\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nkyso_verify_ms_bucket{le=\"10\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nkyso_verify_ms_bucket{le=\"+Inf\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nkyso_verify_ms_sum 120\nkyso_verify_ms_count 3\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nkyso_account_state{account=\"vanthu\",state=\"idle\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nkyso_account_backlog{account=\"vanthu\"} 7\n"));
	buf_release(&b);
	json_object_put(m);
	/* no journal: no queue depth line */
	m = json_tokener_parse("{\"queue_depth\":null}");
	webui_metrics_store(&b, m);
	ck_assert_ptr_null(b.data != NULL ? strstr(b.data, "kyso_queue_depth") : NULL);
	buf_release(&b);
	json_object_put(m);
}
END_TEST


/* --- webui_start in process: start errors, and one real request --- */

static char sdir[] = "/tmp/kyso-webui-start-XXXXXX";

static void
sput(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void
make_templates(void)
{
	char path[256];

	ck_assert_ptr_nonnull(mkdtemp(sdir));
	snprintf(path, sizeof(path), "%s/i18n", sdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/static", sdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	sput("login.html", "<p>{{t.hello}} {{lang}} {{csrf}}</p>");
	sput("error.html", "<p>{{page.code}} {{t.msg.[page.error]}}</p>");
	sput("i18n/vi.json", "{\"hello\":\"Xin chào\",\"msg\":{\"not_found\":\"Không tìm thấy\"}}");
	sput("i18n/en.json", "{\"hello\":\"Hello\",\"msg\":{\"not_found\":\"Not found\"}}");
	sput("static/a.css", "p{}");
}

static void
remove_templates(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", sdir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(sdir, "/tmp/kyso-webui-start-XXXXXX");
}

/* One HTTP/1.0 exchange on loopback; the whole answer (caller frees). */
static char *
http(unsigned port, const char *request)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { 0 };
	struct buf b = BUF_INIT;
	char chunk[4096];
	ssize_t n;

	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(&b, chunk, (size_t)n);
	close(fd);
	buf_append(&b, "", 0);
	return buf_steal(&b, NULL);
}

static const char *const accts[] = { "vanthu@so.vn" };
static const char *const names[] = { "vanthu" };

START_TEST(start_errors)
{
	struct webui_opts o = WEBUI_OPTS_INIT;
	struct kerr err = KERR_INIT;
	char tdir[300];

	make_templates();
	o.listen = "127.0.0.1:0";
	o.db_path = "/nonexistent/kyso.db";
	o.templates = "/nonexistent/templates";
	o.accounts = accts;
	o.account_names = names;
	o.n_accounts = 1;
	ck_assert_ptr_null(webui_start(&o, &err));
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	o.templates = sdir;
	o.listen = "127.0.0.1:http";
	kerr_clear(&err);
	ck_assert_ptr_null(webui_start(&o, &err));
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	o.listen = "127.0.0.1:0";
	o.tls_cert = "/nonexistent/cert.pem";
	kerr_clear(&err);
	ck_assert_ptr_null(webui_start(&o, &err));      /* a cert without a key */
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	o.tls_key = "/nonexistent/key.pem";
	kerr_clear(&err);
	ck_assert_ptr_null(webui_start(&o, &err));
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	snprintf(tdir, sizeof(tdir), "%s/login.html", sdir);
	o.tls_cert = tdir;                              /* not PEM */
	o.tls_key = tdir;
	kerr_clear(&err);
	ck_assert_ptr_null(webui_start(&o, &err));
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	/* a broken template is a configuration error */
	o.tls_cert = o.tls_key = NULL;
	sput("bad.html", "{{#open}} never closed");
	kerr_clear(&err);
	ck_assert_ptr_null(webui_start(&o, &err));
	ck_assert_int_eq(err.cls, KERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "bad.html"));
	webui_stop(NULL);
	remove_templates();
}
END_TEST

START_TEST(start_and_serve)
{
	struct webui_opts o = WEBUI_OPTS_INIT;
	struct kerr err = KERR_INIT;
	struct webui *w;
	char *r;

	make_templates();
	o.listen = "127.0.0.1:0";
	o.db_path = "/nonexistent/kyso.db";
	o.templates = sdir;
	o.accounts = accts;
	o.account_names = names;
	o.n_accounts = 1;
	o.threads = 2;
	w = webui_start(&o, &err);
	ck_assert_msg(w != NULL, "%s", err.msg);
	ck_assert_uint_gt(webui_port(w), 0);
	r = http(webui_port(w), "GET /login?lang=en HTTP/1.0\r\n\r\n");
	ck_assert_msg(strncmp(r, "HTTP/1.0 200", 12) == 0 || strncmp(r, "HTTP/1.1 200", 12) == 0, "%s", r);
	ck_assert_ptr_nonnull(strstr(r, "Content-Type: text/html; charset=utf-8\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "X-Content-Type-Options: nosniff\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "frame-ancestors 'none'"));
	ck_assert_ptr_nonnull(strstr(r, "Set-Cookie: kyso_lang=en;"));
	ck_assert_ptr_nonnull(strstr(r, "<p>Hello en "));
	free(r);
	r = http(webui_port(w), "GET /login HTTP/1.0\r\nCookie: kyso_lang=en\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(r, "<p>Hello en "));
	free(r);
	r = http(webui_port(w), "GET /healthz HTTP/1.0\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(r, " 503 "));      /* no database */
	free(r);
	r = http(webui_port(w), "GET /static/a.css HTTP/1.0\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(r, " 200 "));
	ck_assert_ptr_nonnull(strstr(r, "text/css; charset=utf-8"));
	free(r);
	r = http(webui_port(w), "GET /static/../i18n/vi.json HTTP/1.0\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(r, " 404 "));
	ck_assert_ptr_null(strstr(r, "Xin chào\""));
	free(r);
	r = http(webui_port(w), "GET /static/a.css%00.png HTTP/1.0\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(r, " 400 "));
	free(r);
	r = http(webui_port(w), "GET /nowhere HTTP/1.0\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(r, " 404 "));
	ck_assert_ptr_nonnull(strstr(r, "<p>404 Không tìm thấy</p>"));     /* the error page */
	free(r);
	r = http(webui_port(w), "GET /log HTTP/1.0\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(r, " 303 "));
	ck_assert_ptr_nonnull(strstr(r, "Location: /login\r\n"));
	free(r);
	r = http(webui_port(w), "POST /login HTTP/1.0\r\nContent-Length: 100000\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(r, " 413 "));
	free(r);
	r = http(webui_port(w), "POST /logout HTTP/1.0\r\nContent-Length: 6\r\nHost: x\r\n\r\ncsrf=1");
	ck_assert_ptr_nonnull(strstr(r, " 403 "));
	free(r);
	r = http(webui_port(w), "GET /metrics HTTP/1.0\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(r, "kyso_web_requests_total{code=\"404\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(r, "kyso_log_up 0\n"));
	free(r);
	webui_stop(&w);
	ck_assert_ptr_null(w);
	remove_templates();
}
END_TEST

/* A login whose check takes 1.5 s must not hold up others, even with one
 * web thread; and webui_stop waits for it. */
static bool
slow_check(void *ctx, const char *address, const char *password, struct kerr *err)
{
	(void)ctx;
	usleep(1500 * 1000);
	if (strcmp(address, "vanthu@so.vn") == 0 && strcmp(password, "right") == 0)
		return true;
	kerr_set(err, KERR_CONFIG, "refused");
	return false;
}

static int
http_send(unsigned port, const char *request)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { 0 };

	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	return fd;
}

static char *
http_read(int fd)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	ssize_t n;

	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(&b, chunk, (size_t)n);
	close(fd);
	buf_append(&b, "", 0);
	return buf_steal(&b, NULL);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(login_does_not_block)
{
	static const char tok[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct webui_opts o = WEBUI_OPTS_INIT;
	struct kerr err = KERR_INIT;
	struct webui *w;
	char req[600], *r;
	int a, b;
	double t0, dt;

	make_templates();
	o.listen = "127.0.0.1:0";
	o.db_path = "/nonexistent/kyso.db";
	o.templates = sdir;
	o.accounts = accts;
	o.account_names = names;
	o.n_accounts = 1;
	o.threads = 1;
	o.check_login = slow_check;
	w = webui_start(&o, &err);
	ck_assert_msg(w != NULL, "%s", err.msg);
	snprintf(req, sizeof(req), "POST /login HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: kyso_pre=%s\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n"
	    "csrf=%s&address=vanthu%%40so.vn&password=right", tok,
	    strlen("csrf=&address=vanthu%40so.vn&password=right") + strlen(tok), tok);
	t0 = now_s();
	a = http_send(webui_port(w), req);
	usleep(200 * 1000);             /* the check is under way */
	r = http(webui_port(w), "GET /login HTTP/1.0\r\n\r\n");
	dt = now_s() - t0;
	ck_assert_ptr_nonnull(strstr(r, " 200 "));
	ck_assert_msg(dt < 1.2, "another request waited %.2f s for the login", dt);
	free(r);
	r = http_read(a);
	ck_assert_msg(strstr(r, " 303 ") != NULL, "%s", r);
	ck_assert_ptr_nonnull(strstr(r, "Set-Cookie: kyso_session="));
	ck_assert_ptr_nonnull(strstr(r, "Location: /log\r\n"));
	ck_assert_double_ge(now_s() - t0, 1.4);
	free(r);
	/* a refused login takes 1.5 s; an unknown address then takes about as long */
	snprintf(req, sizeof(req), "POST /login HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: kyso_pre=%s\r\n"
	    "Content-Length: %zu\r\n\r\ncsrf=%s&address=vanthu%%40so.vn&password=nope", tok,
	    strlen("csrf=&address=vanthu%40so.vn&password=nope") + strlen(tok), tok);
	r = http_read(http_send(webui_port(w), req));
	ck_assert_msg(strstr(r, " 401 ") != NULL, "%s", r);
	free(r);
	snprintf(req, sizeof(req), "POST /login HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: kyso_pre=%s\r\n"
	    "Content-Length: %zu\r\n\r\ncsrf=%s&address=nobody%%40so.vn&password=nope", tok,
	    strlen("csrf=&address=nobody%40so.vn&password=nope") + strlen(tok), tok);
	t0 = now_s();
	r = http_read(http_send(webui_port(w), req));
	ck_assert_msg(strstr(r, " 401 ") != NULL, "%s", r);
	ck_assert_double_ge(now_s() - t0, 1.0);
	free(r);
	/* a wrong password, and stopping while it is checked */
	snprintf(req, sizeof(req), "POST /login HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: kyso_pre=%s\r\n"
	    "Content-Length: %zu\r\n\r\ncsrf=%s&address=vanthu%%40so.vn&password=wrong", tok,
	    strlen("csrf=&address=vanthu%40so.vn&password=wrong") + strlen(tok), tok);
	b = http_send(webui_port(w), req);
	usleep(200 * 1000);
	webui_stop(&w);                 /* waits for the check: no suspended connection left */
	ck_assert_ptr_null(w);
	r = http_read(b);
	ck_assert_msg(r[0] == '\0' || strstr(r, " 401 ") != NULL, "%s", r);
	free(r);
	remove_templates();
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("webui_server");
	TCase *tc = tcase_create("server");

	tcase_set_timeout(tc, 60);      /* slow logins, sanitizers, a loaded machine */
	tcase_add_test(tc, routing);
	tcase_add_test(tc, static_allow_list);
	tcase_add_test(tc, listen_addresses);
	tcase_add_test(tc, csv_cells);
	tcase_add_test(tc, csv_row);
	tcase_add_test(tc, days_and_cursor);
	tcase_add_test(tc, chart);
	tcase_add_test(tc, metrics_text);
	tcase_add_test(tc, start_errors);
	tcase_add_test(tc, start_and_serve);
	tcase_add_test(tc, login_does_not_block);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
