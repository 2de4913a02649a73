/*
 * Unit tests of webui/store.c over a log filled by tests/webui/logfill (the
 * logdb.h schema, 3,000 random rows + a few exact ones).  Expected answers
 * come from plain SQL over the same file (or C over every row), never from
 * store.c itself.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "smime/base.h"
#include "tests/unit/testmain.h"
#include "tests/webui/logfill.h"
#include "webui/fold.h"
#include "webui/store.h"

#define NOW 1795921200          /* 2026-11-29 10:00 +07 */
#define MIDNIGHT 1795885200     /* 2026-11-29 00:00 +07 */
#define ROWS 3000

static char dir[] = "/tmp/kyso-store-XXXXXX";
static char path[128], path_nojournal[128];
static int64_t id_ngan, id_ngan_nfd, id_yte, id_out_nojournal;
static int64_t id_edge[4];             /* at MIDNIGHT-1, MIDNIGHT, MIDNIGHT+86399, MIDNIGHT+86400 */

static void
fill(const char *p, bool journal)
{
	struct logfill f;
	struct logfill_opts o = { .rows = ROWS, .seed = 7, .now = NOW, .days = 10, .hostile = true };
	struct logfill_row r = {
		.time = NOW - 3600, .direction = "in", .account = "vanthu", .address = "vanthu@benluc.longan.gov.vn",
		.folder = "INBOX", .uidvalidity = 1, .uid = 900001, .message_id = "<ngan@stc.longan.gov.vn>",
		.from_addr = "ngan.tran@stc.longan.gov.vn", .from_name = "Trần Kim Ngân",
		.to_addrs = "vanthu@benluc.longan.gov.vn",
		.subject = "Công văn số 123/UBND-VP về việc triển khai chữ ký số",
		.verdict = "valid", .reasons = "", .signer = "CN=Trần Kim Ngân,O=Sở Tài chính tỉnh Long An,C=VN",
		.signer_email = "ngan.tran@stc.longan.gov.vn", .attachments = "CV-123.pdf", .n_attachments = 1,
		.size = 12345, .verify_ms = 12, .n_evidence = 3,
	};

	ck_assert_msg(logfill_open(&f, p, journal), "%s", f.err);
	ck_assert_msg(logfill_random(&f, &o), "%s", f.err);
	ck_assert_msg(logfill_row(&f, &r, &id_ngan), "%s", f.err);
	/* the same name decomposed (NFD), in another account */
	r.from_name = "Tra\xcc\x80\xcc\x82n Kim Nga\xcc\x82n";
	r.account = "yte", r.address = "trungtamyte@benluc.longan.gov.vn", r.uid = 900002;
	r.time = NOW - 7200, r.n_evidence = 0;
	ck_assert_msg(logfill_row(&f, &r, &id_ngan_nfd), "%s", f.err);
	id_yte = id_ngan_nfd;
	/* rows on the edges of today (local time) */
	{
		const int64_t at[4] = { MIDNIGHT - 1, MIDNIGHT, MIDNIGHT + 86399, MIDNIGHT + 86400 };

		for (int i = 0; i < 4; i++) {
			struct logfill_row e = r;

			e.time = at[i];
			e.uid = 900010 + i;
			e.account = "tuphap";
			e.from_name = "Biên Giới";
			e.subject = "ranh gioi ngay";
			e.signer = NULL;
			e.verdict = "unsigned";
			ck_assert_msg(logfill_row(&f, &e, &id_edge[i]), "%s", f.err);
		}
	}
	/* old rows logged late (a clock set back, a re-verification): their ids
	 * are the newest, their times are not */
	for (int i = 0; i < 20; i++) {
		struct logfill_row e = r;

		e.time = NOW - 8 * 86400 + i * 600;
		e.uid = 900100 + i;
		e.from_name = "Trần Văn Cũ";
		e.subject = "Công văn số 9/UBND-VP về việc gửi lại";
		e.account = i % 2 ? "ketoan" : "vanthu";
		ck_assert_msg(logfill_row(&f, &e, NULL), "%s", f.err);
	}
	if (!journal) {
		struct logfill_row e = r;

		e.direction = "out", e.verdict = "sent", e.journal_id = 77, e.uid = 900020;
		ck_assert_msg(logfill_row(&f, &e, &id_out_nojournal), "%s", f.err);
	}
	logfill_close(&f);
}

static void
setup_once(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/kyso.db", dir);
	snprintf(path_nojournal, sizeof(path_nojournal), "%s/logonly.db", dir);
	fill(path, true);
	fill(path_nojournal, false);
}

static void
teardown_once(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct store *
open_store(const char *p)
{
	struct kerr e = KERR_INIT;
	struct store *s = store_open(p, &e);

	ck_assert_msg(s != NULL, "%s", e.msg);
	store_set_now(s, NOW);
	return s;
}

/* ---- the oracle: plain SQL ---- */

static int64_t
sql_int(const char *sql, ...)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v;
	va_list ap;
	char *q;

	va_start(ap, sql);
	q = sqlite3_vmprintf(sql, ap);
	va_end(ap);
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_msg(sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK, "%s: %s", q, sqlite3_errmsg(db));
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	sqlite3_free(q);
	return v;
}

/* ---- walking pages ---- */

static int64_t
jint(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(o, k, &v), "no %s", k);
	return json_object_get_int64(v);
}

static const char *
jstr(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(o, k, &v), "no %s", k);
	return json_object_get_string(v);
}

/* Walk every page of f; check order (time, id) strictly decreasing across
 * all pages (so pages are disjoint); returns the row count; calls check on
 * each row. */
static size_t
walk(struct store *s, struct store_filter f, void (*check)(struct json_object *row, void *ctx), void *ctx,
    size_t *pages_r)
{
	int64_t last_t = INT64_MAX, last_id = INT64_MAX;
	size_t n = 0, pages = 0;
	unsigned limit = f.limit == 0 ? 50 : f.limit > 500 ? 500 : f.limit;

	f.before_time = f.before_id = 0;
	for (;;) {
		struct kerr e = KERR_INIT;
		struct json_object *page = store_list(s, &f, &e), *rows = NULL, *next = NULL;
		size_t len;

		ck_assert_msg(page != NULL, "%s", e.msg);
		pages++;
		ck_assert(json_object_object_get_ex(page, "rows", &rows));
		ck_assert(json_object_object_get_ex(page, "next", &next));
		len = json_object_array_length(rows);
		ck_assert_uint_le(len, limit);
		for (size_t i = 0; i < len; i++) {
			struct json_object *r = json_object_array_get_idx(rows, i);
			int64_t t = jint(r, "time"), id = jint(r, "id");

			ck_assert_msg(t < last_t || (t == last_t && id < last_id),
			    "row %" PRId64 "@%" PRId64 " after %" PRId64 "@%" PRId64, id, t, last_id, last_t);
			last_t = t, last_id = id;
			if (check != NULL)
				check(r, ctx);
			n++;
		}
		if (next == NULL) {
			json_object_put(page);
			break;
		}
		ck_assert_uint_eq(len, limit);  /* a "next" only after a full page */
		f.before_time = jint(next, "time");
		f.before_id = jint(next, "id");
		ck_assert(f.before_time == last_t && f.before_id == last_id);
		json_object_put(page);
		ck_assert_uint_lt(pages, 100000);
	}
	if (pages_r != NULL)
		*pages_r = pages;
	return n;
}

/* ---- tests ---- */

START_TEST(newest_first)
{
	struct store *s = open_store(path);
	struct store_filter f = { .limit = 10 };
	struct kerr e = KERR_INIT;
	struct json_object *page = store_list(s, &f, &e), *rows = NULL, *r;
	int64_t top = sql_int("SELECT id FROM messages ORDER BY time DESC, id DESC LIMIT 1");

	ck_assert_msg(page != NULL, "%s", e.msg);
	json_object_object_get_ex(page, "rows", &rows);
	ck_assert_uint_eq(json_object_array_length(rows), 10);
	r = json_object_array_get_idx(rows, 0);
	ck_assert_int_eq(jint(r, "id"), top);
	ck_assert_int_eq(jint(r, "time"), sql_int("SELECT max(time) FROM messages"));
	/* the row's fields */
	ck_assert_str_eq(jstr(r, "verdict"), "unsigned");      /* MIDNIGHT+86400 edge row is the newest */
	{
		struct json_object *reasons = NULL;

		ck_assert(json_object_object_get_ex(r, "reasons", &reasons));
		ck_assert(json_object_is_type(reasons, json_type_array));
	}
	json_object_put(page);
	store_close(&s);
	store_close(&s);        /* accepts NULL */
}
END_TEST

START_TEST(keyset_complete)
{
	struct store *s = open_store(path);
	int64_t total = sql_int("SELECT count(*) FROM messages");
	static const unsigned limits[] = { 1, 7, 50, 0, 500, 100000 };

	ck_assert_int_gt(sql_int("SELECT count(*) FROM (SELECT time FROM messages GROUP BY time HAVING count(*) > 1)"), 10);
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		struct store_filter f = { .limit = limits[i] };
		size_t pages = 0;

		ck_assert_int_eq((int64_t)walk(s, f, NULL, NULL, &pages), total);
		if (limits[i] == 7)
			ck_assert_uint_eq(pages, (size_t)(total + 6) / 7);
	}
	store_close(&s);
}
END_TEST

struct expect {
	const struct store_filter *f;
	size_t n;
};

static void
check_filter(struct json_object *r, void *ctx)
{
	const struct store_filter *f = ((struct expect *)ctx)->f;

	if (f->direction != NULL)
		ck_assert_str_eq(jstr(r, "direction"), f->direction);
	if (f->verdict != NULL)
		ck_assert_str_eq(jstr(r, "verdict"), f->verdict);
	if (f->att_verdict != NULL && strcmp(f->att_verdict, "any") == 0)
		ck_assert_ptr_nonnull(jstr(r, "att_verdict"));
	else if (f->att_verdict != NULL)
		ck_assert_str_eq(jstr(r, "att_verdict"), f->att_verdict);
	if (f->account != NULL)
		ck_assert_str_eq(jstr(r, "account"), f->account);
	if (f->from_time != 0)
		ck_assert_int_ge(jint(r, "time"), f->from_time);
	if (f->to_time != 0)
		ck_assert_int_lt(jint(r, "time"), f->to_time);
	if (f->accounts != NULL) {
		bool in = false;

		for (size_t i = 0; i < f->n_accounts; i++)
			in = in || strcmp(f->accounts[i], jstr(r, "account")) == 0;
		ck_assert_msg(in, "account %s not allowed", jstr(r, "account"));
	}
	((struct expect *)ctx)->n++;
}

/* The same filter as SQL for the oracle. */
static void
cat(char *where, size_t size, const char *fmt, ...)
{
	size_t n = strlen(where);
	va_list ap;
	char *add;

	va_start(ap, fmt);
	add = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	ck_assert_uint_lt(n + strlen(add), size);
	strcpy(where + n, add);
	sqlite3_free(add);
}

static int64_t
oracle_count(const struct store_filter *f)
{
	char where[1024] = "1";

	if (f->direction != NULL)
		cat(where, sizeof(where), " AND direction = %Q", f->direction);
	if (f->verdict != NULL)
		cat(where, sizeof(where), " AND verdict = %Q", f->verdict);
	if (f->att_verdict != NULL && strcmp(f->att_verdict, "any") == 0)
		cat(where, sizeof(where), " AND att_verdict IS NOT NULL");
	else if (f->att_verdict != NULL)
		cat(where, sizeof(where), " AND att_verdict = %Q", f->att_verdict);
	if (f->account != NULL)
		cat(where, sizeof(where), " AND account = %Q", f->account);
	if (f->from_time != 0)
		cat(where, sizeof(where), " AND time >= %lld", (long long)f->from_time);
	if (f->to_time != 0)
		cat(where, sizeof(where), " AND time < %lld", (long long)f->to_time);
	if (f->accounts != NULL) {
		cat(where, sizeof(where), " AND account IN (''");
		for (size_t i = 0; i < f->n_accounts; i++)
			cat(where, sizeof(where), ",%Q", f->accounts[i]);
		cat(where, sizeof(where), ")");
	}
	return sql_int("SELECT count(*) FROM messages WHERE %s", where);
}

START_TEST(every_filter)
{
	static const char *const ketoan[] = { "ketoan" };
	static const char *const two[] = { "ketoan", "yte" };
	const struct store_filter filters[] = {
		{ .direction = "in" },
		{ .direction = "out" },
		{ .verdict = "valid" },
		{ .verdict = "invalid", .limit = 13 },
		{ .verdict = "sent" },
		{ .verdict = "nosuchverdict" },
		{ .account = "ketoan" },
		{ .account = "yte", .verdict = "indeterminate" },
		{ .account = "nobody" },
		{ .from_time = NOW - 3 * 86400, .to_time = NOW - 86400 },
		{ .from_time = NOW - 3 * 86400 },
		{ .to_time = NOW - 5 * 86400, .limit = 100 },
		{ .direction = "out", .verdict = "failed", .from_time = NOW - 9 * 86400 },
		{ .accounts = ketoan, .n_accounts = 1 },
		{ .accounts = two, .n_accounts = 2, .verdict = "valid", .limit = 20 },
		{ .accounts = two, .n_accounts = 2, .direction = "out", .from_time = NOW - 4 * 86400,
		  .to_time = NOW - 2 * 86400 },
		/* signed attachments (messages.att_verdict) */
		{ .att_verdict = "any" },
		{ .att_verdict = "valid", .limit = 100 },
		{ .att_verdict = "invalid", .direction = "in" },
		{ .att_verdict = "partial" },
		{ .att_verdict = "indeterminate", .from_time = NOW - 6 * 86400 },
		{ .att_verdict = "any", .verdict = "unsigned", .limit = 7 },
		{ .att_verdict = "valid", .accounts = two, .n_accounts = 2 },
	};

	struct store *s = open_store(path);

	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		struct expect x = { &filters[i], 0 };
		int64_t want = oracle_count(&filters[i]);

		ck_assert_msg((int64_t)walk(s, filters[i], check_filter, &x, NULL) == want,
		    "filter %zu: %zu rows, want %" PRId64, i, x.n, want);
		if (i != 5 && i != 8)
			ck_assert_msg(want > 0, "filter %zu matches nothing: a weak test", i);
	}
	store_close(&s);
}
END_TEST

/* Each filter reads the index whose order is the page order: no sort, no
 * table scan, whatever the log's size. */
START_TEST(query_plans_use_indexes)
{
	static const char *const ketoan[] = { "ketoan" };
	const struct {
		struct store_filter f;
		const char *index;
	} cases[] = {
		{ { 0 }, "messages_time" },
		{ { .before_time = NOW, .before_id = 10 }, "messages_time" },
		{ { .verdict = "invalid", .before_time = NOW, .before_id = 10 }, "messages_verdict" },
		{ { .account = "ketoan" }, "messages_acct" },
		{ { .accounts = ketoan, .n_accounts = 1 }, "messages_acct" },
		{ { .direction = "out", .before_time = NOW, .before_id = 10 }, "messages_dir" },
		{ { .from_time = NOW - 86400, .to_time = NOW }, "messages_time" },
		{ { .account = "ketoan", .from_time = NOW - 86400, .to_time = NOW }, "messages_acct" },
		/* the attachment filter: its partial indexes */
		{ { .att_verdict = "valid" }, "messages_att (" },
		{ { .att_verdict = "partial", .before_time = NOW, .before_id = 10 }, "messages_att (" },
		{ { .att_verdict = "any" }, "messages_att_any" },
		{ { .att_verdict = "any", .before_time = NOW, .before_id = 10 }, "messages_att_any" },
		{ { .att_verdict = "invalid", .verdict = "unsigned" }, "messages_" },
		{ { .att_verdict = "partial", .account = "ketoan" }, "messages_" },
	};
	struct store *s = open_store(path);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kerr e = KERR_INIT;
		char *plan = store_list_plan(s, &cases[i].f, &e);

		ck_assert_msg(plan != NULL, "%s", e.msg);
		ck_assert_msg(strstr(plan, cases[i].index) != NULL && strstr(plan, "TEMP B-TREE") == NULL &&
		    strstr(plan, "SCAN m\n") == NULL, "case %zu: %s", i, plan);
		free(plan);
	}
	store_close(&s);
}
END_TEST

START_TEST(date_range_local_days)
{
	struct store *s = open_store(path);
	struct store_filter today = { .from_time = store_local_midnight(NOW), .to_time = store_local_midnight(NOW) + 86400,
				      .account = "tuphap", .q = "ranh gioi" };
	struct kerr e = KERR_INIT;
	struct json_object *page, *rows = NULL;

	ck_assert_int_eq(store_local_midnight(NOW), MIDNIGHT);
	ck_assert_int_eq(store_local_midnight(MIDNIGHT), MIDNIGHT);
	ck_assert_int_eq(store_local_midnight(MIDNIGHT - 1), MIDNIGHT - 86400);
	ck_assert_int_eq(store_local_midnight(MIDNIGHT + 86399), MIDNIGHT);
	ck_assert_int_eq(store_local_midnight(0), -7 * 3600);       /* 1970-01-01 00:00 +07 */
	ck_assert_int_eq(store_local_midnight(-1), -7 * 3600);
	ck_assert_int_eq(store_local_midnight(-7 * 3600 - 1), -7 * 3600 - 86400);
	page = store_list(s, &today, &e);
	ck_assert_msg(page != NULL, "%s", e.msg);
	json_object_object_get_ex(page, "rows", &rows);
	/* MIDNIGHT and MIDNIGHT+86399 are today; MIDNIGHT-1 and +86400 are not */
	ck_assert_uint_eq(json_object_array_length(rows), 2);
	ck_assert_int_eq(jint(json_object_array_get_idx(rows, 0), "id"), id_edge[2]);
	ck_assert_int_eq(jint(json_object_array_get_idx(rows, 1), "id"), id_edge[1]);
	json_object_put(page);
	/* an empty or reversed range matches nothing */
	today.from_time = today.to_time;
	page = store_list(s, &today, &e);
	ck_assert_ptr_nonnull(page);
	json_object_object_get_ex(page, "rows", &rows);
	ck_assert_uint_eq(json_object_array_length(rows), 0);
	json_object_put(page);
	store_close(&s);
}
END_TEST

/* Oracle for search: every folded query word is a prefix of a word of the
 * row's search column (a one-letter word: equal to a word). */
static bool
search_matches(const char *search, const char *q)
{
	char *fq = webui_fold(q), *fs = webui_fold(search);
	bool all = *fq != '\0';

	for (char *w = strtok(fq, " "); w != NULL && all; w = strtok(NULL, " ")) {
		size_t wl = strlen(w);
		bool found = false;

		for (const char *p = fs; *p != '\0' && !found;) {
			size_t n = strcspn(p, " ");

			found = wl == 1 ? (n == 1 && p[0] == w[0]) : (n >= wl && strncmp(p, w, wl) == 0);
			p += n;
			p += strspn(p, " ");
		}
		all = found;
	}
	free(fq);
	free(fs);
	return all;
}

static size_t
oracle_search(const char *q, const char *account)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	size_t n = 0;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT search, account FROM messages", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		if (search_matches((const char *)sqlite3_column_text(st, 0), q) &&
		    (account == NULL || strcmp(account, (const char *)sqlite3_column_text(st, 1)) == 0))
			n++;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

struct found {
	int64_t want[2];
	bool seen[2];
	const char *q;
	size_t n;
};

static void
check_found(struct json_object *r, void *ctx)
{
	struct found *x = ctx;

	for (int i = 0; i < 2; i++)
		if (jint(r, "id") == x->want[i])
			x->seen[i] = true;
	x->n++;
}

START_TEST(search_without_accents)
{
	static const char *const queries[] = {
		"tran kim ngan", "TRAN", "ngâ", "Trần Kim Ngân", "Tra\xcc\x80\xcc\x82n  kim", "  tran\tkim ngan  ",
		"ngan.tran@stc", "cv 123", "Công văn 123/UBND-VP", "ki", "n",
	};
	struct store *s = open_store(path);

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct found x = { { id_ngan, id_ngan_nfd }, { false, false }, queries[i], 0 };
		struct store_filter f = { .q = queries[i], .limit = 100 };
		size_t want = oracle_search(queries[i], NULL);

		ck_assert_uint_eq(walk(s, f, check_found, &x, NULL), want);
		ck_assert_uint_lt(want, ROWS);
		if (i < 9)
			ck_assert_msg(x.seen[0] && x.seen[1], "\"%s\" does not find Trần Kim Ngân (%d %d)", queries[i],
			    x.seen[0], x.seen[1]);
	}
	/* combined with the other filters */
	{
		struct found x = { { id_ngan, id_ngan_nfd }, { false, false }, "tran", 0 };
		struct store_filter f = { .q = "tran", .account = "yte", .limit = 5 };

		ck_assert_uint_eq(walk(s, f, check_found, &x, NULL), oracle_search("tran", "yte"));
		ck_assert(!x.seen[0] && x.seen[1]);
	}
	store_close(&s);
}
END_TEST

/* The plans for many matches (newest candidates, checked; or the time
 * index walk) give the same pages as the oracle, ids out of time order
 * included. */
START_TEST(search_many_matches)
{
	static const char *const queries[] = { "tran", "cong van", "ubnd", "tran van cu", "nguyen", "so" };
	static const unsigned limits[] = { 1, 3, 7, 50, 500 };
	static const unsigned few[] = { 1, 5, 40, 300 };
	static const char *const ketoan[] = { "ketoan" };
	struct store *s = open_store(path);

	for (size_t k = 0; k < sizeof(few) / sizeof(few[0]); k++) {
		store_set_search_few(s, few[k]);
		for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
			size_t want = oracle_search(queries[i], NULL);

			for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
				struct store_filter f = { .q = queries[i], .limit = limits[l] };

				if (limits[l] < 7 && want > 300)
					continue;       /* thousands of pages: slow, and said by the others */
				ck_assert_msg(walk(s, f, NULL, NULL, NULL) == want, "\"%s\" few %u limit %u", queries[i],
				    few[k], limits[l]);
			}
			{
				struct store_filter f = { .q = queries[i], .limit = 9, .accounts = ketoan, .n_accounts = 1,
							  .verdict = "valid" };
				struct expect x = { &f, 0 };
				size_t n = walk(s, f, check_filter, &x, NULL);
				char *fq = store_fts_query(queries[i]);

				ck_assert_int_eq((int64_t)n, sql_int("SELECT count(*) FROM messages WHERE account = 'ketoan'"
				    " AND verdict = 'valid' AND id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH %Q)",
				    fq));
				free(fq);
			}
		}
	}
	store_close(&s);
}
END_TEST

START_TEST(search_syntax_is_inert)
{
	static const char *const hostile[] = {
		"\"", "*", "AND", "NEAR(", "-", ":", "\"tran", "tran\"*", "OR", "NOT tran", "tran OR kim",
		"search:tran", "^tran", "(", ")", "{search}:x", "tran AND", "'", "';DROP TABLE messages;--",
		"%", "_", "\\", "NEAR(tran kim, 5)", "tran*", "\"\"", "***", "a\xff\xfe", "\xe2\x80\x8b",
		"<script>", "=HYPERLINK(", "tran -kim", "+", "rowid", "messages_fts MATCH", "1=1",
	};
	struct store *s = open_store(path);
	int64_t total = sql_int("SELECT count(*) FROM messages");

	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		struct store_filter f = { .q = hostile[i], .limit = 500 };
		size_t n = walk(s, f, NULL, NULL, NULL);
		char *fq = store_fts_query(hostile[i]);

		ck_assert_msg((int64_t)n < total, "\"%s\" matches everything", hostile[i]);
		ck_assert_uint_eq(n, oracle_search(hostile[i], NULL));
		/* the FTS expression: only quoted [a-z0-9] words, '*' and AND */
		if (fq != NULL) {
			for (const char *p = fq; *p != '\0'; p++)
				ck_assert_msg((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '"' ||
				    *p == '*' || *p == ' ' || *p == 'A' || *p == 'N' || *p == 'D', "%s -> %s", hostile[i], fq);
			free(fq);
		}
	}
	{
		char *fq = store_fts_query("tran kim ng");

		ck_assert_str_eq(fq, "\"tran\"* AND \"kim\"* AND \"ng\"*");
		free(fq);
		ck_assert_ptr_null(store_fts_query("  -*: "));
		ck_assert_ptr_null(store_fts_query(NULL));
	}
	/* the table is still there and whole */
	ck_assert_int_eq(sql_int("SELECT count(*) FROM messages"), total);
	store_close(&s);
}
END_TEST

START_TEST(nonadmin_restriction)
{
	static const char *const ketoan[] = { "ketoan" };
	static const char *const none[] = { "x" };
	struct store *s = open_store(path);
	struct kerr e = KERR_INIT;

	/* the filter box cannot widen the restriction */
	{
		struct store_filter f = { .accounts = ketoan, .n_accounts = 1, .account = "yte" };

		ck_assert_uint_eq(walk(s, f, NULL, NULL, NULL), 0);
		f.account = "ketoan";
		ck_assert_int_eq((int64_t)walk(s, f, NULL, NULL, NULL), sql_int("SELECT count(*) FROM messages WHERE account = 'ketoan'"));
		f.account = NULL;
		f.q = "tran kim ngan";  /* Ngân's rows are vanthu's and yte's */
		ck_assert_uint_eq(walk(s, f, NULL, NULL, NULL), oracle_search("tran kim ngan", "ketoan"));
	}
	/* an empty list sees nothing (not everything) */
	{
		struct store_filter f = { .accounts = none, .n_accounts = 0 };

		ck_assert_uint_eq(walk(s, f, NULL, NULL, NULL), 0);
	}
	/* messages of other accounts: as if they did not exist */
	{
		struct json_object *m = store_message(s, id_yte, ketoan, 1, &e);

		ck_assert_ptr_null(m);
		ck_assert_int_eq(e.cls, KERR_PERM);
		kerr_clear(&e);
		m = store_message(s, id_yte, NULL, 0, &e);
		ck_assert_msg(m != NULL, "%s", e.msg);
		json_object_put(m);
		m = store_message(s, 999999999, NULL, 0, &e);
		ck_assert_ptr_null(m);
		ck_assert_int_eq(e.cls, KERR_PERM);
	}
	/* overview and accounts are restricted too */
	{
		struct json_object *a = store_accounts(s, ketoan, 1, &e), *list = NULL;

		ck_assert_msg(a != NULL, "%s", e.msg);
		json_object_object_get_ex(a, "accounts", &list);
		ck_assert_uint_eq(json_object_array_length(list), 1);
		ck_assert_str_eq(jstr(json_object_array_get_idx(list, 0), "account"), "ketoan");
		json_object_put(a);
	}
	store_close(&s);
}
END_TEST

START_TEST(message_detail)
{
	struct store *s = open_store(path);
	struct kerr e = KERR_INIT;
	struct json_object *m = store_message(s, id_ngan, NULL, 0, &e), *rep = NULL, *ev = NULL, *steps = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	size_t i = 0;

	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert_str_eq(jstr(m, "from_name"), "Trần Kim Ngân");
	ck_assert(json_object_object_get_ex(m, "report", &rep));
	ck_assert(json_object_is_type(rep, json_type_object));
	ck_assert_str_eq(jstr(rep, "verdict"), "valid");
	ck_assert(json_object_object_get_ex(m, "evidence", &ev));
	ck_assert_uint_eq(json_object_array_length(ev), 3);
	ck_assert(json_object_object_get_ex(m, "steps", &steps));
	ck_assert_uint_eq(json_object_array_length(steps), 0);
	/* sizes and hashes against the blobs themselves */
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT data FROM evidence WHERE message = ? ORDER BY rowid", -1,
	    &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, id_ngan);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct json_object *o = json_object_array_get_idx(ev, i++);
		unsigned char md[32];
		unsigned int mdlen = 0;
		char hex[65];

		ck_assert(EVP_Digest(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), md, &mdlen,
		    EVP_sha256(), NULL) == 1);
		for (unsigned k = 0; k < 32; k++)
			snprintf(hex + 2 * k, 3, "%02x", md[k]);
		ck_assert_str_eq(jstr(o, "sha256"), hex);
		ck_assert_int_eq(jint(o, "size"), sqlite3_column_bytes(st, 0));
		ck_assert_str_eq(jstr(o, "kind"), i < 3 ? "certificate" : "crl");
	}
	ck_assert_uint_eq(i, 3);
	sqlite3_finalize(st);
	json_object_put(m);
	/* an outgoing message: its journal steps */
	{
		int64_t id = sql_int("SELECT id FROM messages WHERE direction = 'out' AND verdict = 'sent'"
		    " ORDER BY id DESC LIMIT 1");
		int64_t jid = sql_int("SELECT journal_id FROM messages WHERE id = %lld", (long long)id);
		struct json_object *j = NULL;

		m = store_message(s, id, NULL, 0, &e);
		ck_assert_msg(m != NULL, "%s", e.msg);
		ck_assert(json_object_object_get_ex(m, "steps", &steps));
		ck_assert_int_eq((int64_t)json_object_array_length(steps),
		    sql_int("SELECT count(*) FROM steps WHERE outgoing = %lld", (long long)jid));
		ck_assert_str_eq(jstr(json_object_array_get_idx(steps, 0), "state"), "queued");
		ck_assert_str_eq(jstr(json_object_array_get_idx(steps, json_object_array_length(steps) - 1), "state"),
		    "done");
		ck_assert(json_object_object_get_ex(m, "journal", &j));
		ck_assert_str_eq(jstr(j, "state"), "done");
		json_object_put(m);
	}
	sqlite3_close(db);
	store_close(&s);
}
END_TEST

static void
att_check(struct json_object *r, void *ctx)
{
	struct json_object *v = NULL;
	int64_t id = jint(r, "id");
	int64_t want = sql_int("SELECT att_verdict IS NOT NULL FROM messages WHERE id = %lld", (long long)id);

	ck_assert_msg(json_object_object_get_ex(r, "att_verdict", &v), "row %lld: no att_verdict", (long long)id);
	if (want) {
		ck_assert_int_eq(sql_int("SELECT att_verdict = %Q FROM messages WHERE id = %lld",
		    json_object_get_string(v), (long long)id), 1);
		(*(size_t *)ctx)++;
	} else {
		ck_assert_msg(v == NULL, "row %lld: att_verdict %s, want null", (long long)id, json_object_get_string(v));
	}
}

/* Rows and the message carry att_verdict (NULL when no attachment is
 * signed), the same as the column. */
START_TEST(attachment_verdicts)
{
	struct store *s = open_store(path);
	struct kerr e = KERR_INIT;
	struct json_object *m, *v = NULL;
	struct store_filter f = { .limit = 500 };
	size_t n_att = 0;

	/* id_ngan: a signed mail with a PDF signed as the message is */
	m = store_message(s, id_ngan, NULL, 0, &e);
	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert_str_eq(jstr(m, "att_verdict"), "valid");
	json_object_put(m);
	/* an unsigned row whose PDF is not signed either: null */
	m = store_message(s, id_edge[0], NULL, 0, &e);
	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert(json_object_object_get_ex(m, "att_verdict", &v));
	ck_assert_ptr_null(v);
	json_object_put(m);
	/* every listed row as the column says */
	ck_assert_uint_eq(walk(s, f, att_check, &n_att, NULL),
	    (size_t)sql_int("SELECT count(*) FROM messages"));
	ck_assert_int_eq((int64_t)n_att, sql_int("SELECT count(*) FROM messages WHERE att_verdict IS NOT NULL"));
	ck_assert_int_gt((int64_t)n_att, 0);
	/* the realistic case is there: unsigned mail, valid PDF */
	ck_assert_int_gt(sql_int("SELECT count(*) FROM messages WHERE verdict = 'unsigned' AND att_verdict = 'valid'"), 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM messages WHERE direction = 'out' AND att_verdict IS NOT NULL"), 0);
	store_close(&s);
}
END_TEST

/* A log an earlier agent made, not yet opened by this one (no att_verdict
 * column): read as before, no attachment verdicts, the filter finds none. */
START_TEST(log_without_att_column)
{
	char p[160];
	struct logfill f;
	struct logfill_row r = {
		.time = NOW - 60, .direction = "in", .account = "vanthu", .address = "vanthu@benluc.longan.gov.vn",
		.folder = "INBOX", .uidvalidity = 1, .uid = 1, .from_addr = "a@b.vn", .subject = "Cũ",
		.verdict = "unsigned", .reasons = "", .attachments = "QD-1.pdf", .n_attachments = 1,
		.att_verdict = "valid",
	};
	sqlite3 *db = NULL;
	struct store *s;
	struct kerr e = KERR_INIT;
	struct json_object *page, *rows = NULL, *v = NULL;
	int64_t id = 0;

	snprintf(p, sizeof(p), "%s/old.db", dir);
	ck_assert_msg(logfill_open(&f, p, false), "%s", f.err);
	ck_assert_msg(logfill_row(&f, &r, &id), "%s", f.err);
	logfill_close(&f);
	ck_assert_int_eq(sqlite3_open(p, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, "DROP INDEX messages_att; DROP INDEX messages_att_any;"
	    " ALTER TABLE messages DROP COLUMN att_verdict", NULL, NULL, NULL) == SQLITE_OK,
	    "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	s = store_open(p, &e);
	ck_assert_msg(s != NULL, "%s", e.msg);
	{
		struct store_filter all = { 0 }, att = { .att_verdict = "any" };

		page = store_list(s, &all, &e);
		ck_assert_msg(page != NULL, "%s", e.msg);
		ck_assert(json_object_object_get_ex(page, "rows", &rows));
		ck_assert_uint_eq(json_object_array_length(rows), 1);
		ck_assert(json_object_object_get_ex(json_object_array_get_idx(rows, 0), "att_verdict", &v));
		ck_assert_ptr_null(v);
		json_object_put(page);
		page = store_list(s, &att, &e);
		ck_assert_msg(page != NULL, "%s", e.msg);
		ck_assert(json_object_object_get_ex(page, "rows", &rows));
		ck_assert_uint_eq(json_object_array_length(rows), 0);
		json_object_put(page);
	}
	page = store_message(s, id, NULL, 0, &e);
	ck_assert_msg(page != NULL, "%s", e.msg);
	ck_assert_str_eq(jstr(page, "subject"), "Cũ");
	ck_assert(json_object_object_get_ex(page, "att_verdict", &v));
	ck_assert_ptr_null(v);
	json_object_put(page);
	store_close(&s);
}
END_TEST

START_TEST(open_errors)
{
	struct kerr e = KERR_INIT;
	char p[160];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/missing.db", dir);
	ck_assert_ptr_null(store_open(p, &e));
	ck_assert_int_eq(e.cls, KERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(e.msg, "missing.db"));
	kerr_clear(&e);
	ck_assert_ptr_null(store_open(NULL, &e));
	ck_assert_int_eq(e.cls, KERR_CONFIG);
	kerr_clear(&e);
	ck_assert_ptr_null(store_open(dir, &e));       /* a folder */
	ck_assert_int_eq(e.cls, KERR_CONFIG);
	kerr_clear(&e);
	snprintf(p, sizeof(p), "%s/text.db", dir);
	fp = fopen(p, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("this is not a database, just some text that is long enough to have a header........\n", fp);
	fclose(fp);
	ck_assert_ptr_null(store_open(p, &e));
	ck_assert_int_eq(e.cls, KERR_CONFIG);
	kerr_clear(&e);
	/* a SQLite database without the log's tables */
	{
		sqlite3 *db = NULL;

		snprintf(p, sizeof(p), "%s/other.db", dir);
		ck_assert_int_eq(sqlite3_open(p, &db), SQLITE_OK);
		ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		ck_assert_ptr_null(store_open(p, &e));
		ck_assert_int_eq(e.cls, KERR_CONFIG);
		ck_assert_ptr_nonnull(strstr(e.msg, "not a kyso log"));
	}
}
END_TEST

START_TEST(log_only_database)
{
	struct store *s = open_store(path_nojournal);
	struct kerr e = KERR_INIT;
	struct json_object *m = store_message(s, id_out_nojournal, NULL, 0, &e), *steps = NULL, *q = NULL;

	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert_int_eq(jint(m, "journal_id"), 77);
	ck_assert(json_object_object_get_ex(m, "steps", &steps));
	ck_assert_uint_eq(json_object_array_length(steps), 0);
	ck_assert(!json_object_object_get_ex(m, "journal", NULL));
	json_object_put(m);
	m = store_metrics(s, &e);
	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert(json_object_object_get_ex(m, "queue_depth", &q));
	ck_assert_ptr_null(q);
	json_object_put(m);
	{
		struct store_filter f = { .limit = 500 };

		ck_assert_uint_eq(walk(s, f, NULL, NULL, NULL), ROWS + 2 + 4 + 20 + 1);
	}
	store_close(&s);
}
END_TEST

struct each_ctx {
	size_t n, stop_at;
	const char *verdict;
};

static bool
each_cb(void *ctx, struct json_object *row)
{
	struct each_ctx *x = ctx;

	if (x->verdict != NULL)
		ck_assert_str_eq(jstr(row, "verdict"), x->verdict);
	x->n++;
	return x->stop_at == 0 || x->n < x->stop_at;
}

START_TEST(each_streams)
{
	static const char *const two[] = { "ketoan", "yte" };
	struct store *s = open_store(path);
	struct kerr e = KERR_INIT;
	struct each_ctx x = { 0, 0, "invalid" };
	struct store_filter f = { .verdict = "invalid", .limit = 3, .before_time = NOW - 86400, .before_id = 5 };

	/* limit and the page position are ignored: every row of the filter */
	ck_assert_msg(store_each(s, &f, each_cb, &x, &e), "%s", e.msg);
	ck_assert_int_eq((int64_t)x.n, sql_int("SELECT count(*) FROM messages WHERE verdict = 'invalid'"));
	x = (struct each_ctx){ 0, 5, NULL };
	ck_assert(store_each(s, &(struct store_filter){ 0 }, each_cb, &x, &e));
	ck_assert_uint_eq(x.n, 5);
	x = (struct each_ctx){ 0, 0, NULL };
	ck_assert(store_each(s, &(struct store_filter){ .accounts = two, .n_accounts = 2, .q = "tran" }, each_cb, &x, &e));
	ck_assert_uint_eq(x.n, oracle_search("tran", "ketoan") + oracle_search("tran", "yte"));
	x = (struct each_ctx){ 0, 0, NULL };
	ck_assert(store_each(s, &(struct store_filter){ .q = "\"*" }, each_cb, &x, &e));
	ck_assert_uint_eq(x.n, 0);
	store_close(&s);
}
END_TEST

START_TEST(overview_days)
{
	struct store *s = open_store(path);
	struct kerr e = KERR_INIT;
	struct json_object *o = store_overview(s, 7, NULL, 0, &e), *days = NULL, *totals = NULL;
	int64_t sum = 0;

	ck_assert_msg(o != NULL, "%s", e.msg);
	ck_assert(json_object_object_get_ex(o, "days", &days));
	ck_assert(json_object_object_get_ex(o, "totals", &totals));
	ck_assert_uint_eq(json_object_array_length(days), 7);
	ck_assert_str_eq(jstr(json_object_array_get_idx(days, 6), "day"), "2026-11-29");
	ck_assert_str_eq(jstr(json_object_array_get_idx(days, 0), "day"), "2026-11-23");
	for (size_t i = 0; i < 7; i++) {
		struct json_object *d = json_object_array_get_idx(days, i);
		int64_t start = MIDNIGHT - (int64_t)(6 - i) * 86400;
		static const char *const verdicts[] = { "valid", "invalid", "unsigned", "sent", "failed", "indeterminate" };
		int64_t day_total = sql_int("SELECT count(*) FROM messages WHERE time >= %lld AND time < %lld",
		    (long long)start, (long long)start + 86400);

		ck_assert_int_eq(jint(d, "start"), start);
		ck_assert_int_eq(jint(d, "total"), day_total);
		for (size_t v = 0; v < sizeof(verdicts) / sizeof(verdicts[0]); v++) {
			struct json_object *n = NULL;
			int64_t want = sql_int("SELECT count(*) FROM messages WHERE verdict = %Q AND time >= %lld AND"
			    " time < %lld", verdicts[v], (long long)start, (long long)start + 86400);

			json_object_object_get_ex(d, verdicts[v], &n);
			ck_assert_int_eq(n != NULL ? json_object_get_int64(n) : 0, want);
		}
		sum += day_total;
	}
	ck_assert_int_eq(jint(totals, "total"), sum);
	/* rows after now (MIDNIGHT+86400 is tomorrow) are not counted */
	ck_assert_int_eq(sum, sql_int("SELECT count(*) FROM messages WHERE time >= %lld AND time < %lld",
	    (long long)MIDNIGHT - 6 * 86400, (long long)MIDNIGHT + 86400));
	json_object_put(o);
	/* one account */
	{
		static const char *const tuphap[] = { "tuphap" };

		o = store_overview(s, 1, tuphap, 1, &e);
		ck_assert_msg(o != NULL, "%s", e.msg);
		json_object_object_get_ex(o, "days", &days);
		ck_assert_uint_eq(json_object_array_length(days), 1);
		ck_assert_int_eq(jint(json_object_array_get_idx(days, 0), "total"),
		    sql_int("SELECT count(*) FROM messages WHERE account = 'tuphap' AND time >= %lld AND time < %lld",
		    (long long)MIDNIGHT, (long long)MIDNIGHT + 86400));
		json_object_put(o);
	}
	store_close(&s);
}
END_TEST

START_TEST(metrics_counts)
{
	struct store *s = open_store(path);
	struct kerr e = KERR_INIT;
	struct json_object *m = store_metrics(s, &e), *msgs = NULL, *in = NULL, *out = NULL, *reasons = NULL, *lat;
	static const char *const in_v[] = { "valid", "invalid", "indeterminate", "partial", "unsigned", "encrypted",
					    "malformed" };
	static const char *const out_v[] = { "sent", "pending", "failed" };
	static const char *const codes[] = { "digest-mismatch", "revoked", "revocation-unknown", "partial-coverage",
					     "malformed", "expired" };
	int64_t n_reasons = 0;

	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert(json_object_object_get_ex(m, "messages", &msgs));
	ck_assert(json_object_object_get_ex(msgs, "in", &in));
	ck_assert(json_object_object_get_ex(msgs, "out", &out));
	for (size_t i = 0; i < sizeof(in_v) / sizeof(in_v[0]); i++)
		ck_assert_int_eq(jint(in, in_v[i]),
		    sql_int("SELECT count(*) FROM messages WHERE direction = 'in' AND verdict = %Q", in_v[i]));
	for (size_t i = 0; i < sizeof(out_v) / sizeof(out_v[0]); i++)
		ck_assert_int_eq(jint(out, out_v[i]),
		    sql_int("SELECT count(*) FROM messages WHERE direction = 'out' AND verdict = %Q", out_v[i]));
	ck_assert(json_object_object_get_ex(m, "reasons", &reasons));
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		struct json_object *v = NULL;

		json_object_object_get_ex(reasons, codes[i], &v);
		n_reasons += json_object_get_int64(v);
		ck_assert_int_eq(json_object_get_int64(v),
		    sql_int("SELECT count(*) FROM messages WHERE ' ' || reasons || ' ' LIKE '%% %q %%' AND time >= %d",
		    codes[i], NOW - 86400));
	}
	ck_assert_int_gt(n_reasons, 5);
	ck_assert_int_eq(jint(m, "queue_depth"), sql_int("SELECT count(*) FROM outgoing WHERE state NOT IN (4, 5)"));
	ck_assert_int_gt(jint(m, "queue_depth"), 0);
	ck_assert(json_object_object_get_ex(m, "verify_ms", &lat));
	ck_assert_int_eq(jint(lat, "count"), sql_int("SELECT count(*) FROM messages WHERE direction = 'in' AND"
	    " time >= %d AND verify_ms IS NOT NULL", NOW - 86400));
	json_object_put(m);
	/* cached: the same object comes back */
	{
		struct json_object *a = store_metrics(s, &e), *b = store_metrics(s, &e);

		ck_assert_ptr_eq(a, b);
		json_object_put(a);
		json_object_put(b);
	}
	store_close(&s);
}
END_TEST

START_TEST(accounts_today)
{
	struct store *s = open_store(path);
	struct kerr e = KERR_INIT;
	struct json_object *a = store_accounts(s, NULL, 0, &e), *list = NULL;

	ck_assert_msg(a != NULL, "%s", e.msg);
	ck_assert(json_object_object_get_ex(a, "accounts", &list));
	ck_assert_uint_eq(json_object_array_length(list), 8);
	for (size_t i = 0; i < 8; i++) {
		struct json_object *o = json_object_array_get_idx(list, i);

		ck_assert_int_eq(jint(o, "today"), sql_int("SELECT count(*) FROM messages WHERE account = %Q AND"
		    " time >= %d", jstr(o, "account"), MIDNIGHT));
		ck_assert_ptr_nonnull(jstr(o, "state"));
	}
	json_object_put(a);
	store_close(&s);
}
END_TEST

START_TEST(hostile_text_is_data)
{
	struct store *s = open_store(path);
	struct kerr e = KERR_INIT;
	int64_t id = sql_int("SELECT id FROM messages WHERE subject LIKE '%%<script>%%' LIMIT 1");
	struct json_object *m = store_message(s, id, NULL, 0, &e);

	/* the store hands text back as stored; escaping is the templates' job */
	ck_assert_msg(m != NULL, "%s", e.msg);
	ck_assert_ptr_nonnull(strstr(jstr(m, "subject"), "<script>alert(1)</script>"));
	json_object_put(m);
	{
		struct store_filter f = { .q = "script alert" };
		size_t n = walk(s, f, NULL, NULL, NULL);

		ck_assert_uint_gt(n, 0);
		ck_assert_uint_eq(n, oracle_search("script alert", NULL));
	}
	store_close(&s);
}
END_TEST

struct thread_arg {
	struct store *s;
	int64_t want;
	bool ok;
};

static void *
hammer(void *p)
{
	struct thread_arg *a = p;

	a->ok = true;
	for (int i = 0; i < 40 && a->ok; i++) {
		struct kerr e = KERR_INIT;
		struct store_filter f = { .verdict = (i % 2) ? "valid" : NULL, .q = (i % 3) ? NULL : "tran", .limit = 20 };
		struct json_object *o = store_list(a->s, &f, &e), *rows = NULL;

		a->ok = o != NULL && json_object_object_get_ex(o, "rows", &rows) &&
		    json_object_array_length(rows) == 20;
		json_object_put(o);
		o = store_message(a->s, a->want, NULL, 0, &e);
		a->ok = a->ok && o != NULL;
		json_object_put(o);
	}
	return NULL;
}

START_TEST(threads_share_a_store)
{
	struct store *s = open_store(path);
	pthread_t t[8];
	struct thread_arg a[8];

	for (int i = 0; i < 8; i++) {
		a[i] = (struct thread_arg){ s, id_ngan, false };
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &a[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ck_assert(a[i].ok);
	}
	store_close(&s);
}
END_TEST

START_TEST(bad_filters)
{
	struct store *s = open_store(path);
	struct kerr e = KERR_INIT;
	const char *many[65];
	struct store_filter f = { .accounts = many, .n_accounts = 65 };

	for (int i = 0; i < 65; i++)
		many[i] = "ketoan";
	ck_assert_ptr_null(store_list(s, &f, &e));
	ck_assert_int_eq(e.cls, KERR_PERM);
	kerr_clear(&e);
	ck_assert_ptr_null(store_list(s, NULL, &e));
	kerr_clear(&e);
	f.n_accounts = 64;      /* 64 is fine */
	ck_assert_int_eq((int64_t)walk(s, f, NULL, NULL, NULL), sql_int("SELECT count(*) FROM messages WHERE account = 'ketoan'"));
	/* a very long query and one with many words */
	{
		char q[20000];

		memset(q, 'a', sizeof(q) - 1);
		q[sizeof(q) - 1] = '\0';
		ck_assert_uint_eq(walk(s, (struct store_filter){ .q = q }, NULL, NULL, NULL), 0);
		for (size_t i = 0; i + 2 < sizeof(q); i += 2)
			q[i] = (i % 3) ? 'z' : 'q', q[i + 1] = (i % 3) ? 'q' : ' ';
		ck_assert_uint_eq(walk(s, (struct store_filter){ .q = q }, NULL, NULL, NULL), 0);
	}
	store_close(&s);
}
END_TEST

/* tests/webui/logfill: the same seed gives the same log; another seed another. */
static char *
digest_of(const char *p)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *out;

	ck_assert_int_eq(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT group_concat(id || time || direction || account ||"
	    " coalesce(subject, '') || coalesce(from_name, '') || verdict || reasons || coalesce(attachments, '') ||"
	    " report, '|') FROM messages", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	out = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

START_TEST(filler_is_deterministic)
{
	char p[3][160];
	char *d[3];

	for (int i = 0; i < 3; i++) {
		struct logfill f;
		struct logfill_opts o = { .rows = 300, .seed = i == 2 ? 2 : 1, .now = NOW, .hostile = true };

		snprintf(p[i], sizeof(p[i]), "%s/det%d.db", dir, i);
		ck_assert_msg(logfill_open(&f, p[i], true), "%s", f.err);
		ck_assert_msg(logfill_random(&f, &o), "%s", f.err);
		logfill_close(&f);
		d[i] = digest_of(p[i]);
	}
	ck_assert_str_eq(d[0], d[1]);
	ck_assert_str_ne(d[0], d[2]);
	for (int i = 0; i < 3; i++)
		free(d[i]);
	/* reports are JSON objects, the FTS index agrees with the table */
	ck_assert_int_eq(sql_int("SELECT count(*) FROM messages WHERE json_valid(report) AND"
	    " json_type(report) = 'object'"), sql_int("SELECT count(*) FROM messages"));
	{
		sqlite3 *db = NULL;

		ck_assert_int_eq(sqlite3_open(p[0], &db), SQLITE_OK);
		ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')",
		    NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	/* a missing folder is an error, not a crash */
	{
		struct logfill f;

		ck_assert(!logfill_open(&f, "/nonexistent-dir/x/kyso.db", true));
		ck_assert_ptr_nonnull(strstr(f.err, "nonexistent-dir"));
	}
}
END_TEST

/* A search's matches are kept per connection while the log is unchanged:
 * rows the agent adds or changes later show at once, on every plan. */
START_TEST(search_sees_new_rows)
{
	char p[160];
	struct logfill f;
	struct logfill_opts o = { .rows = 200, .seed = 3, .now = NOW, .days = 5 };
	static const unsigned few[] = { 0, 1 };

	snprintf(p, sizeof(p), "%s/cache-%d.db", dir, (int)getpid());
	ck_assert_msg(logfill_open(&f, p, true), "%s", f.err);
	ck_assert_msg(logfill_random(&f, &o), "%s", f.err);
	logfill_close(&f);          /* the log is in WAL mode now */
	for (size_t k = 0; k < sizeof(few) / sizeof(few[0]); k++) {
		struct kerr e = KERR_INIT;
		struct store *s = store_open_n(p, 1, &e);
		struct store_filter flt = { .q = "tran kim ngan", .limit = 500 };
		struct json_object *page, *rows, *first, *id;
		size_t before, n_rounds = 3;
		int64_t new_id = 0;

		ck_assert_msg(s != NULL, "%s", e.msg);
		store_set_search_few(s, few[k]);
		for (size_t round = 0; round < n_rounds; round++) {
			page = store_list(s, &flt, &e);
			ck_assert_msg(page != NULL, "%s", e.msg);
			ck_assert(json_object_object_get_ex(page, "rows", &rows));
			before = json_object_array_length(rows);
			json_object_put(page);
			/* the same search again (kept) gives the same answer */
			page = store_list(s, &flt, &e);
			ck_assert_msg(page != NULL, "%s", e.msg);
			ck_assert(json_object_object_get_ex(page, "rows", &rows));
			ck_assert_uint_eq(json_object_array_length(rows), before);
			json_object_put(page);
			/* the agent logs one more match (another connection, the log
			 * staying in WAL mode with this store's connection open) */
			{
				sqlite3 *db = NULL;
				char *sql = sqlite3_mprintf("INSERT INTO messages (time, direction, account, address,"
				    " from_addr, from_name, subject, verdict, reasons, search, report) VALUES (%lld, 'in',"
				    " 'vanthu', 'vanthu@benluc.longan.gov.vn', 'ngan.tran@stc.longan.gov.vn',"
				    " 'Trần Kim Ngân', 'Hôm nay', 'valid', '', 'tran kim ngan hom nay', '{}')",
				    (long long)(NOW - 60 + (int64_t)(k * 10 + round)));

				ck_assert_int_eq(sqlite3_open(p, &db), SQLITE_OK);
				ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
				new_id = sqlite3_last_insert_rowid(db);
				sqlite3_free(sql);
				sqlite3_close(db);
			}
			page = store_list(s, &flt, &e);
			ck_assert_msg(page != NULL, "%s", e.msg);
			ck_assert(json_object_object_get_ex(page, "rows", &rows));
			ck_assert_uint_eq(json_object_array_length(rows), before + 1);
			first = json_object_array_get_idx(rows, 0);
			ck_assert(json_object_object_get_ex(first, "id", &id));
			ck_assert_int_eq(json_object_get_int64(id), new_id);
			json_object_put(page);
		}
		/* a changed row stops matching */
		{
			sqlite3 *db = NULL;
			char *sql = sqlite3_mprintf("UPDATE messages SET search = 'khac' WHERE id = %lld",
			    (long long)new_id);

			ck_assert_int_eq(sqlite3_open(p, &db), SQLITE_OK);
			ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
			sqlite3_free(sql);
			sqlite3_close(db);
		}
		page = store_list(s, &flt, &e);
		ck_assert_msg(page != NULL, "%s", e.msg);
		ck_assert(json_object_object_get_ex(page, "rows", &rows));
		ck_assert_uint_eq(json_object_array_length(rows), before);
		first = json_object_array_get_idx(rows, 0);
		ck_assert(first == NULL || (json_object_object_get_ex(first, "id", &id) &&
		    json_object_get_int64(id) != new_id));
		json_object_put(page);
		store_close(&s);
	}
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_unchecked_fixture(tc, setup_once, teardown_once);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, newest_first);
	tcase_add_test(tc, keyset_complete);
	tcase_add_test(tc, every_filter);
	tcase_add_test(tc, query_plans_use_indexes);
	tcase_add_test(tc, date_range_local_days);
	tcase_add_test(tc, search_without_accents);
	tcase_add_test(tc, search_many_matches);
	tcase_add_test(tc, search_syntax_is_inert);
	tcase_add_test(tc, search_sees_new_rows);
	tcase_add_test(tc, nonadmin_restriction);
	tcase_add_test(tc, message_detail);
	tcase_add_test(tc, attachment_verdicts);
	tcase_add_test(tc, log_without_att_column);
	tcase_add_test(tc, open_errors);
	tcase_add_test(tc, log_only_database);
	tcase_add_test(tc, each_streams);
	tcase_add_test(tc, overview_days);
	tcase_add_test(tc, metrics_counts);
	tcase_add_test(tc, accounts_today);
	tcase_add_test(tc, hostile_text_is_data);
	tcase_add_test(tc, threads_share_a_store);
	tcase_add_test(tc, bad_filters);
	tcase_add_test(tc, filler_is_deterministic);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
