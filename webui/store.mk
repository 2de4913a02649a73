# webui/store.mk: the web view's read-only queries over the log database
# (webui/store.[ch]) and search folding (webui/fold.[ch], in webui/local.mk).
# Tests: tests/unit/webui/test_fold, test_store; tests/webui/mklog fills a log
# for tests and benchmarks (make bench: tests/bench/run-store).

check_PROGRAMS += tests/unit/webui/test_fold
TESTS += tests/unit/webui/test_fold
tests_unit_webui_test_fold_SOURCES = tests/unit/webui/test_fold.c tests/unit/testmain.h
tests_unit_webui_test_fold_CFLAGS = $(TEST_CFLAGS)
tests_unit_webui_test_fold_LDADD = webui/libwebui.a $(SMIME_LIBS) $(CHECK_LIBS)
