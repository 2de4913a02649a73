/*
 * logfill.h - fill a log database for tests and benchmarks, without running
 * the agent: the schema is made by the agent's own code (logdb_open, and
 * journal_open for the journal's tables), so a filled log is exactly what
 * the agent writes; the rows are inserted directly, in bulk.
 *
 *   struct logfill f;
 *   if (!logfill_open(&f, path, true)) die(f.err);
 *   logfill_random(&f, &opts);            // N realistic Vietnamese rows
 *   logfill_row(&f, &row, &id);           // or one row exactly as given
 *   logfill_close(&f);
 *
 * Used by tests/webui/mklog (the command) and tests/unit/webui/test_store.
 */
#ifndef KYSO_TESTS_LOGFILL_H
#define KYSO_TESTS_LOGFILL_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

struct logfill {
	sqlite3 *db;                    /* owned */
	bool journal;                   /* outgoing/steps exist: 'out' rows get a journal entry */
	sqlite3_stmt *ins_msg, *ins_ev, *ins_out, *ins_step, *ins_acct;   /* owned */
	uint64_t rng;
	struct {                        /* logfill_random: FTS rows batched */
		bool on;
		char *json;             /* owned: [[id,"search"],...] */
		size_t len, size, n;
	} fts;
	char err[512];
};

/* Create (or open) the database at path with the schema; journal: also the
 * journal's tables.  false with f->err set. */
bool logfill_open(struct logfill *f, const char *path, bool journal);
void logfill_close(struct logfill *f);

/* One row, all borrowed; NULL strings are stored as NULL (report: made from
 * the fields when NULL).  With f->journal, an 'out' row whose journal_id is
 * 0 gets an outgoing row and its steps (state from the verdict). */
struct logfill_row {
	int64_t time;
	const char *direction, *account, *address, *folder;
	int64_t uidvalidity, uid;
	const char *message_id, *from_addr, *from_name, *to_addrs, *subject;
	int64_t date_hdr;
	const char *verdict, *reasons, *signer, *signer_email, *attachments;
	int n_attachments;
	int64_t size, verify_ms, journal_id;
	const char *report;
	int n_evidence;                 /* evidence blobs (certificate, crl, ocsp), 0..3 */
	/* 'in' rows: the verdict of every .pdf attachment in the made report
	 * ("unsigned": none is signed); NULL: as the message (valid when it
	 * has a signer, else unsigned).  messages.att_verdict gets it when a
	 * .pdf is attached and it is not "unsigned" (with report given: when
	 * set and not "unsigned"); 'out' rows: always NULL. */
	const char *att_verdict;
};
bool logfill_row(struct logfill *f, const struct logfill_row *r, int64_t *id_r);

struct logfill_opts {
	uint64_t rows;
	uint64_t seed;
	int64_t now;            /* the newest row's time; 0: time(NULL) */
	unsigned days;          /* rows spread over this many days before now; 0: 90 */
	bool hostile;           /* add rows carrying XSS / CSV-formula payloads */
};
/* rows random rows, oldest first, in one transaction; also account_status. */
bool logfill_random(struct logfill *f, const struct logfill_opts *o);

/* The accounts logfill_random uses (name, address), NULL-terminated. */
extern const char *const logfill_accounts[][2];

#endif
