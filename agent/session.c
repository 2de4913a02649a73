/*
 * session.c - IMAP sessions for the agent's threads: connect + LOGIN,
 * registration for cancellation on stop, backoff with jitter, waits that a
 * stop interrupts, and the account status the web view shows.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "agent/clock.h"
#include "agent/agent.h"
#include "agent/log.h"

static void
status(struct account_rt *rt, const char *state, const char *error)
{
	struct kerr err = KERR_INIT;

	if (rt->ag == NULL || rt->ag->log == NULL)
		return;
	if (!logdb_account_state(rt->ag->log, rt->acct->name, rt->acct->address, state, error, &err))
		log_warn("acct=%s step=status error=%s", rt->acct->name, err.msg);
}

static bool
session_register(struct account_rt *rt, struct imapc *im)
{
	bool ok = false;

	pthread_mutex_lock(&rt->lock);
	for (size_t i = 0; i < sizeof(rt->sessions) / sizeof(rt->sessions[0]); i++) {
		if (rt->sessions[i] == NULL) {
			rt->sessions[i] = im;
			ok = true;
			break;
		}
	}
	pthread_mutex_unlock(&rt->lock);
	return ok;
}

static void
session_unregister(struct account_rt *rt, struct imapc *im)
{
	pthread_mutex_lock(&rt->lock);
	for (size_t i = 0; i < sizeof(rt->sessions) / sizeof(rt->sessions[0]); i++)
		if (rt->sessions[i] == im)
			rt->sessions[i] = NULL;
	pthread_mutex_unlock(&rt->lock);
}

struct imapc *
session_open(struct account_rt *rt, struct kerr *err)
{
	const struct conf_account *a = rt->acct;
	struct tls_opts tls = { .ca_file = a->tls_ca, .verify = a->tls_verify, .timeout_s = 60 };
	struct imapc *im;

	if (atomic_load(&rt->stop)) {
		kerr_set(err, KERR_TEMP, "stopping");
		return NULL;
	}
	status(rt, "connecting", NULL);
	im = imapc_connect(&a->imap, &tls, err);
	if (im == NULL)
		return NULL;
	/* Registered before LOGIN, so that a stop can cancel a hanging login. */
	if (!session_register(rt, im)) {
		kerr_set(err, KERR_INTERNAL, "too many sessions for account %s", a->name);
		imapc_free(&im);
		return NULL;
	}
	if (atomic_load(&rt->stop) || !imapc_login(im, a->username, rt->password, err)) {
		if (atomic_load(&rt->stop))
			kerr_set(err, KERR_TEMP, "stopping");
		session_unregister(rt, im);
		imapc_free(&im);
		return NULL;
	}
	atomic_fetch_add(&rt->connected, 1);
	status(rt, "connected", NULL);
	log_info("acct=%s step=login result=ok host=%s", a->name, a->imap.host);
	return im;
}

void
session_close(struct account_rt *rt, struct imapc **imp)
{
	struct kerr err = KERR_INIT;

	if (imp == NULL || *imp == NULL)
		return;
	if (!atomic_load(&rt->stop))
		(void)imapc_logout(*imp, &err);
	session_unregister(rt, *imp);
	imapc_free(imp);
	if (atomic_fetch_sub(&rt->connected, 1) == 1)
		status(rt, atomic_load(&rt->stop) ? "stopped" : "connecting", NULL);
}

bool
session_sleep(struct account_rt *rt, int64_t ms)
{
	int64_t end = clock_mono_ms() + ms;

	while (!atomic_load(&rt->stop)) {
		int64_t left = end - clock_mono_ms();
		struct pollfd pfd = { .fd = rt->wake_fd[0], .events = POLLIN };

		if (left <= 0)
			return true;
		if (poll(&pfd, 1, left > 1000 ? 1000 : (int)left) < 0 && errno != EINTR)
			return !atomic_load(&rt->stop);
		if (pfd.revents & POLLIN) {
			char b[64];

			/* A wake-up: drain it and return early (something changed). */
			(void)!read(rt->wake_fd[0], b, sizeof(b));
			return !atomic_load(&rt->stop);
		}
	}
	return false;
}

int64_t
session_backoff_ms(unsigned attempt)
{
	int64_t base = 1000;
	uint32_t r = 0;

	for (unsigned i = 0; i < attempt && base < 300000; i++)
		base *= 2;
	if (base > 300000)
		base = 300000;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint32_t)clock_mono_ms();
	/* +-25 %: base * (0.75 + 0.5 * r / 2^32) */
	return base * 3 / 4 + (int64_t)(((uint64_t)base * r) >> 33);
}

void
session_error(struct account_rt *rt, const char *what, const struct kerr *err)
{
	char q[512];

	log_warn("acct=%s step=%s class=%s error=%s", rt->acct->name, what, kerr_class_name(err->cls),
	    log_quote(q, sizeof(q), err->msg));
	status(rt, "error", err->msg);
}
