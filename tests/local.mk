# tests/: unit tests mirror the source tree; e2e/ runs real Dovecot + Postfix.
EXTRA_DIST += tests/lib.sh tests/mailstack

TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)

# smime/
check_PROGRAMS += tests/unit/smime/test_base
TESTS += tests/unit/smime/test_base
tests_unit_smime_test_base_SOURCES = tests/unit/smime/test_base.c tests/unit/testmain.h
tests_unit_smime_test_base_CFLAGS = $(TEST_CFLAGS)
tests_unit_smime_test_base_LDADD = $(SMIME_LIBS) $(CHECK_LIBS)

# agent/
check_PROGRAMS += tests/unit/agent/test_log tests/unit/agent/test_conf
TESTS += tests/unit/agent/test_log tests/unit/agent/test_conf
tests_unit_agent_test_log_SOURCES = tests/unit/agent/test_log.c tests/unit/testmain.h
tests_unit_agent_test_log_CFLAGS = $(TEST_CFLAGS)
tests_unit_agent_test_log_LDADD = $(AGENT_LIBS) $(CHECK_LIBS)
tests_unit_agent_test_conf_SOURCES = tests/unit/agent/test_conf.c tests/unit/testmain.h
tests_unit_agent_test_conf_CFLAGS = $(TEST_CFLAGS)
tests_unit_agent_test_conf_LDADD = $(AGENT_LIBS) $(CHECK_LIBS)

