# agent/journal: the outgoing-mail state machine (SQLite), and its tests.
agent_libagent_a_SOURCES += agent/journal.h agent/journal.c
agent_libagent_a_CFLAGS += $(SQLITE_CFLAGS)
AGENT_LIBS += $(SQLITE_LIBS)
check_PROGRAMS += tests/unit/agent/test_journal
TESTS += tests/unit/agent/test_journal
tests_unit_agent_test_journal_SOURCES = tests/unit/agent/test_journal.c tests/unit/testmain.h
tests_unit_agent_test_journal_CFLAGS = $(TEST_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_agent_test_journal_LDADD = $(AGENT_LIBS) $(CHECK_LIBS)
