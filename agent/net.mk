# agent/ network code: TLS (OpenSSL), IMAP and SMTP clients (libetpan).
agent_libagent_a_SOURCES += \
	agent/tls.h agent/tls.c \
	agent/imapc.h agent/imapc.c \
	agent/smtpc.h agent/smtpc.c

# Their unit tests: in-process TLS, fake servers misbehaving on purpose, no mail stack.
NETTEST_SOURCES = tests/unit/agent/nettest.h tests/unit/agent/nettest.c tests/unit/testmain.h
check_PROGRAMS += tests/unit/agent/test_tls tests/unit/agent/test_imapc tests/unit/agent/test_smtpc
TESTS += tests/unit/agent/test_tls tests/unit/agent/test_imapc tests/unit/agent/test_smtpc
tests_unit_agent_test_tls_SOURCES = tests/unit/agent/test_tls.c $(NETTEST_SOURCES)
tests_unit_agent_test_tls_CFLAGS = $(TEST_CFLAGS) $(LIBETPAN_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_agent_test_tls_LDADD = $(AGENT_LIBS) $(CHECK_LIBS)
tests_unit_agent_test_imapc_SOURCES = tests/unit/agent/test_imapc.c $(NETTEST_SOURCES)
tests_unit_agent_test_imapc_CFLAGS = $(TEST_CFLAGS) $(LIBETPAN_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_agent_test_imapc_LDADD = $(AGENT_LIBS) $(CHECK_LIBS)
tests_unit_agent_test_smtpc_SOURCES = tests/unit/agent/test_smtpc.c $(NETTEST_SOURCES)
tests_unit_agent_test_smtpc_CFLAGS = $(TEST_CFLAGS) $(LIBETPAN_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_agent_test_smtpc_LDADD = $(AGENT_LIBS) $(CHECK_LIBS)
