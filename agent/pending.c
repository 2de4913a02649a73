/*
 * pending.c - TEMPORARY weak stand-ins for functions another branch is
 * writing now (webui/webui.c, branch `server`), so that `kyso` links before
 * it lands.
 *
 * This file is a library of its own, linked after every other one: the
 * linker takes a member of it only for symbols that are still undefined,
 * so as soon as the real code is in libagent.a / libwebui.a it wins, and
 * the weak definitions here never clash with it.  Delete this file (and
 * its lines in agent/run.mk) once all of them are merged.
 */
#include "config.h"

#include <stdlib.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "webui/webui.h"

#define WEAK __attribute__((weak))

WEAK struct webui *
webui_start(const struct webui_opts *o, struct kerr *err)
{
	(void)o;
	kerr_set(err, KERR_CONFIG, "built without the web view (webui/webui.c)");
	return NULL;
}

WEAK unsigned
webui_port(const struct webui *w)
{
	(void)w;
	return 0;
}

WEAK void
webui_stop(struct webui **wp)
{
	if (wp != NULL)
		*wp = NULL;
}
