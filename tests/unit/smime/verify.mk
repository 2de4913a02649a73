# tests of smime/verify*.c (the verification engine), included from
# Makefile.am.  It runs tests/pki/mkpki and tests/data/mkpdf once per run and
# makes its signatures with OpenSSL; it links smime/ only.
check_PROGRAMS += tests/unit/smime/test_verify
TESTS += tests/unit/smime/test_verify
tests_unit_smime_test_verify_SOURCES = tests/unit/smime/test_verify.c tests/unit/testmain.h
tests_unit_smime_test_verify_CFLAGS = $(TEST_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_smime_test_verify_LDADD = $(SMIME_LIBS) $(CHECK_LIBS)
# the outside corpora (../shared/corpora) as of their time; skipped when absent
TESTS += tests/conformance/check.sh
EXTRA_DIST += tests/conformance/check.sh tests/conformance/run tests/conformance/differences.tsv \
	tests/conformance/pyhanko-pdf.conf tests/conformance/pyhanko-pdf.map \
	tests/conformance/thunderbird-smime.conf tests/conformance/thunderbird-smime.content \
	tests/conformance/thunderbird-smime.map
BUILT_SOURCES += tests/conformance/.mkdir
tests/conformance/.mkdir:
	@$(MKDIR_P) $(@D) && touch $@
CLEANFILES += tests/conformance/.mkdir
