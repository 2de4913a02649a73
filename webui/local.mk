# webui/: libmicrohttpd handlers over the log. Never talks IMAP or SMTP.
# The library every kyso program links (agent/local.mk puts it in AGENT_LIBS);
# webui/tmpl.mk and webui/store.mk add their sources to it.
noinst_LIBRARIES += webui/libwebui.a
webui_libwebui_a_SOURCES = webui/webui.h webui/fold.h webui/fold.c \
	webui/webui-private.h webui/server.c webui/session.c webui/pages.c webui/svg.c
webui_libwebui_a_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(JSONC_CFLAGS) $(SQLITE_CFLAGS) $(OPENSSL_CFLAGS)
WEBUI_LIBS = webui/libwebui.a $(MHD_LIBS) $(JSONC_LIBS) $(SQLITE_LIBS) -lpthread
