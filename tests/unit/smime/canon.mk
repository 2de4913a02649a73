# tests of smime/mime.c and smime/canon.c (MIME parser and canonicaliser),
# included from Makefile.am.  mime.h is internal to smime/; these unit tests
# are the one place outside smime/ that includes it.
check_PROGRAMS += tests/unit/smime/test_canon tests/unit/smime/test_mime
TESTS += tests/unit/smime/test_canon tests/unit/smime/test_mime
tests_unit_smime_test_canon_SOURCES = tests/unit/smime/test_canon.c tests/unit/testmain.h
tests_unit_smime_test_canon_CFLAGS = $(TEST_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_smime_test_canon_LDADD = $(SMIME_LIBS) $(CHECK_LIBS)
tests_unit_smime_test_mime_SOURCES = tests/unit/smime/test_mime.c tests/unit/testmain.h
tests_unit_smime_test_mime_CFLAGS = $(TEST_CFLAGS)
tests_unit_smime_test_mime_LDADD = $(SMIME_LIBS) $(CHECK_LIBS)
