# agent/session: IMAP sessions with backoff, shared by the outbox and inbox workflows.
agent_libagent_a_SOURCES += agent/agent.h agent/session.c agent/logdb.h
