/*
 * smtpc.h - kyso's SMTP submission client, on libetpan, over the TLS
 * connection of agent/tls.h.
 *
 *   struct tls_opts tls = { .ca_file = acct->tls_ca, .verify = acct->tls_verify, .timeout_s = 60 };
 *   struct smtpc *sm = smtpc_connect(&acct->smtp, &tls, &err);   // greeting, EHLO, TLS, EHLO
 *   smtpc_auth(sm, acct->username, password, &err);              // AUTH PLAIN (or LOGIN)
 *   const char *rcpts[] = { "ubnd@longan.gov.vn" };
 *   struct smtpc_reply replies[1], done;
 *   smtpc_send(sm, "vanthu@benluc.longan.gov.vn", rcpts, 1, msg, len, replies, &done, &err);
 *   smtpc_quit(sm, &err);
 *   smtpc_free(&sm);
 *
 * TLS is never optional: smtps:// starts TLS at once; for smtp:// the server
 * must offer STARTTLS, otherwise smtpc_connect fails (KERR_CONFIG) before any
 * credential could be sent.  EHLO is sent again inside TLS.
 *
 * The bytes of the message reach the server unchanged: libetpan's
 * dot-stuffing is undone by the server, and kyso sends the message so that
 * libetpan adds no line end of its own.  That needs CRLF line ends, a final
 * CRLF and no NUL byte; anything else is refused (KERR_PERM) before sending.
 *
 * Server replies map to classes: 4xx KERR_TEMP, 5xx KERR_PERM; a refused AUTH
 * is KERR_CONFIG (the password is wrong: the operator must act); a lost
 * connection or a timeout is KERR_TEMP.  Messages start with
 * "smtp host:port: " and quote the server's reply on one line.
 */
#ifndef KYSO_AGENT_SMTPC_H
#define KYSO_AGENT_SMTPC_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/conf.h"
#include "agent/tls.h"
#include "smime/base.h"

/* One SMTP session.  Opaque; one thread at a time (smtpc_cancel excepted). */
struct smtpc;

/* One server reply: "550 5.1.1 <x@y>: Recipient address rejected" is
 * code 550, text "5.1.1 <x@y>: Recipient address rejected" (lines joined by
 * spaces, cut to fit). */
struct smtpc_reply {
	int code;          /* 0: no reply (not sent, or the connection broke) */
	char text[256];
};

/* Connect, start TLS (implicit or STARTTLS per ep->tls), EHLO.  ep and tls
 * are borrowed for the call.  Returns the session (caller owns: smtpc_free)
 * or NULL with err set. */
struct smtpc *smtpc_connect(const struct conf_endpoint *ep, const struct tls_opts *tls,
    struct kerr *err);

/* AUTH PLAIN, or AUTH LOGIN when the server offers only that.  The password
 * is borrowed for the call and never logged.  Refused: KERR_CONFIG; the
 * server's 454 (temporary failure): KERR_TEMP. */
bool smtpc_auth(struct smtpc *sm, const char *user, const char *password, struct kerr *err);

/* The SIZE the server announced in EHLO, in bytes; 0 when it gave none. */
size_t smtpc_max_size(const struct smtpc *sm);

/* One transaction: MAIL FROM (with SIZE= when the server has SIZE), RCPT TO
 * for each recipient, DATA.  All or nothing: when any recipient is refused
 * the transaction is reset and nothing is sent (KERR_PERM if any refusal was
 * 5xx, else KERR_TEMP); rcpt_replies_r (n_rcpts entries, may be NULL) then
 * says which.  A message bigger than the server's SIZE is refused before
 * MAIL FROM (KERR_PERM).  Addresses must be plain ASCII addr-specs without
 * spaces or angle brackets (KERR_PERM otherwise).  data_reply_r (may be NULL)
 * receives the answer to the message ("250 2.0.0 Ok: queued as ...").
 * After a refusal the session can send the next message. */
bool smtpc_send(struct smtpc *sm, const char *from, const char *const *rcpts, size_t n_rcpts,
    const char *msg, size_t len, struct smtpc_reply *rcpt_replies_r,
    struct smtpc_reply *data_reply_r, struct kerr *err);

/* Would smtpc_send carry msg unchanged?  false + reason (KERR_PERM) if not. */
bool smtpc_message_check(const char *msg, size_t len, struct kerr *err);

/* QUIT and close.  The session stays allocated: free it. */
bool smtpc_quit(struct smtpc *sm, struct kerr *err);

/* Make a blocked call return at once with "cancelled".  Any thread. */
void smtpc_cancel(struct smtpc *sm);

/* Close (without QUIT if smtpc_quit was not called) and free.
 * Accepts NULL and *smp == NULL; sets *smp = NULL. */
void smtpc_free(struct smtpc **smp);

#endif
