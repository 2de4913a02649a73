# webui/store.mk: see the module's header
