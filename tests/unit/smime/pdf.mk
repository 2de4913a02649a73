# tests of smime/pdf.c (signature dictionaries in PDFs), included from
# Makefile.am.  pdf.h is internal to smime/; this unit test is the one place
# outside smime/ that includes it.  It runs tests/pki/mkpki and
# tests/data/mkpdf (perl-base + the openssl command line) and reads the
# pyHanko corpus in ../shared/corpora when it is there.
check_PROGRAMS += tests/unit/smime/test_pdf
TESTS += tests/unit/smime/test_pdf
tests_unit_smime_test_pdf_SOURCES = tests/unit/smime/test_pdf.c tests/unit/testmain.h
tests_unit_smime_test_pdf_CFLAGS = $(TEST_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_smime_test_pdf_LDADD = $(SMIME_LIBS) $(CHECK_LIBS)
EXTRA_DIST += tests/data/mkpdf
