/*
 * testmain.h - the main() of every Check-based unit test program.
 *
 *   static Suite *make_suite(void) { ... }
 *   KYSO_TEST_MAIN(make_suite)
 *
 * Results are printed as TAP on stdout (automake's tap-driver counts each
 * test case), and the exit status is non-zero when any case failed.  Each
 * case runs in its own process, so a crash fails that case, not the run.
 */
#ifndef KYSO_TESTMAIN_H
#define KYSO_TESTMAIN_H

#include <check.h>
#include <stdlib.h>

#define KYSO_TEST_MAIN(suite_fn)                                        \
	int main(void)                                                  \
	{                                                               \
		SRunner *sr = srunner_create(suite_fn());               \
		int failed;                                             \
		srunner_set_tap(sr, "-");                               \
		srunner_run_all(sr, CK_SILENT);                         \
		failed = srunner_ntests_failed(sr);                     \
		srunner_free(sr);                                       \
		return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;       \
	}

/* Path of a file in the source tree (tests run from the build tree). */
static inline const char *
kyso_srcdir(void)
{
	const char *d = getenv("KYSO_SRCDIR");

	return d != NULL ? d : ".";
}

#endif
