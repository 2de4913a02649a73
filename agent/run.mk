# agent/run.mk: see the module's header
