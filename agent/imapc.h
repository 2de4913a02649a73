/*
 * imapc.h - kyso's IMAP client: one session with one mailbox server, on
 * libetpan, over the TLS connection of agent/tls.h.
 *
 *   struct tls_opts tls = { .ca_file = acct->tls_ca, .verify = acct->tls_verify, .timeout_s = 30 };
 *   struct imapc *im = imapc_connect(&acct->imap, &tls, &err);   // TLS is up when this returns
 *   imapc_login(im, acct->username, password, &err);
 *   struct imapc_mailbox mb;
 *   imapc_select(im, "INBOX", true, &mb, &err);                  // EXAMINE: read-only
 *   struct imapc_query q = { .uid_min = last_seen + 1 };
 *   struct imapc_uids uids = IMAPC_UIDS_INIT;
 *   imapc_search(im, &q, &uids, &err);
 *   struct buf msg = BUF_INIT;
 *   imapc_fetch_uid(im, uids.uids[0], &msg, &err);               // the exact bytes, \Seen untouched
 *   imapc_logout(im, &err);
 *   imapc_free(&im);
 *
 * TLS is never optional: an imaps:// endpoint starts TLS at once; for imap://
 * the server must offer STARTTLS, otherwise imapc_connect fails (KERR_CONFIG)
 * before any credential could be sent.  After STARTTLS the capabilities are
 * asked again (the plain-text ones may have been forged).
 *
 * Folder names are UTF-8 everywhere in this API ("Ký số"); imapc converts
 * them to and from IMAP's modified UTF-7 on the wire.  Levels are separated
 * by '/' in this API whatever the server uses ("Ký số/Lỗi" is "Ký số.Lỗi"
 * on a Dovecot with the "." separator): imapc asks the server's delimiter
 * (LIST "" "") the first time a name holds '/', and imapc_list writes the
 * server's delimiter back as '/'.  On a server without hierarchy '/' is an
 * ordinary character.
 *
 * Errors follow smime/base.h: a lost connection or a timeout is KERR_TEMP, a
 * refused login or an untrusted certificate is KERR_CONFIG, a message the
 * server refuses is KERR_PERM.  Messages start with "imap host:port: " and
 * quote the server's answer.  After a KERR_TEMP caused by the connection, the
 * session is dead: free it and connect again.
 *
 * imapc logs one debug line per connection and nothing else; neither the
 * password nor message data can reach the log (kyso installs no libetpan
 * protocol logger and never sets mailstream_debug).
 */
#ifndef KYSO_AGENT_IMAPC_H
#define KYSO_AGENT_IMAPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/conf.h"
#include "agent/tls.h"
#include "smime/base.h"

/* One IMAP session.  Opaque; one thread at a time (imapc_cancel excepted). */
struct imapc;

/* Connect, start TLS (implicit or STARTTLS per ep->tls) and read the
 * capabilities.  ep and tls are borrowed for the call only.  Returns the
 * session (caller owns: imapc_free) or NULL with err set. */
struct imapc *imapc_connect(const struct conf_endpoint *ep, const struct tls_opts *tls,
    struct kerr *err);

/* LOGIN.  The password is borrowed for the call and never logged.  A refused
 * login is KERR_CONFIG (the operator must fix the password), except when the
 * server says it is temporary ([UNAVAILABLE], [INUSE]): KERR_TEMP. */
bool imapc_login(struct imapc *im, const char *user, const char *password, struct kerr *err);

/* Did the server announce this capability ("IDLE", "MOVE", "UIDPLUS")? */
bool imapc_has_capability(struct imapc *im, const char *name);

struct imapc_mailbox {
	uint32_t uidvalidity;
	uint32_t uidnext;       /* 0 if the server did not say */
	uint32_t exists;
	bool readonly;
};

/* SELECT (readonly false) or EXAMINE (readonly true) a folder (UTF-8 name). */
bool imapc_select(struct imapc *im, const char *folder, bool readonly,
    struct imapc_mailbox *mb_r, struct kerr *err);

/* What imapc_search looks for: all given criteria must hold. */
struct imapc_query {
	uint32_t uid_min;        /* 0: any; else UID >= uid_min */
	const char *header;      /* NULL: any; else this header field... */
	const char *value;       /* ...contains this (server's substring match) */
};

struct imapc_uids {
	uint32_t *uids;          /* owned, ascending */
	size_t n;
};
#define IMAPC_UIDS_INIT { NULL, 0 }
void imapc_uids_release(struct imapc_uids *u);

/* UID SEARCH in the selected folder.  uids_r is replaced (release it). */
bool imapc_search(struct imapc *im, const struct imapc_query *q, struct imapc_uids *uids_r,
    struct kerr *err);

/* UID FETCH uid BODY.PEEK[]: the whole message, byte for byte, appended to
 * msg_r (caller owns).  Does not set \Seen.  A UID that is not there (any
 * more) is KERR_PERM. */
bool imapc_fetch_uid(struct imapc *im, uint32_t uid, struct buf *msg_r, struct kerr *err);

/* APPEND msg to folder (UTF-8) with flags ("\\Seen", "$Kyso_Signed"; n_flags
 * may be 0).  The message must use CRLF line ends and hold no NUL, so that
 * what is stored is exactly msg (KERR_PERM otherwise).  *uid_r is the new
 * message's UID when the server has UIDPLUS, else 0; uid_r may be NULL. */
bool imapc_append(struct imapc *im, const char *folder, const char *const *flags, size_t n_flags,
    const char *msg, size_t len, uint32_t *uid_r, struct kerr *err);

/* Special-use attributes of a folder (RFC 6154), as bits. */
enum imapc_special_use {
	IMAPC_USE_NONE    = 0,
	IMAPC_USE_ALL     = 1 << 0,
	IMAPC_USE_ARCHIVE = 1 << 1,
	IMAPC_USE_DRAFTS  = 1 << 2,
	IMAPC_USE_FLAGGED = 1 << 3,
	IMAPC_USE_JUNK    = 1 << 4,
	IMAPC_USE_SENT    = 1 << 5,
	IMAPC_USE_TRASH   = 1 << 6,
};

struct imapc_folder {
	char *name;              /* owned, UTF-8 */
	char delimiter;          /* '\0' when flat */
	bool noselect;
	unsigned special_use;    /* enum imapc_special_use bits */
};

struct imapc_folders {
	struct imapc_folder *f;  /* owned array */
	size_t n;
};
#define IMAPC_FOLDERS_INIT { NULL, 0 }
void imapc_folders_release(struct imapc_folders *fs);

/* LIST "" "*" with the special-use attributes the server reports.
 * folders_r is replaced (release it).  Names the server sends in broken
 * modified UTF-7 are kept as sent. */
bool imapc_list(struct imapc *im, struct imapc_folders *folders_r, struct kerr *err);
/* The first folder with the given special use, or NULL.  Borrowed from fs. */
const struct imapc_folder *imapc_folders_find_use(const struct imapc_folders *fs, unsigned use);

/* LOGOUT and close.  The session stays allocated: free it. */
bool imapc_logout(struct imapc *im, struct kerr *err);

/* Make a blocked call return at once with "cancelled".  Any thread. */
void imapc_cancel(struct imapc *im);

/* Close (without LOGOUT if imapc_logout was not called) and free.
 * Accepts NULL and *imp == NULL; sets *imp = NULL. */
void imapc_free(struct imapc **imp);

/* Modified UTF-7 (RFC 3501 5.1.3), for folder names.  Pure functions.
 * encode: UTF-8 -> mUTF-7; NULL if s is not valid UTF-8.
 * decode: mUTF-7 -> UTF-8; NULL if s is not valid mUTF-7.
 * Caller owns the result (free). */
char *imapc_mutf7_encode(const char *s);
char *imapc_mutf7_decode(const char *s);


/* ---- Added for the agent (#5).  Every call works on the selected folder
 * unless it names one; folder names are UTF-8. ---- */

/* CREATE folder, and its parents when the name has several levels
 * ("Ký số/Lỗi" creates "Ký số" first).  A folder that already exists is
 * success ([ALREADYEXISTS], or LIST finds it).  SUBSCRIBEs what it creates,
 * so webmail shows it.  A name with an empty level ("a//b", "/a") or that
 * the server refuses is KERR_CONFIG. */
bool imapc_create(struct imapc *im, const char *folder, struct kerr *err);

/* Flags and keywords of one message, as the server reports them. */
struct imapc_msgflags {
	uint32_t uid;
	char **flags;            /* owned: "\Seen", "$KysoValid", ... */
	size_t n;
};
struct imapc_flaglist {
	struct imapc_msgflags *m; /* owned, ascending by uid */
	size_t n;
};
#define IMAPC_FLAGLIST_INIT { NULL, 0 }
void imapc_flaglist_release(struct imapc_flaglist *fl);

/* UID FETCH uid_min:uid_max (uid_max 0: "*") FLAGS.  list_r is replaced
 * (release it); only UIDs inside the range are kept (the server also answers
 * "n:*" with the last message when its UID is below n).  Does not touch
 * \Seen. */
bool imapc_fetch_flags(struct imapc *im, uint32_t uid_min, uint32_t uid_max,
    struct imapc_flaglist *list_r, struct kerr *err);

/* UID STORE uid +FLAGS.SILENT (add) or -FLAGS.SILENT (remove) the given
 * flags/keywords.  n_flags == 0 is a no-op.  Needs a SELECTed (read-write)
 * folder.  Never touches \Seen unless asked.  Each flag must be a system
 * flag (\Seen \Answered \Flagged \Deleted \Draft) or a keyword atom (no
 * space, control character or ()[]{%*"\): anything else is KERR_PERM and
 * nothing is sent (imapc_append checks its flags the same way). */
bool imapc_store_flags(struct imapc *im, uint32_t uid, bool add, const char *const *flags,
    size_t n_flags, struct kerr *err);

/* May new keywords be stored in the selected folder (PERMANENTFLAGS has
 * "\*")?  Valid after imapc_select; true when the server sent no
 * PERMANENTFLAGS.  imapc_keyword_allowed: may this one keyword be stored
 * (also true when PERMANENTFLAGS lists it). */
bool imapc_keywords_allowed(struct imapc *im);
bool imapc_keyword_allowed(struct imapc *im, const char *keyword);

/* Move one message to folder: UID MOVE when the server has MOVE, else
 * UID COPY + UID STORE \Deleted + UID EXPUNGE (UIDPLUS) or, without UIDPLUS,
 * COPY + \Deleted only (the message is then expunged by the next EXPUNGE).
 * A UID that is no longer there is KERR_PERM (checked first with UID FETCH,
 * as UID MOVE/COPY of a missing UID answers OK); a destination that does not
 * exist ([TRYCREATE]) is KERR_CONFIG. */
bool imapc_move_uid(struct imapc *im, uint32_t uid, const char *folder, struct kerr *err);

/* Remove one message from the selected folder: STORE \Deleted then
 * UID EXPUNGE uid (UIDPLUS) or EXPUNGE (which also removes any other message
 * flagged \Deleted).  A UID that is already gone is success. */
bool imapc_delete_uid(struct imapc *im, uint32_t uid, struct kerr *err);

/* NOOP: keeps the session alive and collects EXISTS/EXPUNGE news. */
bool imapc_noop(struct imapc *im, struct kerr *err);

/* IDLE (RFC 2177).  imapc_idle waits in IDLE for at most timeout_s seconds
 * (the caller re-issues it before the server's 30-minute limit, kyso uses
 * 25 min) or until the server reports a change in the selected folder
 * (EXISTS, EXPUNGE, FETCH) or imapc_cancel() is called from another thread;
 * then it sends DONE and reads the tagged reply before returning.
 * *changed_r says whether the server reported anything (keep-alives such as
 * "* OK Still here" do not count and do not end the wait).  Cancelled: false
 * with err "cancelled" (KERR_TEMP) and the session must be freed.  A BYE or a
 * dropped connection during IDLE is KERR_TEMP (the session is dead).  Without
 * the IDLE capability it is KERR_INTERNAL: callers poll with imapc_noop.
 * Needs a selected folder (KERR_INTERNAL otherwise). */
bool imapc_idle(struct imapc *im, int timeout_s, bool *changed_r, struct kerr *err);

/* The UIDVALIDITY / UIDNEXT / EXISTS of the selected folder as last reported
 * (after select, noop or idle). */
void imapc_selected(struct imapc *im, struct imapc_mailbox *mb_r);

#endif
