# tests of smime/revocation.c (CRLs, distribution points, OCSP against a real
# `openssl ocsp` responder) and agent/fetch.c (the HTTP fetcher), included
# from Makefile.am.  revocation.h is internal to smime/; test_revocation is
# the one place outside smime/ that includes it.  It links agent/ too, for
# the real fetcher between it and the servers it starts on loopback.
HTTPD_SOURCES = tests/unit/httpd.h tests/unit/httpd.c tests/unit/testmain.h
check_PROGRAMS += tests/unit/smime/test_revocation tests/unit/agent/test_fetch
TESTS += tests/unit/smime/test_revocation tests/unit/agent/test_fetch
tests_unit_smime_test_revocation_SOURCES = tests/unit/smime/test_revocation.c $(HTTPD_SOURCES)
tests_unit_smime_test_revocation_CFLAGS = $(TEST_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_smime_test_revocation_LDADD = $(AGENT_LIBS) $(CHECK_LIBS)
tests_unit_agent_test_fetch_SOURCES = tests/unit/agent/test_fetch.c $(HTTPD_SOURCES)
tests_unit_agent_test_fetch_CFLAGS = $(TEST_CFLAGS)
tests_unit_agent_test_fetch_LDADD = $(AGENT_LIBS) $(CHECK_LIBS)
