/*
 * mailtool - a small test client built on kyso's own smtpc/imapc, for tests
 * and the demo.  It reads the mail stack's settings from the environment
 * (tests/mailstack's stack.env, exported): SMTP_HOST, SUBMISSION_PORT,
 * IMAP_HOST, IMAPS_PORT, CA_FILE.
 *
 *   mailtool send USER PASS FROM RCPT[,RCPT...] FILE
 *   mailtool fetch USER PASS FOLDER MESSAGE-ID OUT [SECONDS]
 *       wait (up to SECONDS, default 15) for the message whose Message-ID
 *       header contains MESSAGE-ID, then write its exact bytes to OUT
 *   mailtool append USER PASS FOLDER FILE [FLAG...]
 *
 * Exit 0 on success, 1 with a one-line reason on stderr otherwise.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/cli.h"
#include "agent/conf.h"
#include "agent/imapc.h"
#include "agent/smtpc.h"
#include "agent/tls.h"

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0') {
		fprintf(stderr, "mailtool: %s is not set (export the stack's stack.env)\n", name);
		exit(1);
	}
	return v;
}

static void
endpoint(struct conf_endpoint *ep, const char *host, const char *port, enum conf_tls tls)
{
	ep->host = xstrdup(env(host));
	ep->port = (uint16_t)atoi(env(port));
	ep->tls = tls;
}

static int
fail(const char *what, const struct kerr *e)
{
	fprintf(stderr, "mailtool: %s: %s\n", what, e->msg);
	return 1;
}

static int
do_send(char **argv)
{
	struct conf_endpoint ep = { 0 };
	struct tls_opts tls = { env("CA_FILE"), true, 20, NULL };
	struct kerr e = KERR_INIT;
	struct buf msg = BUF_INIT;
	struct smtpc *sm = NULL;
	struct smtpc_reply data = { 0 };
	char *list = xstrdup(argv[3]), *save = NULL;
	const char *rcpts[32];
	size_t n = 0;
	int rc = 1;

	for (char *r = strtok_r(list, ",", &save); r != NULL && n < 32; r = strtok_r(NULL, ",", &save))
		rcpts[n++] = r;
	endpoint(&ep, "SMTP_HOST", "SUBMISSION_PORT", CONF_TLS_STARTTLS);
	if (!cli_read_all(argv[4], 1u << 30, &msg, &e))
		rc = fail("read", &e);
	else if ((sm = smtpc_connect(&ep, &tls, &e)) == NULL)
		rc = fail("connect", &e);
	else if (!smtpc_auth(sm, argv[0], argv[1], &e))
		rc = fail("auth", &e);
	else if (!smtpc_send(sm, argv[2], rcpts, n, msg.data, msg.len, NULL, &data, &e))
		rc = fail("send", &e);
	else
		rc = 0;
	if (sm != NULL)
		smtpc_quit(sm, &e);
	smtpc_free(&sm);
	buf_release(&msg);
	free(list);
	free(ep.host);
	return rc;
}

static struct imapc *
imap_open(const char *user, const char *pass, struct conf_endpoint *ep, struct kerr *e)
{
	struct tls_opts tls = { env("CA_FILE"), true, 20, NULL };
	struct imapc *im;

	endpoint(ep, "IMAP_HOST", "IMAPS_PORT", CONF_TLS_IMPLICIT);
	im = imapc_connect(ep, &tls, e);
	if (im != NULL && !imapc_login(im, user, pass, e))
		imapc_free(&im);
	return im;
}

static int
do_fetch(char **argv, int argc)
{
	struct conf_endpoint ep = { 0 };
	struct kerr e = KERR_INIT;
	struct imapc *im = imap_open(argv[0], argv[1], &ep, &e);
	struct imapc_query q = { 0, "Message-ID", argv[3] };
	struct imapc_uids uids = { 0 };
	struct imapc_mailbox mb;
	struct buf msg = BUF_INIT;
	int seconds = argc > 5 ? atoi(argv[5]) : 15, rc = 1;

	if (im == NULL)
		return fail("imap", &e);
	for (int tries = 0; tries < seconds * 4; tries++) {
		imapc_uids_release(&uids);
		if (!imapc_select(im, argv[2], true, &mb, &e) || !imapc_search(im, &q, &uids, &e)) {
			rc = fail("search", &e);
			goto out;
		}
		if (uids.n > 0)
			break;
		usleep(250000);
	}
	if (uids.n == 0) {
		fprintf(stderr, "mailtool: %s did not arrive in %s within %d s\n", argv[3], argv[2], seconds);
		goto out;
	}
	if (!imapc_fetch_uid(im, uids.uids[uids.n - 1], &msg, &e) || !cli_write_all(argv[4], msg.data, msg.len, &e))
		rc = fail("fetch", &e);
	else
		rc = 0;
out:
	imapc_logout(im, &e);
	imapc_free(&im);
	imapc_uids_release(&uids);
	buf_release(&msg);
	free(ep.host);
	return rc;
}

static int
do_append(char **argv, int argc)
{
	struct conf_endpoint ep = { 0 };
	struct kerr e = KERR_INIT;
	struct imapc *im = imap_open(argv[0], argv[1], &ep, &e);
	struct buf msg = BUF_INIT;
	int rc = 1;

	if (im == NULL)
		return fail("imap", &e);
	if (!cli_read_all(argv[3], 1u << 30, &msg, &e) ||
	    !imapc_append(im, argv[2], (const char *const *)argv + 4, (size_t)(argc - 4), msg.data, msg.len, NULL, &e))
		rc = fail("append", &e);
	else
		rc = 0;
	imapc_logout(im, &e);
	imapc_free(&im);
	buf_release(&msg);
	free(ep.host);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc >= 7 && strcmp(argv[1], "send") == 0)
		return do_send(argv + 2);
	if (argc >= 7 && strcmp(argv[1], "fetch") == 0)
		return do_fetch(argv + 2, argc - 2);
	if (argc >= 6 && strcmp(argv[1], "append") == 0)
		return do_append(argv + 2, argc - 2);
	fprintf(stderr, "usage: mailtool send USER PASS FROM RCPTS FILE | fetch USER PASS FOLDER MSGID OUT [S]"
	    " | append USER PASS FOLDER FILE [FLAG...]\n");
	return 2;
}
