# agent/run: `kyso agent` - the process (threads, signals, reload, web view,
# metrics), its systemd unit and its end-to-end tests.
agent_libagent_a_SOURCES += agent/agent.c

# The systemd unit, with this build's paths.
systemdunitdir = $(prefix)/lib/systemd/system
systemdunit_DATA = data/kyso.service
EXTRA_DIST += data/kyso.service.in
CLEANFILES += data/kyso.service
data/kyso.service: $(srcdir)/data/kyso.service.in Makefile
	@$(MKDIR_P) data
	$(AM_V_GEN)sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
		$(srcdir)/data/kyso.service.in >$@.tmp && mv $@.tmp $@

# End-to-end: the agent against the real Dovecot + Postfix.
TESTS += tests/e2e/agent-outbox.sh tests/e2e/agent-faults.sh tests/e2e/agent-poll.sh
EXTRA_DIST += tests/e2e/agent-lib.sh tests/e2e/agent-outbox.sh tests/e2e/agent-faults.sh tests/e2e/agent-poll.sh tests/bench/run-outbox
