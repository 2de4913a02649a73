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


# kyso sign / kyso verify on files, checked by outside verifiers
EXTRA_DIST += tests/data/mkmsgs tests/data/split-signed \
	tests/pki/mkpki tests/pki/mktoken tests/pki/mkgpgsm tests/pki/stop-agent tests/pki/README.md \
	tests/pki/selftest tests/cli/sign.sh
TESTS += tests/cli/sign.sh
TESTS += tests/pki/selftest

# make bench: speed and memory figures with ratios against named baselines
EXTRA_PROGRAMS = tests/bench/bench_sign tests/bench/bench_verify
tests_bench_bench_sign_SOURCES = tests/bench/bench_sign.c tests/bench/bench.h
tests_bench_bench_sign_LDADD = $(AGENT_LIBS)
tests_bench_bench_verify_SOURCES = tests/bench/bench_verify.c tests/bench/bench.h
tests_bench_bench_verify_LDADD = $(AGENT_LIBS)
EXTRA_DIST += tests/bench/run tests/bench/run-verify
CLEANFILES += $(EXTRA_PROGRAMS)
bench: all $(EXTRA_PROGRAMS)
	KYSO_SRCDIR='$(abs_top_srcdir)' KYSO_BUILDDIR='$(abs_top_builddir)' $(SHELL) $(srcdir)/tests/bench/run
	KYSO_SRCDIR='$(abs_top_srcdir)' KYSO_BUILDDIR='$(abs_top_builddir)' $(SHELL) $(srcdir)/tests/bench/run-verify
.PHONY: bench

# Shell tests keep their logs in the build tree; make the folders they need
# there (a VPATH build, as in distcheck, has none where nothing is compiled).
BUILT_SOURCES = tests/cli/.mkdir tests/pki/.mkdir
tests/cli/.mkdir tests/pki/.mkdir:
	@$(MKDIR_P) $(@D) && touch $@
CLEANFILES += tests/cli/.mkdir tests/pki/.mkdir
TESTS += tests/cli/verify.sh
EXTRA_DIST += tests/cli/verify.sh

# make bench, the agent's end-to-end part against the local mail system (root):
# tests/bench/run-inbox (backlog verified and tagged, 500 idle accounts) and
# tests/bench/run-outbox (drafts signed, sent, filed; draft-to-delivered latency).
bench: bench-agent
bench-agent: all tests/e2e/mailtool tests/e2e/inbox-driver
	KYSO_SRCDIR='$(abs_top_srcdir)' KYSO_BUILDDIR='$(abs_top_builddir)' KYSO_BIN='$(abs_top_builddir)/kyso' \
	OPENSSL_CLI='$(OPENSSL_CLI)' bash $(srcdir)/tests/bench/run-inbox
	KYSO_SRCDIR='$(abs_top_srcdir)' KYSO_BUILDDIR='$(abs_top_builddir)' KYSO_BIN='$(abs_top_builddir)/kyso' \
	OPENSSL_CLI='$(OPENSSL_CLI)' bash $(srcdir)/tests/bench/run-outbox
.PHONY: bench-agent
