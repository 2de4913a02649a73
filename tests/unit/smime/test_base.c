/* Unit tests of smime/base.c: the error contract, allocation, buffers. */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "smime/smime.h"
#include "tests/unit/testmain.h"

START_TEST(err_set_and_prefix)
{
	struct kerr e = KERR_INIT;

	ck_assert(!kerr_isset(&e));
	kerr_set(&e, KERR_TEMP, "connect %s:%d: %s", "localhost", 993, "refused");
	ck_assert(kerr_isset(&e));
	ck_assert_int_eq(e.cls, KERR_TEMP);
	ck_assert_str_eq(e.msg, "connect localhost:993: refused");
	kerr_prefix(&e, "account %s: ", "vanthu");
	ck_assert_str_eq(e.msg, "account vanthu: connect localhost:993: refused");
	ck_assert_str_eq(kerr_class_name(e.cls), "temporary");
	kerr_clear(&e);
	ck_assert(!kerr_isset(&e));
	ck_assert_str_eq(e.msg, "");
}
END_TEST

START_TEST(err_is_one_line)
{
	struct kerr e = KERR_INIT;

	/* A hostile server reply must not make a multi-line error. */
	kerr_set(&e, KERR_PERM, "server said: %s", "550 no\r\nX-Forged: yes\x1b[31m");
	ck_assert_ptr_null(strchr(e.msg, '\n'));
	ck_assert_ptr_null(strchr(e.msg, '\r'));
	ck_assert_ptr_null(strchr(e.msg, '\x1b'));
	ck_assert_str_eq(e.msg, "server said: 550 no??X-Forged: yes?[31m");
}
END_TEST

START_TEST(err_none_class_becomes_internal)
{
	struct kerr e = KERR_INIT;

	kerr_set(&e, KERR_NONE, "oops");
	ck_assert_int_eq(e.cls, KERR_INTERNAL);
}
END_TEST

START_TEST(err_truncates_long_messages)
{
	struct kerr e = KERR_INIT;
	char big[2000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kerr_set(&e, KERR_PERM, "%s", big);
	ck_assert_uint_eq(strlen(e.msg), sizeof(e.msg) - 1);
	kerr_prefix(&e, "%s", "prefix: ");
	ck_assert_uint_eq(strlen(e.msg), sizeof(e.msg) - 1);
	ck_assert(strncmp(e.msg, "prefix: aaa", 11) == 0);
}
END_TEST

START_TEST(buf_grows_and_steals)
{
	struct buf b = BUF_INIT;
	size_t len;
	char *p;

	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	ck_assert_uint_eq(b.len, strlen(b.data));
	ck_assert(strncmp(b.data, "0,1,2,", 6) == 0);
	ck_assert(strstr(b.data, ",999,") != NULL);
	buf_append(&b, "\0x", 2);       /* binary-safe */
	ck_assert_uint_eq(b.data[b.len - 2], '\0');
	ck_assert_uint_eq(b.data[b.len], '\0');
	p = buf_steal(&b, &len);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_gt(len, 3000);
	free(p);
	p = buf_steal(&b, &len);        /* empty buffer gives an empty string */
	ck_assert_str_eq(p, "");
	ck_assert_uint_eq(len, 0);
	free(p);
}
END_TEST

START_TEST(xalloc_helpers)
{
	char *s = xasprintf("%s-%d", "kyso", 7);
	char *t = xstrndup("abcdef", 3);
	int *arr = xreallocarray(NULL, 10, sizeof(int));

	ck_assert_str_eq(s, "kyso-7");
	ck_assert_str_eq(t, "abc");
	arr[9] = 1;
	xfree(&s);
	ck_assert_ptr_null(s);
	xfree(&s);                      /* twice is fine */
	xfree(NULL);
	free(t);
	free(arr);
}
END_TEST

START_TEST(xreallocarray_overflow_aborts)
{
	(void)xreallocarray(NULL, SIZE_MAX / 2, 4);
}
END_TEST

START_TEST(version_names_libraries)
{
	const char *v = smime_version();

	ck_assert(strstr(v, "kyso") != NULL);
	ck_assert(strstr(v, "OpenSSL 3") != NULL);
	ck_assert(strstr(v, "GPGME") != NULL);
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("smime/base");
	TCase *tc = tcase_create("base");

	tcase_add_test(tc, err_set_and_prefix);
	tcase_add_test(tc, err_is_one_line);
	tcase_add_test(tc, err_none_class_becomes_internal);
	tcase_add_test(tc, err_truncates_long_messages);
	tcase_add_test(tc, buf_grows_and_steals);
	tcase_add_test(tc, xalloc_helpers);
	tcase_add_test_raise_signal(tc, xreallocarray_overflow_aborts, SIGABRT);
	tcase_add_test(tc, version_names_libraries);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
