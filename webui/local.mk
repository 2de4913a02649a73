# webui/: libmicrohttpd handlers over the log. Never talks IMAP or SMTP.
# The library every kyso program links (agent/local.mk puts it in AGENT_LIBS);
# webui/tmpl.mk and webui/store.mk add their sources to it.
noinst_LIBRARIES += webui/libwebui.a
webui_libwebui_a_SOURCES = webui/webui.h webui/fold.h webui/fold.c \
	webui/webui-private.h webui/server.c webui/session.c webui/pages.c webui/svg.c
webui_libwebui_a_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(JSONC_CFLAGS) $(SQLITE_CFLAGS) $(OPENSSL_CFLAGS)
WEBUI_LIBS = webui/libwebui.a $(MHD_LIBS) $(JSONC_LIBS) $(SQLITE_LIBS) $(OPENSSL_LIBS) -lpthread

# Unit tests of the server side (sessions, parsers, routing, CSV, chart).
check_PROGRAMS += tests/unit/webui/test_session
TESTS += tests/unit/webui/test_session
tests_unit_webui_test_session_SOURCES = tests/unit/webui/test_session.c tests/unit/testmain.h
tests_unit_webui_test_session_CFLAGS = $(TEST_CFLAGS) $(MHD_CFLAGS) $(JSONC_CFLAGS)
tests_unit_webui_test_session_LDADD = $(WEBUI_LIBS) $(SMIME_LIBS) $(CHECK_LIBS)
check_PROGRAMS += tests/unit/webui/test_server
TESTS += tests/unit/webui/test_server
tests_unit_webui_test_server_SOURCES = tests/unit/webui/test_server.c tests/unit/testmain.h
tests_unit_webui_test_server_CFLAGS = $(TEST_CFLAGS) $(MHD_CFLAGS) $(JSONC_CFLAGS)
tests_unit_webui_test_server_LDADD = $(WEBUI_LIBS) $(SMIME_LIBS) $(CHECK_LIBS)

# tests/webui/webserve: the web view alone over a log, for e2e, browser and
# bench tests (logins by IMAP LOGIN against a mail stack, or a fixed list).
check_PROGRAMS += tests/webui/webserve
tests_webui_webserve_SOURCES = tests/webui/webserve.c
tests_webui_webserve_CFLAGS = $(AM_CFLAGS) $(LIBETPAN_CFLAGS) $(OPENSSL_CFLAGS)
tests_webui_webserve_LDADD = $(AGENT_LIBS)
TESTS += tests/webui/web.sh
EXTRA_DIST += tests/webui/web.sh tests/bench/run-web

# make bench-web (also run by make bench): the web view over a 1,000,000-row log
bench-web: all tests/webui/webserve tests/webui/mklog
	KYSO_SRCDIR='$(abs_top_srcdir)' KYSO_BUILDDIR='$(abs_top_builddir)' bash $(srcdir)/tests/bench/run-web
bench: bench-web
.PHONY: bench-web

# libFuzzer: the parsers of what a browser sends (cookies, forms, origin,
# routes, dates, cursors, language, CSV cells)
EXTRA_DIST += tests/fuzz/corpus/webreq/basic tests/fuzz/corpus/webreq/hostile tests/fuzz/corpus/webreq/empty
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_webreq
tests_fuzz_fuzz_webreq_SOURCES = tests/fuzz/fuzz_webreq.c
tests_fuzz_fuzz_webreq_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(JSONC_CFLAGS)
tests_fuzz_fuzz_webreq_LDFLAGS = $(AM_LDFLAGS) $(FUZZER_LINK)
tests_fuzz_fuzz_webreq_LDADD = $(WEBUI_LIBS) $(SMIME_LIBS)
endif
