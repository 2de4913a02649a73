# agent/outbox: the outgoing workflow (outbox -> sign -> SMTP -> Sent), exactly once.
agent_libagent_a_SOURCES += agent/outbox.c
