# agent/inbox.mk: see the module's header
