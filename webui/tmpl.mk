# webui/tmpl.mk: the template engine (webui/tmpl.[ch], docs/TEMPLATES.md), the
# page templates in templates/, their unit tests and fuzz harness.
webui_libwebui_a_SOURCES += webui/tmpl.h webui/tmpl.c

# templates/: installed under $(pkgdatadir)/templates (the [web] templates
# setting points there) and shipped in the tarball.
templatesdir = $(pkgdatadir)/templates
dist_templates_DATA = templates/head.html templates/nav.html templates/footer.html \
	templates/verdict.html templates/attverdict.html templates/reasons.html templates/login.html templates/log.html \
	templates/message.html templates/accounts.html templates/overview.html templates/error.html
i18ndir = $(templatesdir)/i18n
dist_i18n_DATA = templates/i18n/vi.json templates/i18n/en.json
staticdir = $(templatesdir)/static
dist_static_DATA = templates/static/kyso.css templates/static/kyso.js

check_PROGRAMS += tests/unit/webui/test_tmpl
TESTS += tests/unit/webui/test_tmpl
tests_unit_webui_test_tmpl_SOURCES = tests/unit/webui/test_tmpl.c tests/unit/testmain.h
tests_unit_webui_test_tmpl_CFLAGS = $(TEST_CFLAGS) $(JSONC_CFLAGS)
tests_unit_webui_test_tmpl_LDADD = $(WEBUI_LIBS) $(SMIME_LIBS) $(CHECK_LIBS)
EXTRA_DIST += tests/unit/webui/tmpl-pages.json

EXTRA_DIST += tests/fuzz/corpus/tmpl/basic tests/fuzz/corpus/tmpl/sections \
	tests/fuzz/corpus/tmpl/partial tests/fuzz/corpus/tmpl/hostile tests/fuzz/corpus/tmpl/indirect \
	tests/fuzz/corpus/tmpl/positions
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_tmpl
tests_fuzz_fuzz_tmpl_SOURCES = tests/fuzz/fuzz_tmpl.c
tests_fuzz_fuzz_tmpl_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
tests_fuzz_fuzz_tmpl_LDFLAGS = $(AM_LDFLAGS) $(FUZZER_LINK)
tests_fuzz_fuzz_tmpl_LDADD = $(WEBUI_LIBS) $(SMIME_LIBS)
endif

# tests/browser/: the web view in headless Chromium (playwright-core from npm,
# installed into the build tree); skips where node or chromium is missing.
TESTS += tests/browser/browser.sh
EXTRA_DIST += tests/browser/browser.sh tests/browser/browser.js tests/browser/package.json
check_SCRIPTS += tests/browser/.mkdir
tests/browser/.mkdir:
	@$(MKDIR_P) $(@D) && touch $@
CLEANFILES += tests/browser/.mkdir
clean-local: clean-local-browser
clean-local-browser:
	-rm -rf tests/browser/browser.out tests/browser/npm
.PHONY: clean-local-browser
