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
