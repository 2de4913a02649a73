# agent/inbox.mk: the signed-mail log (agent/logdb.c, SQLite) and the incoming
# workflow (agent/inbox.c: IDLE, BODY.PEEK, verify, log, tag with keywords).
agent_libagent_a_SOURCES += agent/logdb.c agent/inbox.c
agent_libagent_a_CFLAGS += $(SQLITE_CFLAGS)
AGENT_LIBS += $(SQLITE_LIBS)
check_PROGRAMS += tests/unit/agent/test_logdb
TESTS += tests/unit/agent/test_logdb
tests_unit_agent_test_logdb_SOURCES = tests/unit/agent/test_logdb.c tests/unit/testmain.h
tests_unit_agent_test_logdb_CFLAGS = $(TEST_CFLAGS) $(SQLITE_CFLAGS) $(JSONC_CFLAGS)
tests_unit_agent_test_logdb_LDADD = $(AGENT_LIBS) $(CHECK_LIBS)

# The incoming workflow end to end (real Dovecot + Postfix): inbox-driver runs
# inbox_run in-process without agent.c; agent-inbox.sh drives it.
check_PROGRAMS += tests/e2e/inbox-driver
tests_e2e_inbox_driver_SOURCES = tests/e2e/inbox-driver.c
tests_e2e_inbox_driver_CFLAGS = $(AM_CFLAGS) $(LIBETPAN_CFLAGS) $(OPENSSL_CFLAGS)
tests_e2e_inbox_driver_LDADD = $(AGENT_LIBS)
TESTS += tests/e2e/agent-inbox.sh
EXTRA_DIST += tests/e2e/agent-inbox.sh

# make bench (wired in by the integrator): tests/bench/run-inbox
EXTRA_DIST += tests/bench/run-inbox

# inbox_run against a scripted server: no IDLE (polling), no keywords, vanished mail
check_PROGRAMS += tests/unit/agent/test_inbox
TESTS += tests/unit/agent/test_inbox
tests_unit_agent_test_inbox_SOURCES = tests/unit/agent/test_inbox.c $(NETTEST_SOURCES)
tests_unit_agent_test_inbox_CFLAGS = $(TEST_CFLAGS) $(LIBETPAN_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_agent_test_inbox_LDADD = $(AGENT_LIBS) $(CHECK_LIBS)
