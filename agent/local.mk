# agent/: the daemon and the command line.  Links smime/ (and later webui/).
noinst_LIBRARIES += agent/libagent.a
agent_libagent_a_SOURCES = \
	agent/clock.h agent/log.h agent/log.c \
	agent/conf.h agent/conf.c \
	agent/cli.h agent/cli.c agent/cli-verify.c
agent_libagent_a_CFLAGS = $(AM_CFLAGS) $(LIBETPAN_CFLAGS) $(OPENSSL_CFLAGS) $(INIH_CFLAGS) $(JSONC_CFLAGS)
AGENT_LIBS = agent/libagent.a $(WEBUI_LIBS) $(SMIME_LIBS) $(LIBETPAN_LIBS) $(INIH_LIBS) $(OPENSSL_LIBS) $(JSONC_LIBS) -lpthread

bin_PROGRAMS += kyso
kyso_SOURCES = agent/main.c
kyso_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
kyso_LDADD = $(AGENT_LIBS)
# HTTP fetcher for revocation data (CRLs, OCSP), given to smime/ as struct smime_fetcher
agent_libagent_a_SOURCES += agent/fetch.h agent/fetch.c
