# webui/tmpl.mk: see the module's header
