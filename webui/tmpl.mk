# webui/tmpl.mk: the template engine (webui/tmpl.[ch], docs/TEMPLATES.md), the
# page templates in templates/, their unit tests and fuzz harness.
webui_libwebui_a_SOURCES += webui/tmpl.h webui/tmpl.c


check_PROGRAMS += tests/unit/webui/test_tmpl
TESTS += tests/unit/webui/test_tmpl
tests_unit_webui_test_tmpl_SOURCES = tests/unit/webui/test_tmpl.c tests/unit/testmain.h
tests_unit_webui_test_tmpl_CFLAGS = $(TEST_CFLAGS) $(JSONC_CFLAGS)
tests_unit_webui_test_tmpl_LDADD = $(WEBUI_LIBS) $(SMIME_LIBS) $(CHECK_LIBS)

EXTRA_DIST += tests/fuzz/corpus/tmpl/basic tests/fuzz/corpus/tmpl/sections \
	tests/fuzz/corpus/tmpl/partial tests/fuzz/corpus/tmpl/hostile tests/fuzz/corpus/tmpl/indirect
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_tmpl
tests_fuzz_fuzz_tmpl_SOURCES = tests/fuzz/fuzz_tmpl.c
tests_fuzz_fuzz_tmpl_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
tests_fuzz_fuzz_tmpl_LDFLAGS = $(AM_LDFLAGS) $(FUZZER_LINK)
tests_fuzz_fuzz_tmpl_LDADD = $(WEBUI_LIBS) $(SMIME_LIBS)
endif
