/*
 * store.c - see store.h.  Read-only queries over the log (agent/logdb.h).
 *
 * Connections: a small pool of read-only SQLite connections (SQLITE_OPEN_
 * READONLY | NOMUTEX), each with its own mutex and prepared-statement cache;
 * a call takes a free one (or waits for one), so two web threads query in
 * parallel on two cores.
 *
 * The log page is keyset-paginated on (time DESC, id DESC): every filter
 * maps onto one of logdb.h's indexes (messages_time, _acct, _verdict, _dir,
 * _att, _att_any)
 * whose order is the page order, so a page reads `limit` index entries and
 * `limit` rows, however large the log.  Search uses messages_fts with the
 * folded query (webui_fold), each word a quoted prefix term; a search with
 * few matches is driven by the full-text index (look up each match, sort),
 * one with many by the time index (walk newest first, keep the matches).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "smime/base.h"
#include "webui/fold.h"
#include "webui/store.h"

#define STORE_CONNS 4           /* connections in the pool (default) */
#define STORE_MAX_CONNS 16
#define STORE_CACHE 48          /* prepared statements kept per connection */
#define LOCAL_OFFSET (7 * 3600) /* Asia/Ho_Chi_Minh: UTC+7, no DST */
#define FTS_FEW 2000            /* fewer matches: drive the search from the FTS index */
#define MAX_TERMS 16            /* search words used (the rest ignored) */
#define MAX_TERM_LEN 64
#define METRICS_TTL 15          /* seconds a store_metrics() result is reused */
#define FTS_CACHE 4             /* search results kept per connection */
#define FTS_CACHE_MAX (64 * 1024) /* larger id lists are not kept */

struct cached {
	char *sql;                      /* owned */
	sqlite3_stmt *st;               /* owned */
	uint64_t used;
};

/* The ids a search matched (fts_ids), kept while the log is unchanged: a
 * prefix search costs ~10 ms over a million rows (FTS5 merges the doclist
 * of every term with the prefix), and the same search comes again for the
 * next page, the language switch, another filter on the same words. */
struct fts_cached {
	char *fts;                      /* owned; NULL: empty slot */
	int64_t cap, n, min;
	char *ids;                      /* owned: the JSON array, NUL-terminated */
	size_t ids_len;                 /* with the NUL */
	uint64_t used;
};

struct conn {
	pthread_mutex_t lock;
	sqlite3 *db;                    /* owned */
	struct cached cache[STORE_CACHE];
	uint64_t tick;
	struct fts_cached fts[FTS_CACHE];
	int64_t data_version;           /* PRAGMA data_version the fts entries are for */
	bool att;                       /* messages has att_verdict (logs made before it
	                                 * lack it until the agent opens them) */
};

struct store {
	struct conn conns[STORE_MAX_CONNS];
	unsigned n_conns;
	unsigned next;                  /* round robin start, atomic */
	int64_t now;                    /* fixed clock (tests); 0: time() */
	unsigned fts_few;               /* FTS_FEW, or a test's value */
	pthread_mutex_t mlock;          /* guards metrics* */
	struct json_object *metrics;    /* owned; last store_metrics() result */
	int64_t metrics_at;
};

/* ---- connections and statements ---- */

static int64_t
now_of(const struct store *s)
{
	return s->now != 0 ? s->now : (int64_t)time(NULL);
}

void
store_set_now(struct store *s, int64_t now)
{
	s->now = now;
}

static void
db_error(struct kerr *err, sqlite3 *db, int rc, const char *what)
{
	enum kerr_class cls = KERR_INTERNAL;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_IOERR:
	case SQLITE_NOMEM:
		cls = KERR_TEMP;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_READONLY:
		cls = KERR_CONFIG;
		break;
	default:
		break;
	}
	kerr_set(err, cls, "log database: %s: %s", what, db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static struct conn *
conn_get(struct store *s)
{
	unsigned start = __atomic_fetch_add(&s->next, 1, __ATOMIC_RELAXED);

	for (unsigned i = 0; i < s->n_conns; i++) {
		struct conn *c = &s->conns[(start + i) % s->n_conns];

		if (pthread_mutex_trylock(&c->lock) == 0)
			return c;
	}
	{
		struct conn *c = &s->conns[start % s->n_conns];

		pthread_mutex_lock(&c->lock);
		return c;
	}
}

static void
conn_put(struct conn *c)
{
	pthread_mutex_unlock(&c->lock);
}

/* A prepared statement for sql, from the connection's cache (reset, no
 * bindings); NULL + err when it does not compile. */
static sqlite3_stmt *
stmt(struct conn *c, const char *sql, struct kerr *err)
{
	struct cached *victim = &c->cache[0];
	int rc;

	for (size_t i = 0; i < STORE_CACHE; i++) {
		struct cached *e = &c->cache[i];

		if (e->sql != NULL && strcmp(e->sql, sql) == 0) {
			e->used = ++c->tick;
			sqlite3_reset(e->st);
			sqlite3_clear_bindings(e->st);
			return e->st;
		}
		if (e->sql == NULL || e->used < victim->used)
			victim = e;
		if (e->sql == NULL)
			break;
	}
	sqlite3_finalize(victim->st);
	xfree(&victim->sql);
	victim->st = NULL;
	rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &victim->st, NULL);
	if (rc != SQLITE_OK) {
		db_error(err, c->db, rc, "prepare");
		sqlite3_finalize(victim->st);
		victim->st = NULL;
		victim->used = 0;
		return NULL;
	}
	victim->sql = xstrdup(sql);
	victim->used = ++c->tick;
	return victim->st;
}

/* Does the database have this table (the journal's may be absent)? */
static bool
has_table(struct conn *c, const char *name, bool *yes_r, struct kerr *err)
{
	sqlite3_stmt *st = stmt(c, "SELECT 1 FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ?", err);
	int rc;

	if (st == NULL)
		return false;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_error(err, c->db, rc, "schema");
		return false;
	}
	*yes_r = rc == SQLITE_ROW;
	sqlite3_reset(st);
	return true;
}

static void
fts_cache_clear(struct conn *c)
{
	for (size_t i = 0; i < FTS_CACHE; i++) {
		xfree(&c->fts[i].fts);
		xfree(&c->fts[i].ids);
	}
}

static void
conn_close(struct conn *c)
{
	for (size_t i = 0; i < STORE_CACHE; i++) {
		sqlite3_finalize(c->cache[i].st);
		xfree(&c->cache[i].sql);
	}
	fts_cache_clear(c);
	if (c->db != NULL)
		sqlite3_close(c->db);
	c->db = NULL;
	pthread_mutex_destroy(&c->lock);
}

static bool
conn_open(struct conn *c, const char *path, struct kerr *err)
{
	bool yes = false;
	int rc;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		kerr_set(err, KERR_CONFIG, "log database %s: %s", path,
		    c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		return false;
	}
	sqlite3_busy_timeout(c->db, 5000);
	sqlite3_extended_result_codes(c->db, 1);
	if (!has_table(c, "messages", &yes, err)) {
		kerr_prefix(err, "%s", path);
		err->cls = KERR_CONFIG;
		return false;
	}
	if (!yes || !has_table(c, "messages_fts", &yes, err) || !yes) {
		if (!kerr_isset(err))
			kerr_set(err, KERR_CONFIG, "log database %s: not a kyso log (no messages or messages_fts table)",
			    path);
		return false;
	}
	{
		/* read-only: a log the agent has not opened since att_verdict
		 * came is read without it (no attachment verdicts) */
		sqlite3_stmt *st = NULL;

		c->att = sqlite3_prepare_v2(c->db, "SELECT att_verdict FROM messages LIMIT 0", -1, &st, NULL) == SQLITE_OK;
		sqlite3_finalize(st);
	}
	return true;
}

struct store *
store_open(const char *path, struct kerr *err)
{
	return store_open_n(path, STORE_CONNS, err);
}

struct store *
store_open_n(const char *path, unsigned conns, struct kerr *err)
{
	struct store *s;
	struct stat sb;

	if (path == NULL || stat(path, &sb) != 0) {
		kerr_set(err, KERR_CONFIG, "log database %s: %s", path != NULL ? path : "(none)",
		    path != NULL ? strerror(errno) : "no path");
		return NULL;
	}
	if (!S_ISREG(sb.st_mode)) {
		kerr_set(err, KERR_CONFIG, "log database %s: not a file", path);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->mlock, NULL);
	if (conns == 0)
		conns = STORE_CONNS;
	if (conns > STORE_MAX_CONNS)
		conns = STORE_MAX_CONNS;
	for (s->n_conns = 0; s->n_conns < conns; s->n_conns++) {
		if (!conn_open(&s->conns[s->n_conns], path, err)) {
			conn_close(&s->conns[s->n_conns]);
			store_close(&s);
			return NULL;
		}
	}
	return s;
}

void
store_close(struct store **sp)
{
	struct store *s = sp != NULL ? *sp : NULL;

	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->n_conns; i++)
		conn_close(&s->conns[i]);
	json_object_put(s->metrics);
	pthread_mutex_destroy(&s->mlock);
	free(s);
	*sp = NULL;
}

/* ---- binding values to a statement built piece by piece ---- */

#define MAX_BINDS 96

struct binds {
	int n;
	struct {
		const char *s;          /* borrowed; NULL: integer */
		int64_t i;
	} v[MAX_BINDS];
};

static void
bind_s(struct binds *b, const char *s)
{
	if (b->n < MAX_BINDS)
		b->v[b->n].s = s, b->v[b->n].i = 0;
	b->n++;
}

static void
bind_i(struct binds *b, int64_t i)
{
	if (b->n < MAX_BINDS)
		b->v[b->n].s = NULL, b->v[b->n].i = i;
	b->n++;
}

static bool
bind_all(sqlite3_stmt *st, const struct binds *b, struct kerr *err)
{
	if (b->n > MAX_BINDS || b->n != sqlite3_bind_parameter_count(st)) {
		kerr_set(err, KERR_INTERNAL, "log database: %d values for %d parameters", b->n,
		    sqlite3_bind_parameter_count(st));
		return false;
	}
	for (int i = 0; i < b->n; i++) {
		if (b->v[i].s != NULL)
			sqlite3_bind_text(st, i + 1, b->v[i].s, -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(st, i + 1, b->v[i].i);
	}
	return true;
}

/* ---- rows as JSON ---- */

static struct json_object *
col_json(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		return json_object_new_int64(sqlite3_column_int64(st, i));
	case SQLITE_FLOAT:
		return json_object_new_double(sqlite3_column_double(st, i));
	case SQLITE_TEXT:
		return json_object_new_string_len((const char *)sqlite3_column_text(st, i),
		    sqlite3_column_bytes(st, i));
	case SQLITE_BLOB:       /* never in these columns; shown as its size */
		return json_object_new_int(sqlite3_column_bytes(st, i));
	default:
		return NULL;
	}
}

/* "a b  c" -> ["a","b","c"] */
static struct json_object *
words_json(const char *s)
{
	struct json_object *a = json_object_new_array();

	while (s != NULL && *s != '\0') {
		size_t n;

		s += strspn(s, " ");
		n = strcspn(s, " ");
		if (n > 0)
			json_object_array_add(a, json_object_new_string_len(s, (int)n));
		s += n;
	}
	return a;
}

#define LIST_COLS "m.id, m.time, m.direction, m.account, m.address, m.from_addr, m.from_name," \
	" m.to_addrs, m.subject, m.verdict, m.reasons, m.signer, m.attachments, m.n_attachments, "
/* then "m.att_verdict", or "NULL" for a log without the column */
static const char *const list_keys[] = {
	"id", "time", "direction", "account", "address", "from_addr", "from_name", "to_addrs",
	"subject", "verdict", "reasons", "signer", "attachments", "n_attachments", "att_verdict",
};
#define LIST_REASONS 10         /* list_keys[LIST_REASONS] is "reasons" */

static struct json_object *
list_row(sqlite3_stmt *st)
{
	struct json_object *o = json_object_new_object();

	/* the keys are static and distinct: json-c need neither copy nor look
	 * for them (a page has 50 rows of 14) */
	for (int i = 0; i < (int)(sizeof(list_keys) / sizeof(list_keys[0])); i++)
		json_object_object_add_ex(o, list_keys[i], i == LIST_REASONS ?
		    words_json((const char *)sqlite3_column_text(st, i)) : col_json(st, i),
		    JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_ADD_CONSTANT_KEY);
	return o;
}

/* ---- search text -> FTS5 query ---- */

/*
 * The folded words of q as an FTS5 expression: "tran kim ng" ->
 * "tran"* AND "kim"* AND "ng"*.  Folded words are [a-z0-9] only, so the
 * quoting cannot be broken and no word is an operator (AND, NEAR, ...).  A
 * one-letter word is an exact term (a one-letter prefix would expand to a
 * large share of the vocabulary).  NULL when q has no word.
 */
static char *
fts_query(const char *q)
{
	char *folded = webui_fold(q);
	struct buf b = BUF_INIT;
	const char *p = folded;
	unsigned terms = 0;

	while (*p != '\0' && terms < MAX_TERMS) {
		size_t n = strcspn(p, " ");
		size_t use = n < MAX_TERM_LEN ? n : MAX_TERM_LEN;

		buf_printf(&b, "%s\"%.*s\"%s", terms > 0 ? " AND " : "", (int)use, p, n > 1 ? "*" : "");
		terms++;
		p += n;
		p += strspn(p, " ");
	}
	free(folded);
	if (terms == 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

char *
store_fts_query(const char *q)
{
	return fts_query(q);
}

/* Is q blank (no search)?  Non-blank text that folds to nothing ("*", "-")
 * searches for nothing and finds nothing. */
static bool
blank(const char *q)
{
	if (q == NULL)
		return true;
	for (; *q != '\0'; q++)
		if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
			return false;
	return true;
}

/* ---- the filter as SQL ---- */

enum plan {
	PLAN_INDEX,     /* no search: the planner picks the filter's index */
	PLAN_FTS,       /* few matches: look each up (ids from the FTS index), sort */
	PLAN_WALK,      /* many matches: walk the filter's index, keep matches */
	PLAN_ALL,       /* store_each: every row, the planner chooses */
};

/* WHERE terms of f (after "WHERE 1"), with their values.  plus: keep the
 * planner off the column indexes (PLAN_FTS). */
static void
filter_sql(struct buf *sql, struct binds *b, const struct store_filter *f, const char *fts, bool keyset,
    enum plan plan, bool att)
{
	const char *p = plan == PLAN_FTS ? "+" : "";

	if (f->accounts != NULL) {
		if (f->n_accounts == 1) {
			buf_printf(sql, " AND %sm.account = ?", p);
		} else {
			buf_printf(sql, " AND %sm.account IN (", p);
			for (size_t i = 0; i < f->n_accounts; i++)
				buf_appends(sql, i > 0 ? ",?" : "?");
			buf_appends(sql, ")");
		}
		for (size_t i = 0; i < f->n_accounts; i++)
			bind_s(b, f->accounts[i]);
	}
	if (f->account != NULL && f->account[0] != '\0') {
		buf_printf(sql, " AND %sm.account = ?", p);
		bind_s(b, f->account);
	}
	if (f->direction != NULL && f->direction[0] != '\0') {
		buf_printf(sql, " AND %sm.direction = ?", p);
		bind_s(b, f->direction);
	}
	if (f->verdict != NULL && f->verdict[0] != '\0') {
		buf_printf(sql, " AND %sm.verdict = ?", p);
		bind_s(b, f->verdict);
	}
	if (f->att_verdict != NULL && f->att_verdict[0] != '\0') {
		/* partial indexes messages_att (one code) and messages_att_any
		 * (IS NOT NULL), both in page order */
		if (!att)
			buf_appends(sql, " AND 0");     /* a log without the column: none known */
		else if (strcmp(f->att_verdict, "any") == 0)
			buf_printf(sql, " AND %sm.att_verdict IS NOT NULL", p);
		else {
			buf_printf(sql, " AND %sm.att_verdict = ?", p);
			bind_s(b, f->att_verdict);
		}
	}
	if (f->from_time != 0) {
		buf_printf(sql, " AND %sm.time >= ?", p);
		bind_i(b, f->from_time);
	}
	if (f->to_time != 0) {
		buf_printf(sql, " AND %sm.time < ?", p);
		bind_i(b, f->to_time);
	}
	if (keyset && (f->before_time != 0 || f->before_id != 0)) {
		buf_printf(sql, " AND (%sm.time, %sm.id) < (?, ?)", p, p);
		bind_i(b, f->before_time);
		bind_i(b, f->before_id);
	}
	if (fts != NULL && plan == PLAN_FTS) {
		/* fts is the JSON array of the matching ids */
		buf_appends(sql, " AND m.id IN (SELECT value FROM json_each(?))");
		bind_s(b, fts);
	} else if (fts != NULL) {
		buf_appends(sql, " AND m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)");
		bind_s(b, fts);
	}
}

/* The index whose order serves the filter (PLAN_WALK). */
static const char *
walk_index(const struct store_filter *f)
{
	if ((f->account != NULL && f->account[0] != '\0') || (f->accounts != NULL && f->n_accounts == 1))
		return "messages_acct";
	if (f->verdict != NULL && f->verdict[0] != '\0')
		return "messages_verdict";
	if (f->direction != NULL && f->direction[0] != '\0')
		return "messages_dir";
	return "messages_time";
}

static void
select_sql(struct buf *sql, struct binds *b, const struct conn *c, const struct store_filter *f, const char *fts,
    enum plan plan, unsigned limit)
{
	buf_appends(sql, "SELECT " LIST_COLS);
	buf_appends(sql, c->att ? "m.att_verdict" : "NULL");
	buf_appends(sql, " FROM messages AS m");
	if (plan == PLAN_FTS)
		buf_appends(sql, " NOT INDEXED");
	else if (plan == PLAN_WALK)
		buf_printf(sql, " INDEXED BY %s", walk_index(f));
	buf_appends(sql, " WHERE 1");
	filter_sql(sql, b, f, fts, plan != PLAN_ALL, plan, c->att);
	buf_appends(sql, " ORDER BY m.time DESC, m.id DESC");
	if (limit > 0) {
		buf_appends(sql, " LIMIT ?");
		bind_i(b, limit);
	}
}

/* Drop the kept search results when the log changed since they were
 * found (PRAGMA data_version moves when another connection commits; the
 * agent writes the log).  false + err when the log cannot be read. */
static bool
fts_cache_check(struct conn *c, struct kerr *err)
{
	sqlite3_stmt *st = stmt(c, "PRAGMA data_version", err);
	int64_t v;
	int rc;

	if (st == NULL)
		return false;
	rc = sqlite3_step(st);
	v = rc == SQLITE_ROW ? (int64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		db_error(err, c->db, rc, "search");
		return false;
	}
	if (v != c->data_version) {
		fts_cache_clear(c);
		c->data_version = v;
	}
	return true;
}

static struct fts_cached *
fts_cache_find(struct conn *c, const char *fts, int64_t cap)
{
	for (size_t i = 0; i < FTS_CACHE; i++)
		if (c->fts[i].fts != NULL && c->fts[i].cap == cap && strcmp(c->fts[i].fts, fts) == 0)
			return &c->fts[i];
	return NULL;
}

static void
fts_cache_add(struct conn *c, const char *fts, int64_t cap, const struct buf *ids, int64_t n, int64_t min)
{
	struct fts_cached *e = &c->fts[0];

	if (ids->len > FTS_CACHE_MAX)
		return;
	for (size_t i = 1; i < FTS_CACHE && e->fts != NULL; i++)
		if (c->fts[i].fts == NULL || c->fts[i].used < e->used)
			e = &c->fts[i];
	free(e->fts);
	free(e->ids);
	e->fts = xstrdup(fts);
	e->cap = cap;
	e->n = n;
	e->min = min;
	e->ids = xmalloc(ids->len);
	memcpy(e->ids, ids->data, ids->len);
	e->ids_len = ids->len;
	e->used = ++c->tick;
}

/* The newest (by id) rowids matching fts, up to cap, as a JSON array
 * ("[17,3,...]") in ids; *n_r gets how many, *min_r the smallest.  From the
 * connection's kept results when the log has not changed since. */
static bool
fts_ids(struct conn *c, const char *fts, int64_t cap, struct buf *ids, int64_t *n_r, int64_t *min_r,
    struct kerr *err)
{
	sqlite3_stmt *st;
	struct fts_cached *e;
	int64_t n = 0, min = INT64_MAX;
	int rc;

	if (!fts_cache_check(c, err))
		return false;
	buf_reset(ids);
	if ((e = fts_cache_find(c, fts, cap)) != NULL) {
		buf_append(ids, e->ids, e->ids_len);
		e->used = ++c->tick;
		*n_r = e->n;
		*min_r = e->min;
		return true;
	}
	st = stmt(c, "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?"
	    " ORDER BY rowid DESC LIMIT ?", err);
	if (st == NULL)
		return false;
	sqlite3_bind_text(st, 1, fts, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, cap);
	buf_appends(ids, "[");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = (int64_t)sqlite3_column_int64(st, 0);

		buf_printf(ids, "%s%" PRId64, n++ > 0 ? "," : "", id);
		if (id < min)
			min = id;
	}
	buf_appends(ids, "]");
	buf_append(ids, "", 1);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(err, c->db, rc, "search");
		return false;
	}
	fts_cache_add(c, fts, cap, ids, n, min);
	*n_r = n;
	*min_r = min;
	return true;
}

/* Checks shared by store_list and store_each: false (no error) when the
 * filter can match nothing. */
static bool
filter_can_match(const struct store_filter *f, char **fts_r)
{
	*fts_r = NULL;
	if (f->accounts != NULL && f->n_accounts == 0)
		return false;
	if (f->from_time != 0 && f->to_time != 0 && f->from_time >= f->to_time)
		return false;
	if (!blank(f->q)) {
		*fts_r = fts_query(f->q);
		if (*fts_r == NULL)
			return false;
	}
	return true;
}

static bool
valid_filter(const struct store_filter *f, struct kerr *err)
{
	if (f == NULL) {
		kerr_set(err, KERR_INTERNAL, "store: no filter");
		return false;
	}
	if (f->accounts != NULL && f->n_accounts > 64) {
		kerr_set(err, KERR_PERM, "store: too many accounts in one filter (%zu, at most 64)", f->n_accounts);
		return false;
	}
	if (f->accounts == NULL && f->n_accounts != 0) {
		kerr_set(err, KERR_INTERNAL, "store: n_accounts without accounts");
		return false;
	}
	return true;
}

/* Run a list query: up to limit rows into rows, and *next_r (the last
 * row's key) when there is one more. */
static bool
run_list(struct conn *c, const char *sql, const struct binds *b, unsigned limit, struct json_object *rows,
    struct json_object **next_r, struct kerr *err)
{
	sqlite3_stmt *st = stmt(c, sql, err);
	unsigned n = 0;
	int rc;

	*next_r = NULL;
	if (st == NULL || !bind_all(st, b, err))
		return false;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == limit) {
			struct json_object *last = json_object_array_get_idx(rows, n - 1);
			struct json_object *t = NULL, *id = NULL;

			json_object_object_get_ex(last, "time", &t);
			json_object_object_get_ex(last, "id", &id);
			*next_r = json_object_new_object();
			json_object_object_add(*next_r, "time", json_object_get(t));
			json_object_object_add(*next_r, "id", json_object_get(id));
			break;
		}
		json_object_array_add(rows, list_row(st));
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_error(err, c->db, rc, "list");
		return false;
	}
	return true;
}

/*
 * A search with many matches, from the newest matches by id: ids holds the
 * n newest matching ids (smallest min_id).  Rows are logged in time order,
 * so the page is usually among them; that is checked, not assumed: when the
 * candidates were not all the matches, no row with a smaller id may sit in
 * the log's time order between the page's start and its last row.  Returns
 * 1 with the page in rows, 0 when this cannot answer (use PLAN_WALK).
 */
static int
list_recent(struct conn *c, const struct store_filter *f, const char *ids, bool exhausted, int64_t min_id,
    unsigned limit, struct json_object *rows, struct json_object **next_r, struct kerr *err)
{
	struct buf sql = BUF_INIT;
	struct binds b = { 0 };
	struct json_object *last, *v = NULL;
	sqlite3_stmt *st;
	size_t got;
	int res = -1, rc;

	select_sql(&sql, &b, c, f, ids, PLAN_FTS, limit + 1);
	buf_append(&sql, "", 1);
	if (!run_list(c, sql.data, &b, limit, rows, next_r, err))
		goto out;
	got = json_object_array_length(rows);
	res = 1;
	if (exhausted)
		goto out;               /* every match was a candidate */
	res = 0;
	if (*next_r == NULL)
		goto out;               /* too few: the rest may be older ids */
	last = json_object_array_get_idx(rows, got - 1);
	buf_reset(&sql);
	b.n = 0;
	buf_appends(&sql, "SELECT 1 FROM messages INDEXED BY messages_time WHERE (time, id) > (?, ?) AND id < ?");
	json_object_object_get_ex(last, "time", &v);
	bind_i(&b, json_object_get_int64(v));
	json_object_object_get_ex(last, "id", &v);
	bind_i(&b, json_object_get_int64(v));
	bind_i(&b, min_id);
	if (f->before_time != 0 || f->before_id != 0) {
		buf_appends(&sql, " AND (time, id) < (?, ?)");
		bind_i(&b, f->before_time);
		bind_i(&b, f->before_id);
	}
	buf_appends(&sql, " LIMIT 1");
	buf_append(&sql, "", 1);
	if ((st = stmt(c, sql.data, err)) == NULL || !bind_all(st, &b, err)) {
		res = -1;
		goto out;
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		res = 1;
	else if (rc != SQLITE_ROW) {
		db_error(err, c->db, rc, "search");
		res = -1;
	}
out:
	if (res != 1) {
		/* not the answer: empty rows for the next plan */
		while (json_object_array_length(rows) > 0)
			json_object_array_del_idx(rows, 0, json_object_array_length(rows));
		json_object_put(*next_r);
		*next_r = NULL;
	}
	buf_release(&sql);
	return res;
}

struct json_object *
store_list(struct store *s, const struct store_filter *f, struct kerr *err)
{
	struct json_object *out = NULL, *rows = json_object_new_array(), *next = NULL;
	unsigned limit;
	struct buf sql = BUF_INIT, ids = BUF_INIT;
	struct binds b = { 0 };
	struct conn *c = NULL;
	enum plan plan = PLAN_INDEX;
	char *fts = NULL;

	if (!valid_filter(f, err))
		goto fail;
	limit = f->limit == 0 ? 50 : f->limit > 500 ? 500 : f->limit;
	if (!filter_can_match(f, &fts))
		goto done;
	c = conn_get(s);
	if (fts != NULL) {
		int64_t few = s->fts_few != 0 ? s->fts_few : FTS_FEW, cap = few + 1, matches = 0, min_id = 0;

		if (!fts_ids(c, fts, cap, &ids, &matches, &min_id, err))
			goto fail;
		if (matches == 0)
			goto done;
		if (matches <= few) {
			plan = PLAN_FTS;
		} else {
			/* many: the newest candidates, then 8x more, then walk */
			for (int round = 0; round < 2; round++) {
				int r;

				if (round > 0) {
					cap *= 8;
					if (!fts_ids(c, fts, cap, &ids, &matches, &min_id, err))
						goto fail;
				}
				r = list_recent(c, f, ids.data, matches < cap, min_id, limit, rows, &next, err);
				if (r < 0)
					goto fail;
				if (r > 0)
					goto done;
			}
			plan = PLAN_WALK;
		}
	}
	select_sql(&sql, &b, c, f, plan == PLAN_FTS ? ids.data : fts, plan, limit + 1);
	buf_append(&sql, "", 1);
	if (!run_list(c, sql.data, &b, limit, rows, &next, err))
		goto fail;
done:
	out = json_object_new_object();
	json_object_object_add(out, "rows", rows);
	json_object_object_add(out, "next", next);
	rows = NULL;
	next = NULL;
fail:
	if (c != NULL)
		conn_put(c);
	json_object_put(rows);
	json_object_put(next);
	buf_release(&sql);
	buf_release(&ids);
	free(fts);
	return out;
}

char *
store_list_plan(struct store *s, const struct store_filter *f, struct kerr *err)
{
	struct buf sql = BUF_INIT, plan = BUF_INIT;
	struct binds b = { 0 };
	struct conn *c;
	sqlite3_stmt *st;
	char *fts = NULL;
	int rc;

	if (!valid_filter(f, err))
		return NULL;
	if (!filter_can_match(f, &fts)) {
		buf_appends(&plan, "(matches nothing)");
		buf_append(&plan, "", 1);
		return buf_steal(&plan, NULL);
	}
	buf_appends(&sql, "EXPLAIN QUERY PLAN ");
	c = conn_get(s);
	select_sql(&sql, &b, c, f, fts, PLAN_INDEX, 51);
	buf_append(&sql, "", 1);
	if ((st = stmt(c, sql.data, err)) == NULL || !bind_all(st, &b, err)) {
		conn_put(c);
		buf_release(&sql);
		free(fts);
		return NULL;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		buf_printf(&plan, "%s\n", (const char *)sqlite3_column_text(st, 3));
	sqlite3_reset(st);
	conn_put(c);
	buf_release(&sql);
	free(fts);
	buf_append(&plan, "", 1);
	return buf_steal(&plan, NULL);
}

void
store_set_search_few(struct store *s, unsigned few)
{
	s->fts_few = few;
}

bool
store_each(struct store *s, const struct store_filter *f, bool (*cb)(void *ctx, struct json_object *row),
    void *ctx, struct kerr *err)
{
	struct buf sql = BUF_INIT;
	struct binds b = { 0 };
	struct conn *c = NULL;
	sqlite3_stmt *st = NULL;
	char *fts = NULL;
	bool ok = false;
	int rc;

	if (!valid_filter(f, err))
		goto out;
	if (!filter_can_match(f, &fts)) {
		ok = true;
		goto out;
	}
	c = conn_get(s);
	select_sql(&sql, &b, c, f, fts, PLAN_ALL, 0);
	buf_append(&sql, "", 1);
	if ((st = stmt(c, sql.data, err)) == NULL || !bind_all(st, &b, err))
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct json_object *row = list_row(st);
		bool more = cb(ctx, row);

		json_object_put(row);
		if (!more)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_error(err, c->db, rc, "export");
		goto out;
	}
	ok = true;
out:
	if (st != NULL)
		sqlite3_reset(st);
	if (c != NULL)
		conn_put(c);
	buf_release(&sql);
	free(fts);
	return ok;
}

/* ---- one message ---- */

static bool
allowed(const char *account, const char *const *accounts, size_t n_accounts)
{
	if (accounts == NULL)
		return true;
	for (size_t i = 0; i < n_accounts; i++)
		if (accounts[i] != NULL && strcmp(accounts[i], account) == 0)
			return true;
	return false;
}

static const char *const journal_states[] = { "queued", "signed", "submitted", "filed", "done", "failed" };

static const char *
journal_state(int64_t st)
{
	return st >= 0 && st < 6 ? journal_states[st] : "unknown";
}

static bool
add_evidence(struct conn *c, struct json_object *msg, int64_t id, struct kerr *err)
{
	sqlite3_stmt *st = stmt(c, "SELECT sig, kind, source, data FROM evidence WHERE message = ? ORDER BY rowid",
	    err);
	struct json_object *ev = json_object_new_array();
	int rc;

	if (st == NULL) {
		json_object_put(ev);
		return false;
	}
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct json_object *o = json_object_new_object();
		const void *data = sqlite3_column_blob(st, 3);
		size_t len = (size_t)sqlite3_column_bytes(st, 3);
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		char hex[2 * EVP_MAX_MD_SIZE + 1];

		json_object_object_add(o, "sig", col_json(st, 0));
		json_object_object_add(o, "kind", col_json(st, 1));
		json_object_object_add(o, "source", col_json(st, 2));
		json_object_object_add(o, "size", json_object_new_int64((int64_t)len));
		if (EVP_Digest(data != NULL ? data : "", len, md, &mdlen, EVP_sha256(), NULL) == 1) {
			for (unsigned i = 0; i < mdlen; i++)
				snprintf(hex + 2 * i, 3, "%02x", md[i]);
			json_object_object_add(o, "sha256", json_object_new_string(hex));
		} else {
			json_object_object_add(o, "sha256", NULL);
		}
		json_object_array_add(ev, o);
	}
	sqlite3_reset(st);
	json_object_object_add(msg, "evidence", ev);
	if (rc != SQLITE_DONE) {
		db_error(err, c->db, rc, "evidence");
		return false;
	}
	return true;
}

/* "journal": the outgoing row, "steps": its transitions; nothing when the
 * database has no journal tables (a log-only copy). */
static bool
add_journal(struct conn *c, struct json_object *msg, int64_t journal_id, struct kerr *err)
{
	struct json_object *steps = json_object_new_array();
	bool has_out = false, has_steps = false;
	sqlite3_stmt *st;
	int rc;

	json_object_object_add(msg, "steps", steps);
	if (!has_table(c, "outgoing", &has_out, err) || !has_table(c, "steps", &has_steps, err))
		return false;
	if (has_out) {
		st = stmt(c, "SELECT state, attempts, next_attempt, smtp_reply, last_error, created, updated,"
		    " folder, message_id FROM outgoing WHERE id = ?", err);
		if (st == NULL)
			return false;
		sqlite3_bind_int64(st, 1, journal_id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			struct json_object *j = json_object_new_object();
			static const char *const keys[] = {
				"state", "attempts", "next_attempt", "smtp_reply", "last_error", "created",
				"updated", "folder", "message_id",
			};

			for (int i = 0; i < 9; i++)
				json_object_object_add(j, keys[i], i == 0 ?
				    json_object_new_string(journal_state(sqlite3_column_int64(st, 0))) : col_json(st, i));
			json_object_object_add(j, "id", json_object_new_int64(journal_id));
			json_object_object_add(msg, "journal", j);
		}
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			db_error(err, c->db, rc, "journal");
			return false;
		}
	}
	if (!has_steps)
		return true;
	st = stmt(c, "SELECT at, state, detail FROM steps WHERE outgoing = ? ORDER BY id", err);
	if (st == NULL)
		return false;
	sqlite3_bind_int64(st, 1, journal_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "time", col_json(st, 0));
		json_object_object_add(o, "state", json_object_new_string(journal_state(sqlite3_column_int64(st, 1))));
		json_object_object_add(o, "detail", col_json(st, 2));
		json_object_array_add(steps, o);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(err, c->db, rc, "steps");
		return false;
	}
	return true;
}

struct json_object *
store_message(struct store *s, int64_t id, const char *const *accounts, size_t n_accounts, struct kerr *err)
{
	static const char *const keys[] = {
		"id", "time", "direction", "account", "address", "folder", "uidvalidity", "uid",
		"message_id", "from_addr", "from_name", "to_addrs", "subject", "date_hdr", "verdict",
		"reasons", "signer", "signer_email", "attachments", "n_attachments", "size", "verify_ms",
		"journal_id", "report", "att_verdict",
	};
	struct json_object *msg = NULL;
	struct conn *c = conn_get(s);
	sqlite3_stmt *st;
	int64_t journal_id = 0;
	int rc;

	st = stmt(c, c->att ? "SELECT id, time, direction, account, address, folder, uidvalidity, uid, message_id,"
	    " from_addr, from_name, to_addrs, subject, date_hdr, verdict, reasons, signer, signer_email,"
	    " attachments, n_attachments, size, verify_ms, journal_id, report, att_verdict FROM messages WHERE id = ?"
	    : "SELECT id, time, direction, account, address, folder, uidvalidity, uid, message_id,"
	    " from_addr, from_name, to_addrs, subject, date_hdr, verdict, reasons, signer, signer_email,"
	    " attachments, n_attachments, size, verify_ms, journal_id, report, NULL FROM messages WHERE id = ?", err);
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			kerr_set(err, KERR_PERM, "no message %" PRId64, id);
		else
			db_error(err, c->db, rc, "message");
		sqlite3_reset(st);
		goto fail;
	}
	if (!allowed((const char *)sqlite3_column_text(st, 3), accounts, n_accounts)) {
		/* the same answer as for a missing id: no hint that it exists */
		kerr_set(err, KERR_PERM, "no message %" PRId64, id);
		sqlite3_reset(st);
		goto fail;
	}
	msg = json_object_new_object();
	for (int i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++) {
		if (strcmp(keys[i], "reasons") == 0) {
			json_object_object_add(msg, "reasons", words_json((const char *)sqlite3_column_text(st, i)));
		} else if (strcmp(keys[i], "report") == 0) {
			const char *text = (const char *)sqlite3_column_text(st, i);
			struct json_object *r = text != NULL ? json_tokener_parse(text) : NULL;

			/* a report that is not a JSON object is shown as missing */
			if (r != NULL && !json_object_is_type(r, json_type_object)) {
				json_object_put(r);
				r = NULL;
			}
			json_object_object_add(msg, "report", r);
		} else {
			json_object_object_add(msg, keys[i], col_json(st, i));
		}
	}
	if (sqlite3_column_type(st, 22) == SQLITE_INTEGER)
		journal_id = sqlite3_column_int64(st, 22);
	sqlite3_reset(st);
	if (!add_evidence(c, msg, id, err))
		goto fail;
	if (journal_id != 0) {
		if (!add_journal(c, msg, journal_id, err))
			goto fail;
	} else {
		json_object_object_add(msg, "steps", json_object_new_array());
	}
	conn_put(c);
	return msg;
fail:
	conn_put(c);
	json_object_put(msg);
	return NULL;
}

/* ---- accounts, overview, metrics ---- */

/* Unix time of local midnight (UTC+7) starting the day that holds t. */
static int64_t
local_midnight(int64_t t)
{
	int64_t l = t + LOCAL_OFFSET;
	int64_t day = l >= 0 ? l / 86400 : (l - 86399) / 86400;

	return day * 86400 - LOCAL_OFFSET;
}

int64_t
store_local_midnight(int64_t t)
{
	return local_midnight(t);
}

static bool
count_one(struct conn *c, const char *sql, const char *text, int64_t i, int64_t *n_r, struct kerr *err)
{
	sqlite3_stmt *st = stmt(c, sql, err);
	int rc;

	if (st == NULL)
		return false;
	if (text != NULL)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(st) >= (text != NULL ? 2 : 1))
		sqlite3_bind_int64(st, text != NULL ? 2 : 1, i);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		db_error(err, c->db, rc, "count");
		sqlite3_reset(st);
		return false;
	}
	*n_r = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return true;
}

struct json_object *
store_accounts(struct store *s, const char *const *accounts, size_t n_accounts, struct kerr *err)
{
	static const char *const keys[] = {
		"account", "address", "state", "since", "last_idle", "backlog", "last_error",
		"last_error_time", "updated",
	};
	struct json_object *out = NULL, *list = json_object_new_array();
	struct conn *c = conn_get(s);
	int64_t midnight = local_midnight(now_of(s));
	sqlite3_stmt *st;
	int rc;

	st = stmt(c, "SELECT account, address, state, since, last_idle, backlog, last_error, last_error_time,"
	    " updated FROM account_status ORDER BY account", err);
	if (st == NULL)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct json_object *o;

		if (!allowed((const char *)sqlite3_column_text(st, 0), accounts, n_accounts))
			continue;
		o = json_object_new_object();
		for (int i = 0; i < 9; i++)
			json_object_object_add(o, keys[i], col_json(st, i));
		json_object_array_add(list, o);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(err, c->db, rc, "accounts");
		goto fail;
	}
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *o = json_object_array_get_idx(list, i), *a = NULL;
		int64_t today = 0;

		json_object_object_get_ex(o, "account", &a);
		if (!count_one(c, "SELECT count(*) FROM messages WHERE account = ? AND time >= ?",
		    json_object_get_string(a), midnight, &today, err))
			goto fail;
		json_object_object_add(o, "today", json_object_new_int64(today));
	}
	out = json_object_new_object();
	json_object_object_add(out, "accounts", list);
	json_object_object_add(out, "since", json_object_new_int64(midnight));
	list = NULL;
fail:
	conn_put(c);
	json_object_put(list);
	return out;
}

/* Add n to obj[key] (an int). */
static void
add_count(struct json_object *obj, const char *key, int64_t n)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(obj, key, &v);
	json_object_object_add(obj, key, json_object_new_int64(json_object_get_int64(v) + n));
}

/* The verdicts present, by index seeks (no scan). */
#define VERDICTS_CTE \
	"WITH RECURSIVE v(x) AS (SELECT (SELECT min(verdict) FROM messages) UNION ALL" \
	" SELECT (SELECT min(verdict) FROM messages WHERE verdict > v.x) FROM v WHERE v.x IS NOT NULL) "

static void
day_name(int64_t midnight, char out[16])
{
	time_t t = (time_t)(midnight + LOCAL_OFFSET);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y-%m-%d", &tm);
}

struct json_object *
store_overview(struct store *s, unsigned days, const char *const *accounts, size_t n_accounts,
    struct kerr *err)
{
	struct json_object *out = NULL, *list = NULL, *totals = NULL;
	struct buf sql = BUF_INIT;
	struct binds b = { 0 };
	struct conn *c = NULL;
	sqlite3_stmt *st;
	int64_t today, start, total = 0;
	int rc;

	if (days == 0)
		days = 30;
	if (days > 366)
		days = 366;
	if (accounts != NULL && n_accounts > 64) {
		kerr_set(err, KERR_PERM, "store: too many accounts (%zu, at most 64)", n_accounts);
		return NULL;
	}
	today = local_midnight(now_of(s));
	start = today - (int64_t)(days - 1) * 86400;
	list = json_object_new_array();
	totals = json_object_new_object();
	for (unsigned d = 0; d < days; d++) {
		struct json_object *o = json_object_new_object();
		char name[16];

		day_name(start + (int64_t)d * 86400, name);
		json_object_object_add(o, "day", json_object_new_string(name));
		json_object_object_add(o, "start", json_object_new_int64(start + (int64_t)d * 86400));
		json_object_object_add(o, "total", json_object_new_int(0));
		json_object_array_add(list, o);
	}
	if (accounts != NULL && n_accounts == 0)
		goto done;
	/* Admins: the verdict index covers (verdict, time): one range per
	 * verdict, no row read.  Others: their accounts' (account, time) ranges. */
	if (accounts == NULL) {
		buf_appends(&sql, VERDICTS_CTE "SELECT time, verdict FROM messages INDEXED BY messages_verdict"
		    " WHERE verdict IN (SELECT x FROM v) AND time >= ?");
		bind_i(&b, start);
	} else {
		buf_appends(&sql, "SELECT time, verdict FROM messages INDEXED BY messages_acct WHERE account IN (");
		for (size_t i = 0; i < n_accounts; i++) {
			buf_appends(&sql, i > 0 ? ",?" : "?");
			bind_s(&b, accounts[i]);
		}
		buf_appends(&sql, ") AND time >= ?");
		bind_i(&b, start);
	}
	buf_append(&sql, "", 1);
	c = conn_get(s);
	if ((st = stmt(c, sql.data, err)) == NULL || !bind_all(st, &b, err))
		goto fail;
	/* Rows come grouped by verdict (admins) or account, each newest first:
	 * count runs of (verdict, day) in C rather than a GROUP BY b-tree. */
	{
		int64_t run_day = -1, run_n = 0;
		char run_v[64] = "";

		while ((rc = sqlite3_step(st)) == SQLITE_ROW || run_n > 0) {
			int64_t t = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
			const char *v = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 1) : NULL;
			int64_t day = rc == SQLITE_ROW ? (local_midnight(t) - start) / 86400 : -1;

			if (rc == SQLITE_ROW && v != NULL && day == run_day && strcmp(v, run_v) == 0) {
				run_n++;
				continue;
			}
			if (run_n > 0 && run_day >= 0 && run_day < (int64_t)days && strcmp(run_v, "day") != 0 &&
			    strcmp(run_v, "start") != 0 && strcmp(run_v, "total") != 0) {
				struct json_object *o = json_object_array_get_idx(list, (size_t)run_day);

				add_count(o, run_v, run_n);
				add_count(o, "total", run_n);
				add_count(totals, run_v, run_n);
				total += run_n;
			}
			run_n = 0;
			if (rc != SQLITE_ROW)
				break;
			if (v == NULL || strlen(v) >= sizeof(run_v))
				continue;       /* not a verdict code */
			snprintf(run_v, sizeof(run_v), "%s", v);
			run_day = day;
			run_n = 1;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(err, c->db, rc, "overview");
		goto fail;
	}
done:
	json_object_object_add(totals, "total", json_object_new_int64(total));
	out = json_object_new_object();
	json_object_object_add(out, "days", list);
	json_object_object_add(out, "totals", totals);
	list = totals = NULL;
fail:
	if (c != NULL)
		conn_put(c);
	json_object_put(list);
	json_object_put(totals);
	buf_release(&sql);
	return out;
}

/* Verdicts the agent writes for 'out' rows (logdb.h); every other verdict is
 * an 'in' row's. */
static bool
out_verdict(const char *v)
{
	return strcmp(v, "sent") == 0 || strcmp(v, "pending") == 0 || strcmp(v, "failed") == 0;
}

static bool
metrics_messages(struct conn *c, struct json_object *m, struct kerr *err)
{
	struct json_object *by = json_object_new_object(), *dir = json_object_new_object();
	int64_t n_in = 0, n_out = 0, by_in = 0, by_out = 0;
	sqlite3_stmt *st;
	bool exact = true;
	int rc;

	json_object_object_add(m, "messages", by);
	json_object_object_add(by, "in", json_object_new_object());
	json_object_object_add(by, "out", json_object_new_object());
	json_object_object_add(m, "directions", dir);
	/* Counts per verdict and per direction from the covering indexes. */
	st = stmt(c, VERDICTS_CTE "SELECT x, (SELECT count(*) FROM messages WHERE verdict = v.x)"
	    " FROM v WHERE x IS NOT NULL", err);
	if (st == NULL)
		return false;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		int64_t n = sqlite3_column_int64(st, 1);
		struct json_object *d = NULL;

		json_object_object_get_ex(by, out_verdict(v) ? "out" : "in", &d);
		add_count(d, v, n);
		*(out_verdict(v) ? &by_out : &by_in) += n;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(err, c->db, rc, "metrics");
		return false;
	}
	if (!count_one(c, "SELECT count(*) FROM messages WHERE direction = 'in'", NULL, 0, &n_in, err) ||
	    !count_one(c, "SELECT count(*) FROM messages WHERE direction = 'out'", NULL, 0, &n_out, err))
		return false;
	add_count(dir, "in", n_in);
	add_count(dir, "out", n_out);
	exact = n_in == by_in && n_out == by_out;
	if (!exact) {
		/* Rows that break logdb.h's verdict rule: count them the slow way. */
		json_object_object_add(by, "in", json_object_new_object());
		json_object_object_add(by, "out", json_object_new_object());
		st = stmt(c, "SELECT direction, verdict, count(*) FROM messages GROUP BY 1, 2", err);
		if (st == NULL)
			return false;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(st, 0);
			struct json_object *o = NULL;

			if (!json_object_object_get_ex(by, d, &o)) {
				o = json_object_new_object();
				json_object_object_add(by, d, o);
			}
			add_count(o, (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2));
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			db_error(err, c->db, rc, "metrics");
			return false;
		}
	}
	return true;
}

/* Reason codes of the last 24 hours' rows (all-time would read every
 * non-valid row: ~1 s for a 1,000,000-row log). */
static bool
metrics_reasons(struct conn *c, struct json_object *m, int64_t now, struct kerr *err)
{
	struct json_object *r = json_object_new_object();
	sqlite3_stmt *st;
	int rc;

	json_object_object_add(m, "reasons", r);
	json_object_object_add(m, "reasons_window", json_object_new_int(86400));
	st = stmt(c, "SELECT reasons, count(*) FROM messages INDEXED BY messages_time"
	    " WHERE time >= ? AND reasons != '' GROUP BY 1", err);
	if (st == NULL)
		return false;
	sqlite3_bind_int64(st, 1, now - 86400);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0);
		int64_t n = sqlite3_column_int64(st, 1);

		while (p != NULL && *p != '\0') {
			size_t len;
			char one[64];

			p += strspn(p, " ");
			len = strcspn(p, " ");
			if (len > 0 && len < sizeof(one)) {
				memcpy(one, p, len);
				one[len] = '\0';
				add_count(r, one, n);
			}
			p += len;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(err, c->db, rc, "metrics");
		return false;
	}
	return true;
}

static bool
metrics_journal(struct conn *c, struct json_object *m, struct kerr *err)
{
	bool has = false;
	int64_t n = 0;

	if (!has_table(c, "outgoing", &has, err))
		return false;
	if (!has) {
		json_object_object_add(m, "queue_depth", NULL);
		return true;
	}
	if (!count_one(c, "SELECT count(*) FROM outgoing WHERE state NOT IN (4, 5)", NULL, 0, &n, err))
		return false;
	json_object_object_add(m, "queue_depth", json_object_new_int64(n));
	return true;
}

/* Verification latency of the last 24 hours' incoming messages. */
static bool
metrics_latency(struct conn *c, struct json_object *m, int64_t now, struct kerr *err)
{
	static const int64_t bounds[] = { 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 };
	int64_t counts[sizeof(bounds) / sizeof(bounds[0]) + 1] = { 0 }, sum = 0, total = 0;
	struct json_object *h = json_object_new_object(), *bk = json_object_new_array();
	sqlite3_stmt *st;
	int rc;

	json_object_object_add(m, "verify_ms", h);
	json_object_object_add(h, "window", json_object_new_int(86400));
	json_object_object_add(h, "buckets", bk);
	st = stmt(c, "SELECT verify_ms, count(*) FROM messages INDEXED BY messages_dir"
	    " WHERE direction = 'in' AND time >= ? AND verify_ms IS NOT NULL GROUP BY 1", err);
	if (st == NULL)
		return false;
	sqlite3_bind_int64(st, 1, now - 86400);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t ms = sqlite3_column_int64(st, 0), n = sqlite3_column_int64(st, 1);
		size_t i = 0;

		while (i < sizeof(bounds) / sizeof(bounds[0]) && ms > bounds[i])
			i++;
		counts[i] += n;
		sum += ms * n;
		total += n;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(err, c->db, rc, "metrics");
		return false;
	}
	/* cumulative, as Prometheus wants: le=bound -> count of ms <= bound */
	{
		int64_t cum = 0;

		for (size_t i = 0; i <= sizeof(bounds) / sizeof(bounds[0]); i++) {
			struct json_object *o = json_object_new_object();

			cum += counts[i];
			if (i < sizeof(bounds) / sizeof(bounds[0]))
				json_object_object_add(o, "le", json_object_new_int64(bounds[i]));
			else
				json_object_object_add(o, "le", json_object_new_string("+Inf"));
			json_object_object_add(o, "count", json_object_new_int64(cum));
			json_object_array_add(bk, o);
		}
	}
	json_object_object_add(h, "sum", json_object_new_int64(sum));
	json_object_object_add(h, "count", json_object_new_int64(total));
	return true;
}

static bool
metrics_accounts(struct conn *c, struct json_object *m, struct kerr *err)
{
	struct json_object *a = json_object_new_array();
	sqlite3_stmt *st = stmt(c, "SELECT account, state, since, backlog FROM account_status ORDER BY account", err);
	int rc;

	json_object_object_add(m, "accounts", a);
	if (st == NULL)
		return false;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "account", col_json(st, 0));
		json_object_object_add(o, "state", col_json(st, 1));
		json_object_object_add(o, "since", col_json(st, 2));
		json_object_object_add(o, "backlog", col_json(st, 3));
		json_object_array_add(a, o);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(err, c->db, rc, "metrics");
		return false;
	}
	return true;
}

struct json_object *
store_metrics(struct store *s, struct kerr *err)
{
	int64_t now = (int64_t)time(NULL);
	struct json_object *m = NULL;
	struct conn *c;

	pthread_mutex_lock(&s->mlock);
	if (s->metrics != NULL && now - s->metrics_at < METRICS_TTL && now >= s->metrics_at) {
		m = json_object_get(s->metrics);
		pthread_mutex_unlock(&s->mlock);
		return m;
	}
	c = conn_get(s);
	m = json_object_new_object();
	if (!metrics_messages(c, m, err) || !metrics_reasons(c, m, now_of(s), err) || !metrics_journal(c, m, err) ||
	    !metrics_latency(c, m, now_of(s), err) || !metrics_accounts(c, m, err)) {
		json_object_put(m);
		m = NULL;
	} else {
		json_object_object_add(m, "at", json_object_new_int64(now));
		json_object_put(s->metrics);
		s->metrics = json_object_get(m);
		s->metrics_at = now;
	}
	conn_put(c);
	pthread_mutex_unlock(&s->mlock);
	return m;
}
