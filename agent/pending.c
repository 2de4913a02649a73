/*
 * pending.c - TEMPORARY weak stand-ins for functions other branches are
 * writing now (agent/logdb.c, agent/inbox.c, the #5 additions to
 * agent/imapc.c, webui/webui.c), so that `kyso` links before they land.
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
#include "agent/imapc.h"
#include "agent/logdb.h"
#include "agent/log.h"
#include "webui/webui.h"

#define WEAK __attribute__((weak))

static int dummy_log;

WEAK struct logdb *
logdb_open(const char *path, struct kerr *err)
{
	(void)path;
	(void)err;
	log_warn("step=start note=\"built without agent/logdb.c: nothing is logged to the database\"");
	return (struct logdb *)&dummy_log;
}

WEAK void
logdb_close(struct logdb **lp)
{
	if (lp != NULL)
		*lp = NULL;
}

WEAK bool
logdb_add_outgoing(struct logdb *l, const struct logdb_place *p, int64_t journal_id, const char *msg,
    size_t len, struct kerr *err)
{
	(void)l, (void)p, (void)journal_id, (void)msg, (void)len, (void)err;
	return true;
}

WEAK bool
logdb_set_outgoing(struct logdb *l, int64_t journal_id, const char *verdict, const char *detail,
    struct kerr *err)
{
	(void)l, (void)journal_id, (void)verdict, (void)detail, (void)err;
	return true;
}

WEAK bool
logdb_account_state(struct logdb *l, const char *account, const char *address, const char *state,
    const char *error, struct kerr *err)
{
	(void)l, (void)account, (void)address, (void)state, (void)error, (void)err;
	return true;
}

WEAK bool
logdb_account_idle(struct logdb *l, const char *account, int64_t when, struct kerr *err)
{
	(void)l, (void)account, (void)when, (void)err;
	return true;
}

WEAK bool
logdb_account_backlog(struct logdb *l, const char *account, int64_t backlog, struct kerr *err)
{
	(void)l, (void)account, (void)backlog, (void)err;
	return true;
}

WEAK void
inbox_run(struct account_rt *rt, const char *folder)
{
	log_warn("acct=%s folder=%s step=inbox note=\"built without agent/inbox.c: not verified\"",
	    rt->acct->name, folder);
}

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

WEAK bool
imapc_create(struct imapc *im, const char *folder, struct kerr *err)
{
	(void)im, (void)folder, (void)err;
	return true;
}

WEAK bool
imapc_move_uid(struct imapc *im, uint32_t uid, const char *folder, struct kerr *err)
{
	(void)im, (void)uid, (void)folder;
	kerr_set(err, KERR_PERM, "imapc_move_uid: not built yet");
	return false;
}

WEAK bool
imapc_delete_uid(struct imapc *im, uint32_t uid, struct kerr *err)
{
	(void)im, (void)uid;
	kerr_set(err, KERR_PERM, "imapc_delete_uid: not built yet");
	return false;
}

WEAK bool
imapc_idle(struct imapc *im, int timeout_s, bool *changed_r, struct kerr *err)
{
	(void)im, (void)timeout_s;
	*changed_r = false;
	kerr_set(err, KERR_INTERNAL, "imapc_idle: not built yet");
	return false;
}
