# agent/outbox.mk: see the module's header
