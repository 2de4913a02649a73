/*
 * journal.h - the outgoing-mail journal: each draft's progress as a state
 * machine in SQLite (WAL, synchronous=FULL), so that after a crash at any
 * point the agent resumes and every message is sent once.
 *
 * Order matters (the agent's outbox workflow):
 *
 *   QUEUED     the draft was seen in the outbox (account, folder, UIDVALIDITY,
 *              UID, Message-ID recorded); nothing has happened yet
 *   SIGNED     the signed bytes are stored HERE, before submission, so a
 *              retry sends the very same bytes (same Message-ID, same signature)
 *   SUBMITTED  the SMTP server accepted the message (its reply is stored)
 *   FILED      the signed copy is in Sent
 *   DONE       the draft is removed from the outbox
 *   FAILED     permanently refused; the draft went to the failed folder
 *
 * Each transition is one transaction, committed before the side effect that
 * depends on it is acknowledged, and checked: a step only moves a message
 * from the state it is in now (compare-and-set), so two workers or a
 * restarted agent cannot both act on it.  Every transition is also appended to
 * a steps table with its time and detail (the web view shows them).
 *
 * One struct journal may be shared by threads: each call holds its lock.
 */
#ifndef KYSO_AGENT_JOURNAL_H
#define KYSO_AGENT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smime/base.h"

enum journal_state {
	JOURNAL_QUEUED = 0,
	JOURNAL_SIGNED,
	JOURNAL_SUBMITTED,
	JOURNAL_FILED,
	JOURNAL_DONE,
	JOURNAL_FAILED,
};

const char *journal_state_name(enum journal_state s);

struct journal;

/* Open (creating if needed) the journal database at path.  Caller owns. */
struct journal *journal_open(const char *path, struct kerr *err);
void journal_close(struct journal **jp);

struct journal_key {            /* where a draft was found; all borrowed */
	const char *account;
	const char *folder;
	uint32_t uidvalidity;
	uint32_t uid;
};

/* Record a draft as QUEUED, or find it if already recorded (idempotent on
 * the key).  *id_r receives its id, *state_r its current state. */
bool journal_enqueue(struct journal *j, const struct journal_key *key, const char *message_id,
    int64_t *id_r, enum journal_state *state_r, struct kerr *err);

/* Move message id from `from` to `to` in one transaction.  blob (may be NULL)
 * is stored with SIGNED (the signed bytes); detail (may be NULL) goes to the
 * steps table and, for SUBMITTED, is the server's reply.  false with
 * KERR_TEMP when the message is no longer in `from` (someone else moved it),
 * KERR_INTERNAL when the transition is not allowed. */
bool journal_advance(struct journal *j, int64_t id, enum journal_state from, enum journal_state to,
    const void *blob, size_t blob_len, const char *detail, struct kerr *err);

struct journal_entry {
	int64_t id;
	enum journal_state state;
	char *account, *folder, *message_id;    /* owned */
	uint32_t uidvalidity, uid;
	int attempts;
	int64_t next_attempt;                   /* Unix time; 0: now */
	char *last_error;                       /* owned, or NULL */
};
void journal_entry_release(struct journal_entry *e);

/* The signed bytes stored with SIGNED (caller owns *out). */
bool journal_signed_bytes(struct journal *j, int64_t id, struct buf *out, struct kerr *err);

/* Set last_error to note without counting an attempt (the outbox marks
 * "submitting" before SMTP DATA with it). */
bool journal_note(struct journal *j, int64_t id, const char *note, struct kerr *err);

/* Note a temporary failure: attempts++, next_attempt = not_before, last_error. */
bool journal_defer(struct journal *j, int64_t id, int64_t not_before, const char *error, struct kerr *err);

/* Messages of account not DONE or FAILED whose next_attempt <= now, oldest
 * first, at most max.  Caller owns the array (release each entry, free it). */
bool journal_pending(struct journal *j, const char *account, int64_t now, size_t max,
    struct journal_entry **entries_r, size_t *n_r, struct kerr *err);

#endif
