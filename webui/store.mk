# webui/store.mk: the web view's read-only queries over the log database
# (webui/store.[ch]) and search folding (webui/fold.[ch], in webui/local.mk).
# Tests: tests/unit/webui/test_fold, test_store; tests/webui/mklog fills a log
# for tests and benchmarks (make bench: tests/bench/run-store).

check_PROGRAMS += tests/unit/webui/test_fold
TESTS += tests/unit/webui/test_fold
tests_unit_webui_test_fold_SOURCES = tests/unit/webui/test_fold.c tests/unit/testmain.h
tests_unit_webui_test_fold_CFLAGS = $(TEST_CFLAGS)
tests_unit_webui_test_fold_LDADD = webui/libwebui.a $(SMIME_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/unit/webui/test_store
TESTS += tests/unit/webui/test_store
tests_unit_webui_test_store_SOURCES = tests/unit/webui/test_store.c tests/unit/testmain.h \
	tests/webui/logfill.c tests/webui/logfill.h
tests_unit_webui_test_store_CFLAGS = $(TEST_CFLAGS) $(SQLITE_CFLAGS) $(JSONC_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_webui_test_store_LDADD = $(AGENT_LIBS) $(CHECK_LIBS)

# mklog: a log database filled with realistic rows (tests, benchmarks, the
# server and template tests); logfill.[ch] is its code, also linked by test_store.
# The schema comes from agent/logdb.c and agent/journal.c, hence AGENT_LIBS.
check_PROGRAMS += tests/webui/mklog
tests_webui_mklog_SOURCES = tests/webui/mklog.c tests/webui/logfill.c tests/webui/logfill.h
tests_webui_mklog_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
tests_webui_mklog_LDADD = $(AGENT_LIBS)

webui_libwebui_a_SOURCES += webui/store.h webui/store.c

# make bench: tests/bench/run-store makes a 1,000,000-row log and times the queries.
check_PROGRAMS += tests/bench/bench_store
tests_bench_bench_store_SOURCES = tests/bench/bench_store.c tests/bench/bench.h
tests_bench_bench_store_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
tests_bench_bench_store_LDADD = webui/libwebui.a $(SMIME_LIBS) $(SQLITE_LIBS) $(JSONC_LIBS) -lpthread
EXTRA_DIST += tests/bench/run-store
bench: bench-store
bench-store: tests/webui/mklog tests/bench/bench_store
	KYSO_SRCDIR='$(abs_top_srcdir)' KYSO_BUILDDIR='$(abs_top_builddir)' $(SHELL) $(srcdir)/tests/bench/run-store
.PHONY: bench-store
TESTS += tests/webui/mklog.sh
EXTRA_DIST += tests/webui/mklog.sh
