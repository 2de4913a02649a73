/* Unit tests of agent/log.c. */
#include "config.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/log.h"
#include "tests/unit/testmain.h"

/* Log into a temporary file and return what was written (caller frees). */
static char *
capture(enum log_level min, void (*emit)(void))
{
	FILE *fp = tmpfile();
	char *out = xcalloc(1, 8192);
	size_t n;

	ck_assert_ptr_nonnull(fp);
	log_setup(min, LOG_TARGET_FD, fileno(fp));
	emit();
	rewind(fp);
	n = fread(out, 1, 8191, fp);
	out[n] = '\0';
	fclose(fp);
	log_setup(LOG_LEVEL_INFO, LOG_TARGET_STDERR, -1);
	return out;
}

static void emit_basic(void) { log_info("acct=%s step=%s result=ok rcpts=%d", "vanthu", "submit", 3); }

START_TEST(line_format)
{
	char *out = capture(LOG_LEVEL_INFO, emit_basic);
	regex_t re;

	ck_assert_int_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
	    "info acct=vanthu step=submit result=ok rcpts=3\n$", REG_EXTENDED), 0);
	ck_assert_msg(regexec(&re, out, 0, NULL, 0) == 0, "got: %s", out);
	regfree(&re);
	free(out);
}
END_TEST

static void emit_levels(void)
{
	log_debug("d=1");
	log_info("i=1");
	log_warn("w=1");
	log_error("e=1");
}

START_TEST(level_filter)
{
	char *out = capture(LOG_LEVEL_WARN, emit_levels);

	ck_assert_ptr_null(strstr(out, "d=1"));
	ck_assert_ptr_null(strstr(out, "i=1"));
	ck_assert_ptr_nonnull(strstr(out, " warn w=1\n"));
	ck_assert_ptr_nonnull(strstr(out, " error e=1\n"));
	free(out);
	out = capture(LOG_LEVEL_DEBUG, emit_levels);
	ck_assert_ptr_nonnull(strstr(out, " debug d=1\n"));
	free(out);
}
END_TEST

static void emit_hostile(void)
{
	/* A Message-ID with a line break must not forge a second log line. */
	log_info("msgid=%s step=verify", "<a@b>\n2026-01-01T00:00:00.000Z info forged=1\r\x1b[2J");
}

START_TEST(control_chars_escaped)
{
	char *out = capture(LOG_LEVEL_INFO, emit_hostile);

	ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);   /* exactly one line */
	ck_assert_ptr_null(strchr(out, '\r'));
	ck_assert_ptr_null(strchr(out, '\x1b'));
	ck_assert_ptr_nonnull(strstr(out, "msgid=<a@b>\\x0a2026-01-01"));
	ck_assert_ptr_nonnull(strstr(out, "\\x0d\\x1b[2J step=verify"));
	free(out);
}
END_TEST

static void emit_long(void)
{
	char big[10000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("big=%s", big);
	log_info("after=1");
}

START_TEST(long_lines_truncated_not_split)
{
	char *out = capture(LOG_LEVEL_INFO, emit_long);
	char *nl = strchr(out, '\n');

	ck_assert_ptr_nonnull(nl);
	ck_assert_ptr_nonnull(strstr(nl + 1, " info after=1\n"));
	free(out);
}
END_TEST

START_TEST(quote_values)
{
	char buf[64];

	ck_assert_str_eq(log_quote(buf, sizeof(buf), "Công văn số 12"), "\"Công văn số 12\"");
	ck_assert_str_eq(log_quote(buf, sizeof(buf), "say \"hi\" \\o/"), "\"say \\\"hi\\\" \\\\o/\"");
	ck_assert_str_eq(log_quote(buf, sizeof(buf), ""), "\"\"");
}
END_TEST

START_TEST(quote_truncates_on_utf8_boundary)
{
	char buf[16];
	const char *s = "ĐĐĐĐĐĐĐĐĐĐĐĐĐĐĐ";      /* two bytes each */

	log_quote(buf, sizeof(buf), s);
	ck_assert_uint_lt(strlen(buf), sizeof(buf));
	ck_assert_str_eq(buf + strlen(buf) - 4, "...\"");
	/* Whole characters only: an even number of bytes between the quote and "...". */
	ck_assert_uint_eq((strlen(buf) - 5) % 2, 0);
	ck_assert_str_eq(buf, "\"ĐĐĐĐ...\"");
}
END_TEST

START_TEST(level_names)
{
	enum log_level l;

	ck_assert(log_level_parse("debug", &l) && l == LOG_LEVEL_DEBUG);
	ck_assert(log_level_parse("WARNING", &l) && l == LOG_LEVEL_WARN);
	ck_assert(log_level_parse("error", &l) && l == LOG_LEVEL_ERROR);
	ck_assert(!log_level_parse("verbose", &l));
	ck_assert(!log_level_parse("", &l));
	ck_assert_str_eq(log_level_name(LOG_LEVEL_INFO), "info");
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("agent/log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, line_format);
	tcase_add_test(tc, level_filter);
	tcase_add_test(tc, control_chars_escaped);
	tcase_add_test(tc, long_lines_truncated_not_split);
	tcase_add_test(tc, quote_values);
	tcase_add_test(tc, quote_truncates_on_utf8_boundary);
	tcase_add_test(tc, level_names);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
