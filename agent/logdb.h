/*
 * logdb.h - the signed-mail log: what kyso verified and what it sent, with
 * the evidence, in SQLite.  The agent writes it (this module); the web view
 * (webui/store.c) reads the same file read-only.  It lives in the same
 * database file as the outgoing journal (agent/journal.h): state_dir/kyso.db.
 *
 * The schema is the contract between the two (version 1, PRAGMA user_version):
 *
 *   CREATE TABLE messages (
 *     id          INTEGER PRIMARY KEY,
 *     time        INTEGER NOT NULL,   -- Unix time logged (verified, or sent)
 *     direction   TEXT NOT NULL,      -- 'in' | 'out'
 *     account     TEXT NOT NULL,      -- [account NAME]
 *     address     TEXT NOT NULL,      -- that account's mailbox address
 *     folder      TEXT,               -- UTF-8 folder it was found in
 *     uidvalidity INTEGER, uid INTEGER,
 *     message_id  TEXT,
 *     from_addr   TEXT, from_name TEXT,   -- decoded UTF-8
 *     to_addrs    TEXT,               -- "a@x, b@y" (To, Cc; Bcc for 'out')
 *     subject     TEXT,               -- decoded UTF-8 (RFC 2047)
 *     date_hdr    INTEGER,            -- the Date header, Unix time, or NULL
 *     verdict     TEXT NOT NULL,      -- smime_verdict_code(), or for 'out':
 *                                     -- 'sent' | 'pending' | 'failed'
 *     reasons     TEXT NOT NULL,      -- space-separated smime_reason_code()s
 *     signer      TEXT,               -- first signer's subject (RFC 2253)
 *     signer_email TEXT,
 *     attachments TEXT,               -- file names, ", "-separated
 *     n_attachments INTEGER NOT NULL DEFAULT 0,
 *     size        INTEGER,            -- bytes of the message
 *     verify_ms   INTEGER,            -- time verification took
 *     journal_id  INTEGER,            -- 'out': outgoing.id in the journal
 *     search      TEXT NOT NULL,      -- webui_fold() of from, subject, signer,
 *                                     -- certificate subjects, attachment names
 *     report      TEXT NOT NULL,      -- JSON, see below
 *     att_verdict TEXT                -- 'in': the signed attachments' combined
 *                                     -- verdict (inbox_attachment_verdict():
 *                                     -- the worst, invalid > indeterminate >
 *                                     -- partial > valid), the same as the
 *                                     -- second IMAP keyword (docs/KEYWORDS.md);
 *                                     -- NULL when no attachment is signed,
 *                                     -- and for 'out'.  Added after the first
 *                                     -- release, still version 1: logdb_open
 *                                     -- adds it (ALTER TABLE, rows before it
 *                                     -- NULL); a reader must expect a log
 *                                     -- without it (webui/store.c does)
 *   );
 *   CREATE INDEX messages_time ON messages (time DESC, id DESC);
 *   CREATE INDEX messages_acct ON messages (account, time DESC, id DESC);
 *   CREATE INDEX messages_verdict ON messages (verdict, time DESC, id DESC);
 *   CREATE INDEX messages_dir ON messages (direction, time DESC, id DESC);
 *   CREATE INDEX messages_att ON messages (att_verdict, time DESC, id DESC)
 *     WHERE att_verdict IS NOT NULL;      -- the web view's attachment filter
 *   CREATE INDEX messages_att_any ON messages (time DESC, id DESC)
 *     WHERE att_verdict IS NOT NULL;      -- ... for "any signed attachment"
 *   CREATE UNIQUE INDEX messages_place ON messages (account, folder, uidvalidity, uid)
 *     WHERE direction = 'in';
 *   CREATE VIRTUAL TABLE messages_fts USING fts5(search, content='messages',
 *     content_rowid='id', tokenize='unicode61', prefix='2 3 4');
 *                          -- kept by triggers; prefix indexes: the web view's
 *                          -- search box makes every word a prefix query
 *   CREATE TABLE evidence (
 *     message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
 *     sig INTEGER NOT NULL,             -- index into report.sigs
 *     kind TEXT NOT NULL,               -- 'certificate' | 'crl' | 'ocsp'
 *     source TEXT,                      -- URL or "local" or "cms"
 *     data BLOB NOT NULL);              -- DER
 *   CREATE INDEX evidence_message ON evidence (message);  -- the Message page
 *   CREATE TABLE account_status (
 *     account TEXT PRIMARY KEY, address TEXT NOT NULL,
 *     state TEXT NOT NULL,              -- 'connecting' | 'connected' | 'idle'
 *                                       -- | 'error' | 'stopped'
 *     since INTEGER NOT NULL,           -- when state last changed
 *     last_idle INTEGER,                -- last time an IDLE (or poll) began
 *     backlog INTEGER NOT NULL DEFAULT 0,  -- messages seen, not yet handled
 *     last_error TEXT, last_error_time INTEGER,
 *     updated INTEGER NOT NULL);
 *   -- added by the inbox (agent only; the web view need not read it):
 *   CREATE INDEX messages_journal ON messages (journal_id) WHERE direction = 'out';
 *   CREATE TABLE folder_state (     -- where each verified folder was left
 *     account TEXT NOT NULL, folder TEXT NOT NULL,
 *     uidvalidity INTEGER NOT NULL, last_uid INTEGER NOT NULL,  -- last UID handled
 *     updated INTEGER NOT NULL, PRIMARY KEY (account, folder));
 *   The FTS table is kept by three triggers on messages: messages_ai (after
 *   insert), messages_ad (after delete), messages_au (after update of search).
 *   evidence.source for certificates: "cms" (the signer's, carried in the
 *   signature), "chain" (an intermediate, from the CMS or the local store),
 *   "local" (the top of the chain: the trust anchor when anchored).  One
 *   'crl'/'ocsp' row per certificate whose status was decided: source is
 *   smime's text for it ("crl:local good", "ocsp:http://... good") and data
 *   is empty: smime/ does not hand the revocation bytes out (yet).
 *
 * report JSON (json-c), one object:
 *   { "verdict": "valid", "reasons": ["..."], "detail": "..." | null,
 *     "from": "addr checked",
 *     "headers": { "from": "...", "to": "...", "cc": "...", "date": "...",
 *                  "subject": "...", "message-id": "..." },
 *     "mime": [ { "part": "top", "type": "multipart/signed", "name": null,
 *                 "size": 123, "depth": 0, "covered_by": [] }, ... ],
 *              (pre-order; "part" is "top" for the message itself, else
 *              "1", "1.2" ... as in the sigs' "where" ("part 1.2");
 *              covered_by: indexes into "sigs" whose signed content holds
 *              this part: for a multipart/signed its first part and what is
 *              below it; for an opaque signature, a .p7m or a signed PDF the
 *              part itself; for a .p7s the file it signs)
 *     "sigs": [ { "where": "message", "kind": "multipart-signed",
 *                 "verdict": "valid", "reasons": [], "covers": "whole",
 *                 "signer": { "subject", "issuer", "serial", "sha256",
 *                             "emails": [], "not_before", "not_after" } | null,
 *                 "chain": ["subject", ...], "signing_time": 0,
 *                 "digest": "sha256", "revocation": "crl:local good" | null,
 *                 "detail": null, "file": null }, ... ],
 *     "attachments": [ { "name", "content_type", "size", "sha256",
 *                        "verdict" }, ... ],
 *     "smtp": "250 2.0.0 Ok: queued as ..."      ('out' only) }
 *
 * Outgoing steps (queued, signed, ...) with their times and details are in
 * the journal's `steps` table (journal_id joins them).
 *
 * One struct logdb may be used by many threads: calls are serialised inside.
 */
#ifndef KYSO_AGENT_LOGDB_H
#define KYSO_AGENT_LOGDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smime/base.h"
#include "smime/smime.h"

#define LOGDB_SCHEMA_VERSION 1

struct logdb;

/* Open (creating the tables if needed) the log in the database at path. */
struct logdb *logdb_open(const char *path, struct kerr *err);
void logdb_close(struct logdb **lp);

/* Where a message was seen; all borrowed. */
struct logdb_place {
	const char *account, *address, *folder;
	uint32_t uidvalidity, uid;
};

/* Has this incoming message (place) been logged already? */
bool logdb_seen(struct logdb *l, const struct logdb_place *p, bool *seen_r, struct kerr *err);

/* Log an incoming message's verification: parses the headers and MIME tree
 * of msg for the row and the report JSON, stores the report and the evidence
 * (certificates of each signature's chain, revocation data used).  A place
 * already logged is replaced (re-verified).  *id_r (may be NULL) gets the row id. */
bool logdb_add_incoming(struct logdb *l, const struct logdb_place *p, const char *msg, size_t len,
    const struct smime_report *r, int64_t verify_ms, int64_t *id_r, struct kerr *err);

/* Log an outgoing message (the signed bytes) as 'pending' when signed; then
 * logdb_set_outgoing() moves it to 'sent' (with the SMTP reply) or 'failed'
 * (with the reason).  One row per journal_id (idempotent). */
bool logdb_add_outgoing(struct logdb *l, const struct logdb_place *p, int64_t journal_id,
    const char *msg, size_t len, struct kerr *err);
bool logdb_set_outgoing(struct logdb *l, int64_t journal_id, const char *verdict,
    const char *detail, struct kerr *err);

/* Account status for the web view's Accounts page.  state is one of the
 * account_status.state values; error may be NULL (keeps the last one). */
bool logdb_account_state(struct logdb *l, const char *account, const char *address,
    const char *state, const char *error, struct kerr *err);
bool logdb_account_idle(struct logdb *l, const char *account, int64_t when, struct kerr *err);
bool logdb_account_backlog(struct logdb *l, const char *account, int64_t backlog, struct kerr *err);

/* Where the inbox left a folder (table folder_state): *found_r false when
 * never recorded.  set replaces it. */
bool logdb_folder_get(struct logdb *l, const char *account, const char *folder, uint32_t *uidvalidity_r,
    uint32_t *last_uid_r, bool *found_r, struct kerr *err);
bool logdb_folder_set(struct logdb *l, const char *account, const char *folder, uint32_t uidvalidity,
    uint32_t last_uid, struct kerr *err);

#endif
