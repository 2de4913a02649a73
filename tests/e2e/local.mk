# tests/e2e/: end-to-end tests against the real mail system from tests/mailstack.

# smoke: agent/tls, imapc and smtpc against Dovecot + Postfix.  The program
# needs the stack's environment, so only its wrapper script is a test.
check_PROGRAMS += tests/e2e/smoke
tests_e2e_smoke_SOURCES = tests/e2e/smoke.c \
	tests/unit/agent/nettest.h tests/unit/agent/nettest.c tests/unit/testmain.h
tests_e2e_smoke_CFLAGS = $(TEST_CFLAGS) $(LIBETPAN_CFLAGS) $(OPENSSL_CFLAGS)
tests_e2e_smoke_LDADD = $(AGENT_LIBS) $(CHECK_LIBS)
TESTS += tests/e2e/smoke.sh
EXTRA_DIST += tests/e2e/smoke.sh

# Signed messages through the real transport; mailtool is kyso's smtpc/imapc
# as a small command for tests and the demo.
check_PROGRAMS += tests/e2e/mailtool
tests_e2e_mailtool_SOURCES = tests/e2e/mailtool.c
tests_e2e_mailtool_LDADD = $(AGENT_LIBS)
TESTS += tests/e2e/sign-transport.sh
EXTRA_DIST += tests/e2e/sign-transport.sh
