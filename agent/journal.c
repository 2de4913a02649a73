/* journal.c - the outgoing-mail state machine in SQLite (see journal.h). */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "agent/journal.h"

/* One connection shared by the agent's threads: every public call holds
 * lock for its whole transaction (SQLite's own serialisation is off,
 * SQLITE_OPEN_NOMUTEX, since this lock covers more: BEGIN ... COMMIT). */
struct journal {
	sqlite3 *db;            /* owned */
	pthread_mutex_t lock;
};

static const char *const state_names[] = {
	[JOURNAL_QUEUED] = "queued", [JOURNAL_SIGNED] = "signed", [JOURNAL_SUBMITTED] = "submitted",
	[JOURNAL_FILED] = "filed", [JOURNAL_DONE] = "done", [JOURNAL_FAILED] = "failed",
};

const char *
journal_state_name(enum journal_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

/* The allowed moves: forward one step, or to FAILED from before submission
 * (a submitted message is never failed: it reached the recipients). */
static bool
allowed(enum journal_state from, enum journal_state to)
{
	if (to == JOURNAL_FAILED)
		return from == JOURNAL_QUEUED || from == JOURNAL_SIGNED;
	return to == from + 1 && to <= JOURNAL_DONE;
}

static void
db_err(struct kerr *e, sqlite3 *db, const char *what)
{
	int code = sqlite3_errcode(db);

	/* A full disk or a busy database is worth retrying; the rest is a bug or
	 * a broken state folder. */
	kerr_set(e, code == SQLITE_FULL || code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_IOERR
	    ? KERR_TEMP : KERR_INTERNAL, "journal: %s: %s", what, sqlite3_errmsg(db));
}

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "PRAGMA foreign_keys=ON;"
    "CREATE TABLE IF NOT EXISTS outgoing ("
    "  id INTEGER PRIMARY KEY,"
    "  account TEXT NOT NULL, folder TEXT NOT NULL,"
    "  uidvalidity INTEGER NOT NULL, uid INTEGER NOT NULL,"
    "  message_id TEXT,"
    "  state INTEGER NOT NULL DEFAULT 0,"
    "  signed BLOB,"
    "  smtp_reply TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  created INTEGER NOT NULL, updated INTEGER NOT NULL,"
    "  UNIQUE (account, folder, uidvalidity, uid));"
    "CREATE INDEX IF NOT EXISTS outgoing_pending ON outgoing (account, state, next_attempt);"
    "CREATE TABLE IF NOT EXISTS steps ("
    "  id INTEGER PRIMARY KEY,"
    "  outgoing INTEGER NOT NULL REFERENCES outgoing(id),"
    "  state INTEGER NOT NULL, at INTEGER NOT NULL, detail TEXT);"
    "CREATE INDEX IF NOT EXISTS steps_outgoing ON steps (outgoing);";

struct journal *
journal_open(const char *path, struct kerr *err)
{
	struct journal *j = xcalloc(1, sizeof(*j));
	char *msg = NULL;

	pthread_mutex_init(&j->lock, NULL);
	if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    NULL) != SQLITE_OK) {
		kerr_set(err, KERR_CONFIG, "journal %s: %s", path,
		    j->db != NULL ? sqlite3_errmsg(j->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(j->db, 5000);
	if (sqlite3_exec(j->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		kerr_set(err, KERR_CONFIG, "journal %s: %s", path, msg != NULL ? msg : "cannot create tables");
		sqlite3_free(msg);
		goto fail;
	}
	return j;
fail:
	journal_close(&j);
	return NULL;
}

void
journal_close(struct journal **jp)
{
	if (jp == NULL || *jp == NULL)
		return;
	sqlite3_close((*jp)->db);
	pthread_mutex_destroy(&(*jp)->lock);
	free(*jp);
	*jp = NULL;
}

/* Run a statement that takes text/int bindings by position; NULL text binds NULL. */
static bool
exec_stmt(struct journal *j, sqlite3_stmt *st, const char *what, struct kerr *err)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		db_err(err, j->db, what);
		return false;
	}
	return true;
}

static bool
begin(struct journal *j, struct kerr *err)
{
	if (sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		db_err(err, j->db, "begin");
		return false;
	}
	return true;
}

static bool
commit(struct journal *j, bool ok, struct kerr *err)
{
	if (ok && sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return true;
	if (ok)
		db_err(err, j->db, "commit");
	sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
	return false;
}

static bool
add_step(struct journal *j, int64_t id, enum journal_state s, const char *detail, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	bool ok;

	if (sqlite3_prepare_v2(j->db, "INSERT INTO steps (outgoing, state, at, detail) VALUES (?, ?, ?, ?)",
	    -1, &st, NULL) != SQLITE_OK) {
		db_err(err, j->db, "prepare step");
		return false;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, (int)s);
	sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
	sqlite3_bind_text(st, 4, detail, -1, SQLITE_TRANSIENT);
	ok = exec_stmt(j, st, "insert step", err);
	sqlite3_finalize(st);
	return ok;
}

static bool
j_enqueue_locked(struct journal *j, const struct journal_key *key, const char *message_id, int64_t *id_r,
    enum journal_state *state_r, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;
	int64_t now = (int64_t)time(NULL);

	if (!begin(j, err))
		return false;
	if (sqlite3_prepare_v2(j->db, "INSERT INTO outgoing (account, folder, uidvalidity, uid, message_id, "
	    "created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT DO NOTHING", -1, &st, NULL) != SQLITE_OK) {
		db_err(err, j->db, "prepare enqueue");
		goto out;
	}
	sqlite3_bind_text(st, 1, key->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key->folder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, key->uidvalidity);
	sqlite3_bind_int64(st, 4, key->uid);
	sqlite3_bind_text(st, 5, message_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	if (!exec_stmt(j, st, "enqueue", err))
		goto out;
	if (sqlite3_changes(j->db) == 1 && !add_step(j, sqlite3_last_insert_rowid(j->db), JOURNAL_QUEUED, NULL, err))
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(j->db, "SELECT id, state FROM outgoing WHERE account = ?1 AND folder = ?2 "
	    "AND uidvalidity = ?3 AND uid = ?4", -1, &st, NULL) != SQLITE_OK) {
		db_err(err, j->db, "prepare lookup");
		goto out;
	}
	sqlite3_bind_text(st, 1, key->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key->folder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, key->uidvalidity);
	sqlite3_bind_int64(st, 4, key->uid);
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_err(err, j->db, "lookup");
		goto out;
	}
	*id_r = sqlite3_column_int64(st, 0);
	*state_r = (enum journal_state)sqlite3_column_int(st, 1);
	ok = true;
out:
	sqlite3_finalize(st);
	return commit(j, ok, err);
}

static bool
j_advance_locked(struct journal *j, int64_t id, enum journal_state from, enum journal_state to,
    const void *blob, size_t blob_len, const char *detail, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;

	if (to == JOURNAL_SIGNED && blob == NULL) {
		kerr_set(err, KERR_INTERNAL, "journal: SIGNED needs the signed bytes");
		return false;
	}
	if (!allowed(from, to)) {
		kerr_set(err, KERR_INTERNAL, "journal: %s -> %s is not a step", journal_state_name(from),
		    journal_state_name(to));
		return false;
	}
	if (!begin(j, err))
		return false;
	if (sqlite3_prepare_v2(j->db, "UPDATE outgoing SET state = ?1, updated = ?2, "
	    "signed = CASE WHEN ?1 = 1 THEN ?3 ELSE signed END, "
	    "smtp_reply = CASE WHEN ?1 = 2 THEN ?4 ELSE smtp_reply END, "
	    "last_error = CASE WHEN ?1 = 5 THEN ?4 ELSE last_error END "
	    "WHERE id = ?5 AND state = ?6", -1, &st, NULL) != SQLITE_OK) {
		db_err(err, j->db, "prepare advance");
		goto out;
	}
	sqlite3_bind_int(st, 1, (int)to);
	sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
	if (blob != NULL)
		sqlite3_bind_blob64(st, 3, blob, blob_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, detail, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, id);
	sqlite3_bind_int(st, 6, (int)from);
	if (!exec_stmt(j, st, "advance", err))
		goto out;
	if (sqlite3_changes(j->db) != 1) {
		kerr_set(err, KERR_TEMP, "journal: message %lld is no longer %s", (long long)id,
		    journal_state_name(from));
		goto out;
	}
	ok = add_step(j, id, to, detail, err);
out:
	sqlite3_finalize(st);
	return commit(j, ok, err);
}

static bool
j_signed_bytes_locked(struct journal *j, int64_t id, struct buf *out, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;

	if (sqlite3_prepare_v2(j->db, "SELECT signed FROM outgoing WHERE id = ?1 AND signed IS NOT NULL",
	    -1, &st, NULL) != SQLITE_OK) {
		db_err(err, j->db, "prepare signed");
		return false;
	}
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		kerr_set(err, KERR_INTERNAL, "journal: message %lld has no signed bytes", (long long)id);
		goto out;
	}
	buf_append(out, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
	ok = true;
out:
	sqlite3_finalize(st);
	return ok;
}

static bool
j_defer_locked(struct journal *j, int64_t id, int64_t not_before, const char *error, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;

	if (sqlite3_prepare_v2(j->db, "UPDATE outgoing SET attempts = attempts + 1, next_attempt = ?1, "
	    "last_error = ?2, updated = ?3 WHERE id = ?4", -1, &st, NULL) != SQLITE_OK) {
		db_err(err, j->db, "prepare defer");
		return false;
	}
	sqlite3_bind_int64(st, 1, not_before);
	sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
	sqlite3_bind_int64(st, 4, id);
	ok = exec_stmt(j, st, "defer", err);
	sqlite3_finalize(st);
	return ok;
}

static bool
j_note_locked(struct journal *j, int64_t id, const char *note, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	bool ok;

	if (sqlite3_prepare_v2(j->db, "UPDATE outgoing SET last_error = ?1, updated = ?2 WHERE id = ?3",
	    -1, &st, NULL) != SQLITE_OK) {
		db_err(err, j->db, "prepare note");
		return false;
	}
	sqlite3_bind_text(st, 1, note, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
	sqlite3_bind_int64(st, 3, id);
	ok = exec_stmt(j, st, "note", err);
	sqlite3_finalize(st);
	return ok;
}

static char *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? xstrdup((const char *)t) : NULL;
}

static bool
j_pending_locked(struct journal *j, const char *account, int64_t now, size_t max,
    struct journal_entry **entries_r, size_t *n_r, struct kerr *err)
{
	sqlite3_stmt *st = NULL;
	struct journal_entry *v = NULL;
	size_t n = 0;
	int rc;

	*entries_r = NULL;
	*n_r = 0;
	if (sqlite3_prepare_v2(j->db, "SELECT id, state, account, folder, message_id, uidvalidity, uid, "
	    "attempts, next_attempt, last_error FROM outgoing WHERE account = ?1 AND state < 4 "
	    "AND next_attempt <= ?2 ORDER BY id LIMIT ?3", -1, &st, NULL) != SQLITE_OK) {
		db_err(err, j->db, "prepare pending");
		return false;
	}
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, (int64_t)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct journal_entry *e;

		v = xreallocarray(v, n + 1, sizeof(*v));
		e = &v[n++];
		e->id = sqlite3_column_int64(st, 0);
		e->state = (enum journal_state)sqlite3_column_int(st, 1);
		e->account = col_text(st, 2);
		e->folder = col_text(st, 3);
		e->message_id = col_text(st, 4);
		e->uidvalidity = (uint32_t)sqlite3_column_int64(st, 5);
		e->uid = (uint32_t)sqlite3_column_int64(st, 6);
		e->attempts = sqlite3_column_int(st, 7);
		e->next_attempt = sqlite3_column_int64(st, 8);
		e->last_error = col_text(st, 9);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_err(err, j->db, "pending");
		for (size_t i = 0; i < n; i++)
			journal_entry_release(&v[i]);
		free(v);
		return false;
	}
	*entries_r = v;
	*n_r = n;
	return true;
}

void
journal_entry_release(struct journal_entry *e)
{
	free(e->account);
	free(e->folder);
	free(e->message_id);
	free(e->last_error);
	memset(e, 0, sizeof(*e));
}

/* --- the public calls: each under the journal's lock --- */

bool
journal_enqueue(struct journal *j, const struct journal_key *key, const char *message_id, int64_t *id_r,
    enum journal_state *state_r, struct kerr *err)
{
	bool ok;

	pthread_mutex_lock(&j->lock);
	ok = j_enqueue_locked(j, key, message_id, id_r, state_r, err);
	pthread_mutex_unlock(&j->lock);
	return ok;
}

bool
journal_advance(struct journal *j, int64_t id, enum journal_state from, enum journal_state to,
    const void *blob, size_t blob_len, const char *detail, struct kerr *err)
{
	bool ok;

	pthread_mutex_lock(&j->lock);
	ok = j_advance_locked(j, id, from, to, blob, blob_len, detail, err);
	pthread_mutex_unlock(&j->lock);
	return ok;
}

bool
journal_signed_bytes(struct journal *j, int64_t id, struct buf *out, struct kerr *err)
{
	bool ok;

	pthread_mutex_lock(&j->lock);
	ok = j_signed_bytes_locked(j, id, out, err);
	pthread_mutex_unlock(&j->lock);
	return ok;
}

bool
journal_note(struct journal *j, int64_t id, const char *note, struct kerr *err)
{
	bool ok;

	pthread_mutex_lock(&j->lock);
	ok = j_note_locked(j, id, note, err);
	pthread_mutex_unlock(&j->lock);
	return ok;
}

bool
journal_defer(struct journal *j, int64_t id, int64_t not_before, const char *error, struct kerr *err)
{
	bool ok;

	pthread_mutex_lock(&j->lock);
	ok = j_defer_locked(j, id, not_before, error, err);
	pthread_mutex_unlock(&j->lock);
	return ok;
}

bool
journal_pending(struct journal *j, const char *account, int64_t now, size_t max,
    struct journal_entry **entries_r, size_t *n_r, struct kerr *err)
{
	bool ok;

	pthread_mutex_lock(&j->lock);
	ok = j_pending_locked(j, account, now, max, entries_r, n_r, err);
	pthread_mutex_unlock(&j->lock);
	return ok;
}
