/* Unit tests of webui/session.c: tokens, sessions, throttling, and the
 * parsers of cookies, forms, language and origin, with hostile input. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tests/unit/testmain.h"
#include "webui/webui-private.h"

START_TEST(token_random_hex)
{
	char a[WEBUI_TOKEN_HEX + 1], b[WEBUI_TOKEN_HEX + 1];

	ck_assert(webui_token(a));
	ck_assert(webui_token(b));
	ck_assert_uint_eq(strlen(a), 64);
	ck_assert(webui_token_valid(a));
	ck_assert_str_ne(a, b);
	ck_assert(!webui_token_valid(NULL));
	ck_assert(!webui_token_valid(""));
	ck_assert(!webui_token_valid("abc"));
	a[10] = 'G';
	ck_assert(!webui_token_valid(a));
	b[10] = 'A';    /* upper case is not ours */
	ck_assert(!webui_token_valid(b));
	ck_assert(!webui_token_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"));
}
END_TEST

START_TEST(ct_equal)
{
	ck_assert(webui_ct_equal("abc", "abc"));
	ck_assert(webui_ct_equal("", ""));
	ck_assert(!webui_ct_equal("abc", "abd"));
	ck_assert(!webui_ct_equal("abc", "ab"));
	ck_assert(!webui_ct_equal("ab", "abc"));
	ck_assert(!webui_ct_equal(NULL, "abc"));
	ck_assert(!webui_ct_equal("abc", NULL));
	ck_assert(!webui_ct_equal(NULL, NULL));
}
END_TEST

START_TEST(session_life)
{
	struct webui_sessions *s = webui_sessions_new(100, 0);
	struct webui_session_info a, b, got;

	ck_assert(webui_session_create(s, "ngan@so.vn", "vanthu", false, 1000, &a));
	ck_assert(webui_session_create(s, "admin@so.vn", "it", true, 1000, &b));
	ck_assert_uint_eq(webui_session_count(s), 2);
	ck_assert(webui_token_valid(a.id));
	ck_assert(webui_token_valid(a.csrf));
	ck_assert_str_ne(a.id, a.csrf);
	ck_assert_str_ne(a.id, b.id);
	ck_assert(webui_session_lookup(s, a.id, 1050, &got));
	ck_assert_str_eq(got.address, "ngan@so.vn");
	ck_assert_str_eq(got.account, "vanthu");
	ck_assert(!got.admin);
	ck_assert_str_eq(got.csrf, a.csrf);
	/* touched at 1050: still there at 1149, gone at 1150 + */
	ck_assert(webui_session_lookup(s, a.id, 1149, &got));
	ck_assert(webui_session_lookup(s, b.id, 1099, &got));
	ck_assert(got.admin);
	ck_assert(!webui_session_lookup(s, b.id, 1199, &got));      /* idle 100 s */
	ck_assert_uint_eq(webui_session_count(s), 1);
	/* unknown and malformed ids */
	ck_assert(!webui_session_lookup(s, NULL, 1150, &got));
	ck_assert(!webui_session_lookup(s, "", 1150, &got));
	ck_assert(!webui_session_lookup(s, "../../etc/passwd", 1150, &got));
	ck_assert(!webui_session_lookup(s, a.csrf, 1150, &got));
	{
		char other[WEBUI_TOKEN_HEX + 1];

		memcpy(other, a.id, sizeof(other));
		other[63] = other[63] == '0' ? '1' : '0';
		ck_assert(!webui_session_lookup(s, other, 1150, &got));
	}
	/* logout */
	webui_session_destroy(s, a.id);
	webui_session_destroy(s, "nonsense");
	ck_assert(!webui_session_lookup(s, a.id, 1150, &got));
	ck_assert_uint_eq(webui_session_count(s), 0);
	webui_sessions_free(&s);
	ck_assert_ptr_null(s);
	webui_sessions_free(&s);
}
END_TEST

START_TEST(session_bounded)
{
	struct webui_sessions *s = webui_sessions_new(1000, 3);
	struct webui_session_info i[5], got;

	for (int k = 0; k < 5; k++)
		ck_assert(webui_session_create(s, "a@b", "x", false, 100 + k, &i[k]));
	ck_assert_uint_le(webui_session_count(s), 3);
	ck_assert(webui_session_lookup(s, i[4].id, 110, &got));     /* newest kept */
	ck_assert(!webui_session_lookup(s, i[0].id, 110, &got));    /* oldest dropped */
	webui_sessions_free(&s);
}
END_TEST

START_TEST(throttle)
{
	struct webui_throttle *t = webui_throttle_new(5, 900);
	unsigned ra = 0;

	for (int k = 0; k < 4; k++) {
		ck_assert(webui_throttle_allow(t, "addr:a@b", 1000 + k, &ra));
		webui_throttle_fail(t, "addr:a@b", 1000 + k);
	}
	ck_assert(webui_throttle_allow(t, "addr:a@b", 1004, &ra));
	webui_throttle_fail(t, "addr:a@b", 1004);
	ck_assert(!webui_throttle_allow(t, "addr:a@b", 1005, &ra));
	ck_assert_uint_eq(ra, 1000 + 900 - 1005);
	/* another key is not affected */
	ck_assert(webui_throttle_allow(t, "addr:c@d", 1005, &ra));
	ck_assert(webui_throttle_allow(t, "ip:127.0.0.1", 1005, &ra));
	/* the window passes for the oldest failure */
	ck_assert(webui_throttle_allow(t, "addr:a@b", 1900, &ra));
	ck_assert(!webui_throttle_allow(t, "addr:a@b", 1899, &ra));
	/* more failures keep it closed; clear opens it */
	for (int k = 0; k < 20; k++)
		webui_throttle_fail(t, "addr:a@b", 2000 + k);
	ck_assert(!webui_throttle_allow(t, "addr:a@b", 2020, &ra));
	ck_assert_uint_ge(ra, 800);
	webui_throttle_clear(t, "addr:a@b");
	ck_assert(webui_throttle_allow(t, "addr:a@b", 2020, &ra));
	webui_throttle_free(&t);
	ck_assert_ptr_null(t);
}
END_TEST

START_TEST(throttle_per_client)
{
	/* the per-IP table: WEBUI_THROTTLE_IP_MAX failures in the window */
	struct webui_throttle *t = webui_throttle_new(WEBUI_THROTTLE_IP_MAX, WEBUI_THROTTLE_WINDOW);
	unsigned ra;

	for (int k = 0; k < WEBUI_THROTTLE_IP_MAX - 1; k++)
		webui_throttle_fail(t, "ip:192.0.2.1", 1000 + k);
	ck_assert(webui_throttle_allow(t, "ip:192.0.2.1", 1100, &ra));
	webui_throttle_fail(t, "ip:192.0.2.1", 1100);
	ck_assert(!webui_throttle_allow(t, "ip:192.0.2.1", 1101, &ra));
	ck_assert_uint_eq(ra, 1000 + WEBUI_THROTTLE_WINDOW - 1101);
	ck_assert(webui_throttle_allow(t, "ip:192.0.2.1", 1000 + WEBUI_THROTTLE_WINDOW, &ra));
	webui_throttle_free(&t);
}
END_TEST

START_TEST(throttle_many_keys)
{
	/* a flood of distinct keys cannot grow memory; real keys still work */
	struct webui_throttle *t = webui_throttle_new(5, 900);
	char key[64];
	unsigned ra;

	for (int k = 0; k < 20000; k++) {
		snprintf(key, sizeof(key), "ip:10.0.%d.%d", k / 256, k % 256);
		webui_throttle_fail(t, key, 1000);
	}
	for (int k = 0; k < 5; k++)
		webui_throttle_fail(t, "addr:x@y", 1001);
	ck_assert(!webui_throttle_allow(t, "addr:x@y", 1002, &ra));
	webui_throttle_free(&t);
}
END_TEST

static const struct {
	const char *header, *name, *want;       /* want NULL: not found */
} cookie_cases[] = {
	{ "kyso_session=abc", "kyso_session", "abc" },
	{ "a=1; kyso_session=abc; b=2", "kyso_session", "abc" },
	{ "a=1;kyso_session=abc", "kyso_session", "abc" },
	{ "  kyso_session=abc  ", "kyso_session", "abc" },
	{ "kyso_session=\"abc\"", "kyso_session", "abc" },
	{ "xkyso_session=abc", "kyso_session", NULL },
	{ "kyso_session_x=abc", "kyso_session", NULL },
	{ "kyso_session", "kyso_session", NULL },
	{ "kyso_session=", "kyso_session", NULL },
	{ "kyso_session=;", "kyso_session", NULL },
	{ "kyso_session=a b", "kyso_session", NULL },
	{ "kyso_session=a\\b", "kyso_session", NULL },
	{ "kyso_session=a\"b", "kyso_session", NULL },
	{ "kyso_session=\xff\xfe", "kyso_session", NULL },
	{ ";;;;", "kyso_session", NULL },
	{ "", "kyso_session", NULL },
	{ "=;=;=", "kyso_session", NULL },
	{ "kyso_lang=en; kyso_session=x", "kyso_lang", "en" },
};

START_TEST(cookies)
{
	char out[WEBUI_TOKEN_HEX + 1];

	for (size_t i = 0; i < sizeof(cookie_cases) / sizeof(cookie_cases[0]); i++) {
		bool got = webui_cookie_get(cookie_cases[i].header, cookie_cases[i].name, out, sizeof(out));

		ck_assert_msg(got == (cookie_cases[i].want != NULL), "case %zu: %s", i, cookie_cases[i].header);
		if (got)
			ck_assert_str_eq(out, cookie_cases[i].want);
	}
	ck_assert(!webui_cookie_get(NULL, "kyso_session", out, sizeof(out)));
	/* longer than the room: refused, not truncated */
	{
		char big[200];

		memset(big, 'a', sizeof(big));
		memcpy(big, "kyso_session=", 13);
		big[sizeof(big) - 1] = '\0';
		ck_assert(!webui_cookie_get(big, "kyso_session", out, sizeof(out)));
	}
}
END_TEST

START_TEST(forms)
{
	static const char body[] = "address=ngan%40so.vn&password=a+b%26c%3D&csrf=t0k&empty=&flag&bad=%zz%4";
	char *v;

	v = webui_form_get(body, strlen(body), "address");
	ck_assert_str_eq(v, "ngan@so.vn");
	free(v);
	v = webui_form_get(body, strlen(body), "password");
	ck_assert_str_eq(v, "a b&c=");
	free(v);
	v = webui_form_get(body, strlen(body), "csrf");
	ck_assert_str_eq(v, "t0k");
	free(v);
	v = webui_form_get(body, strlen(body), "empty");
	ck_assert_str_eq(v, "");
	free(v);
	v = webui_form_get(body, strlen(body), "flag");
	ck_assert_str_eq(v, "");
	free(v);
	v = webui_form_get(body, strlen(body), "bad");
	ck_assert_str_eq(v, "%zz%4");
	free(v);
	ck_assert_ptr_null(webui_form_get(body, strlen(body), "missing"));
	ck_assert_ptr_null(webui_form_get(body, strlen(body), "addr"));
	ck_assert_ptr_null(webui_form_get("a=%00b", 6, "a"));       /* NUL refused */
	ck_assert_ptr_null(webui_form_get(NULL, 0, "a"));
	/* the length is honoured: no read past it */
	v = webui_form_get("a=123&b=4", 4, "a");
	ck_assert_str_eq(v, "12");
	free(v);
	ck_assert_ptr_null(webui_form_get("a=123&b=4", 4, "b"));
	/* one byte at a time: every prefix parses without crashing */
	for (size_t n = 0; n <= strlen(body); n++)
		free(webui_form_get(body, n, "password"));
}
END_TEST

START_TEST(language)
{
	ck_assert_str_eq(webui_lang_choose(NULL, NULL), "vi");
	ck_assert_str_eq(webui_lang_choose("en", NULL), "en");
	ck_assert_str_eq(webui_lang_choose("vi", "en"), "vi");
	ck_assert_str_eq(webui_lang_choose(NULL, "en"), "en");
	ck_assert_str_eq(webui_lang_choose("fr", "en"), "en");
	ck_assert_str_eq(webui_lang_choose("EN", NULL), "vi");
	ck_assert_str_eq(webui_lang_choose("", "xx"), "vi");
	ck_assert_str_eq(webui_lang_choose("en<script>", NULL), "vi");
}
END_TEST

START_TEST(origin)
{
	const char *h = "127.0.0.1:8080";

	ck_assert(webui_origin_ok("http://127.0.0.1:8080", NULL, NULL, h));
	ck_assert(webui_origin_ok("https://127.0.0.1:8080", "same-origin", NULL, h));
	ck_assert(webui_origin_ok(NULL, NULL, "http://127.0.0.1:8080/login?x", h));
	ck_assert(webui_origin_ok(NULL, NULL, NULL, h));            /* curl, old clients */
	ck_assert(webui_origin_ok("null", "same-origin", NULL, h)); /* no-referrer pages */
	ck_assert(!webui_origin_ok("http://evil.example", NULL, NULL, h));
	ck_assert(!webui_origin_ok("http://127.0.0.1:8081", NULL, NULL, h));
	ck_assert(!webui_origin_ok("http://127.0.0.1:8080.evil.example", NULL, NULL, h));
	ck_assert(!webui_origin_ok("http://127.0.0.1:8080@evil", NULL, NULL, h));
	ck_assert(!webui_origin_ok(NULL, "cross-site", NULL, h));
	ck_assert(!webui_origin_ok("null", "cross-site", NULL, h));
	ck_assert(!webui_origin_ok(NULL, "same-site", NULL, h));
	ck_assert(!webui_origin_ok(NULL, NULL, "http://evil.example/x", h));
	ck_assert(!webui_origin_ok("javascript:1", NULL, NULL, h));
	ck_assert(!webui_origin_ok("http://127.0.0.1:8080", NULL, NULL, NULL));
}
END_TEST

START_TEST(local_host)
{
	ck_assert(webui_host_is_local("127.0.0.1:8080"));
	ck_assert(webui_host_is_local("127.0.0.1"));
	ck_assert(webui_host_is_local("localhost:9"));
	ck_assert(webui_host_is_local("LocalHost"));
	ck_assert(webui_host_is_local("[::1]:8080"));
	ck_assert(webui_host_is_local("[::1]"));
	ck_assert(webui_host_is_local("10.1.2.3:80"));
	ck_assert(!webui_host_is_local("evil.example:8080"));
	ck_assert(!webui_host_is_local("localhost.evil.example"));
	ck_assert(!webui_host_is_local("127.0.0.1.nip.io"));
	ck_assert(!webui_host_is_local("[::1"));
	ck_assert(!webui_host_is_local("[::1]x"));
	ck_assert(!webui_host_is_local(""));
	ck_assert(!webui_host_is_local(":80"));
	ck_assert(!webui_host_is_local(NULL));
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("webui_session");
	TCase *tc = tcase_create("session");

	tcase_add_test(tc, token_random_hex);
	tcase_add_test(tc, ct_equal);
	tcase_add_test(tc, session_life);
	tcase_add_test(tc, session_bounded);
	tcase_add_test(tc, throttle);
	tcase_add_test(tc, throttle_per_client);
	tcase_add_test(tc, throttle_many_keys);
	tcase_add_test(tc, cookies);
	tcase_add_test(tc, forms);
	tcase_add_test(tc, language);
	tcase_add_test(tc, origin);
	tcase_add_test(tc, local_host);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
