/*
 * store.h - the web view's read-only queries over the log database
 * (schema in agent/logdb.h).  Results are json-c objects that the pages hand
 * straight to the templates.  One struct store per web thread, or share one:
 * calls are serialised inside.
 */
#ifndef KYSO_WEBUI_STORE_H
#define KYSO_WEBUI_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "smime/base.h"

struct store;

/* Open path read-only (SQLITE_OPEN_READONLY; the agent creates it).  A
 * missing file, or one that is not a kyso log, is KERR_CONFIG.  Caller owns
 * the result (store_close). */
struct store *store_open(const char *path, struct kerr *err);
/* The same with n connections in the pool (0: 4; at most 16): calls run in
 * parallel on up to n connections. */
struct store *store_open_n(const char *path, unsigned n, struct kerr *err);
void store_close(struct store **sp);

struct store_filter {
	const char *direction;          /* "in", "out" or NULL */
	const char *verdict;            /* a verdict code or NULL */
	const char *att_verdict;        /* signed attachments: "any" (att_verdict not
	                                 * NULL), a verdict code (valid, partial,
	                                 * invalid, indeterminate), or NULL */
	const char *const *accounts;    /* only these accounts (NULL: all); for non-admins */
	size_t n_accounts;
	const char *account;            /* the filter box: one account or NULL */
	int64_t from_time, to_time;     /* Unix time range [from, to); 0: open */
	const char *q;                  /* search text (folded inside) or NULL */
	/* keyset pagination: entries strictly older than (before_time, before_id) */
	int64_t before_time, before_id;
	unsigned limit;                 /* 0: 50; at most 500 */
};

/* More than 64 accounts in a filter: NULL + KERR_PERM.  accounts non-NULL
 * with n_accounts 0 sees nothing.  Search text that folds to no word finds
 * nothing (see docs/SEARCH.md). */

/* The log page: { "rows": [ {id,time,direction,account,address,from_addr,
 * from_name,to_addrs,subject,verdict,reasons:[...],signer,attachments,
 * n_attachments,att_verdict}, ...], "next": {"time":t,"id":i} | null }
 * att_verdict: the signed attachments' combined verdict (logdb.h), null
 * when none is signed (and in a log made before the column existed). */
struct json_object *store_list(struct store *s, const struct store_filter *f, struct kerr *err);

/* Every row of the filter, oldest..newest order irrelevant, streamed to a
 * callback (CSV export); limit ignored, stops when cb returns false. */
bool store_each(struct store *s, const struct store_filter *f,
    bool (*cb)(void *ctx, struct json_object *row), void *ctx, struct kerr *err);

/* One message: the row, its parsed "report", "evidence": [ {sig,kind,source,
 * size,sha256} ], and for 'out' the journal "steps": [ {time,state,detail} ];
 * the row includes "att_verdict" as in store_list.
 * NULL + KERR_PERM when there is no such id (or accounts excludes it). */
struct json_object *store_message(struct store *s, int64_t id, const char *const *accounts,
    size_t n_accounts, struct kerr *err);

/* Accounts page: account_status rows + "today" (messages logged since local
 * midnight) per account. */
struct json_object *store_accounts(struct store *s, const char *const *accounts,
    size_t n_accounts, struct kerr *err);

/* Overview: { "days": [ {"day":"2026-11-29","start":unix,"total":n,
 * "valid":n,"invalid":n,...} ], "totals": {verdict: n, "total": n} } for the
 * last `days` local days (0: 30, at most 366), oldest first, today last;
 * verdicts without rows that day are absent. */
struct json_object *store_overview(struct store *s, unsigned days, const char *const *accounts,
    size_t n_accounts, struct kerr *err);

/* Counts for /metrics: by direction+verdict, failures by reason, queue depth
 * (journal rows not done/failed).  The result is
 *   { "messages": {"in": {verdict: n}, "out": {verdict: n}},
 *     "directions": {"in": n, "out": n},
 *     "reasons": {reason: n}, "reasons_window": 86400,
 *                                          (rows of the last 24 h carrying each reason code)
 *     "queue_depth": n | null,             (null: no journal tables)
 *     "verify_ms": {"window": 86400, "buckets": [{"le": 10, "count": n}, ...,
 *                   {"le": "+Inf", "count": n}], "sum": ms, "count": n},
 *                                          (incoming, last 24 h, cumulative)
 *     "accounts": [ {account, state, since, backlog} ], "at": unix time }
 * and is reused for 15 seconds (the counts read every verdict and direction
 * index entry: ~0.1-0.3 s for a 1,000,000-row log). */
struct json_object *store_metrics(struct store *s, struct kerr *err);

/* Additions (compatible): */
/* Fix the clock used for "today" and the overview's days (tests); 0: real time. */
void store_set_now(struct store *s, int64_t now);
/* The FTS5 expression searched for q ("tran kim ng" -> "tran"* AND "kim"*
 * AND "ng"*), NULL when q has no word.  Caller owns. */
char *store_fts_query(const char *q);
/* Tests: SQLite's plan (EXPLAIN QUERY PLAN lines) for the page query of a
 * filter without search.  Caller owns. */
char *store_list_plan(struct store *s, const struct store_filter *f, struct kerr *err);
/* Tests: searches with more matches than this use the plans for many
 * matches (default 2000; 0: the default). */
void store_set_search_few(struct store *s, unsigned few);
/* Unix time of the local (Asia/Ho_Chi_Minh, UTC+7) midnight starting t's day. */
int64_t store_local_midnight(int64_t t);

#endif
