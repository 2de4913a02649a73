/* Unit tests of agent/journal.c: the outgoing state machine in SQLite. */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/journal.h"
#include "tests/unit/testmain.h"

static char dir[] = "/tmp/kyso-journal-XXXXXX";
static char path[128];

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/journal.db", dir);
}

static void
teardown(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/kyso-journal-XXXXXX");
}

static const struct journal_key key1 = { "vanthu", "Ký số", 1700000000u, 42 };

static int64_t
enqueue(struct journal *j, const struct journal_key *k, enum journal_state *st)
{
	struct kerr e = KERR_INIT;
	int64_t id = 0;

	ck_assert_msg(journal_enqueue(j, k, "<a@b>", &id, st, &e), "%s", e.msg);
	return id;
}

START_TEST(full_path)
{
	struct kerr e = KERR_INIT;
	struct journal *j = journal_open(path, &e);
	enum journal_state st;
	struct buf got = BUF_INIT;
	char signed_bytes[] = "MIME-Version: 1.0\r\n\0binary\xff\r\n";
	int64_t id;

	ck_assert_msg(j != NULL, "%s", e.msg);
	id = enqueue(j, &key1, &st);
	ck_assert_int_eq(st, JOURNAL_QUEUED);
	ck_assert(journal_advance(j, id, JOURNAL_QUEUED, JOURNAL_SIGNED, signed_bytes, sizeof(signed_bytes), NULL, &e));
	ck_assert(journal_signed_bytes(j, id, &got, &e));
	ck_assert_uint_eq(got.len, sizeof(signed_bytes));
	ck_assert_mem_eq(got.data, signed_bytes, sizeof(signed_bytes));
	ck_assert(journal_advance(j, id, JOURNAL_SIGNED, JOURNAL_SUBMITTED, NULL, 0, "250 2.0.0 Ok: queued as X", &e));
	ck_assert(journal_advance(j, id, JOURNAL_SUBMITTED, JOURNAL_FILED, NULL, 0, NULL, &e));
	ck_assert(journal_advance(j, id, JOURNAL_FILED, JOURNAL_DONE, NULL, 0, NULL, &e));
	/* Done messages are no longer pending. */
	{
		struct journal_entry *v;
		size_t n;

		ck_assert(journal_pending(j, "vanthu", 0, 10, &v, &n, &e));
		ck_assert_uint_eq(n, 0);
		free(v);
	}
	buf_release(&got);
	journal_close(&j);
	ck_assert_ptr_null(j);
}
END_TEST

START_TEST(enqueue_is_idempotent)
{
	struct kerr e = KERR_INIT;
	struct journal *j = journal_open(path, &e);
	struct journal_key other = key1;
	enum journal_state st;
	int64_t a, b, c;

	a = enqueue(j, &key1, &st);
	ck_assert(journal_advance(j, a, JOURNAL_QUEUED, JOURNAL_SIGNED, "x", 1, NULL, &e));
	b = enqueue(j, &key1, &st);             /* seen again after a restart */
	ck_assert_int_eq(a, b);
	ck_assert_int_eq(st, JOURNAL_SIGNED);   /* resumes where it was */
	other.uidvalidity++;                    /* UIDVALIDITY changed: another draft */
	c = enqueue(j, &other, &st);
	ck_assert_int_ne(a, c);
	ck_assert_int_eq(st, JOURNAL_QUEUED);
	journal_close(&j);
}
END_TEST

/* Compare-and-set: a step only moves a message from the state it is in. */
START_TEST(stale_step_refused)
{
	struct kerr e = KERR_INIT;
	struct journal *j = journal_open(path, &e);
	enum journal_state st;
	int64_t id = enqueue(j, &key1, &st);

	ck_assert(journal_advance(j, id, JOURNAL_QUEUED, JOURNAL_SIGNED, "x", 1, NULL, &e));
	ck_assert(!journal_advance(j, id, JOURNAL_QUEUED, JOURNAL_SIGNED, "y", 1, NULL, &e));
	ck_assert_int_eq(e.cls, KERR_TEMP);
	ck_assert_ptr_nonnull(strstr(e.msg, "no longer queued"));
	journal_close(&j);
}
END_TEST

static const struct { enum journal_state from, to; bool ok; } moves[] = {
	{ JOURNAL_QUEUED, JOURNAL_SUBMITTED, false },   /* never skip signing */
	{ JOURNAL_QUEUED, JOURNAL_DONE, false },
	{ JOURNAL_SIGNED, JOURNAL_FILED, false },       /* never file what was not sent */
	{ JOURNAL_SUBMITTED, JOURNAL_FAILED, false },   /* it reached the recipients */
	{ JOURNAL_FILED, JOURNAL_SIGNED, false },       /* no way back */
	{ JOURNAL_DONE, JOURNAL_DONE, false },
	{ JOURNAL_QUEUED, JOURNAL_FAILED, true },
	{ JOURNAL_SIGNED, JOURNAL_FAILED, true },
};

START_TEST(only_allowed_moves)
{
	struct kerr e = KERR_INIT;
	struct journal *j = journal_open(path, &e);
	enum journal_state st;
	int64_t id = enqueue(j, &key1, &st);
	enum journal_state from = moves[_i].from;

	/* Walk the message to `from` the legal way. */
	for (enum journal_state s = JOURNAL_QUEUED; s < from && from <= JOURNAL_DONE; s++)
		ck_assert_msg(journal_advance(j, id, s, s + 1, "x", 1, NULL, &e), "%s", e.msg);
	ck_assert_int_eq(journal_advance(j, id, from, moves[_i].to, "x", 1, "why", &e), moves[_i].ok);
	if (!moves[_i].ok)
		ck_assert_int_eq(e.cls, KERR_INTERNAL);
	journal_close(&j);
}
END_TEST

START_TEST(signed_needs_bytes)
{
	struct kerr e = KERR_INIT;
	struct journal *j = journal_open(path, &e);
	enum journal_state st;
	int64_t id = enqueue(j, &key1, &st);

	ck_assert(!journal_advance(j, id, JOURNAL_QUEUED, JOURNAL_SIGNED, NULL, 0, NULL, &e));
	ck_assert_int_eq(e.cls, KERR_INTERNAL);
	journal_close(&j);
}
END_TEST

START_TEST(pending_and_defer)
{
	struct kerr e = KERR_INIT;
	struct journal *j = journal_open(path, &e);
	struct journal_key k = key1;
	struct journal_entry *v;
	enum journal_state st;
	int64_t ids[5];
	size_t n;

	for (int i = 0; i < 5; i++) {
		k.uid = 100 + (uint32_t)i;
		ids[i] = enqueue(j, &k, &st);
	}
	k.account = "other";
	enqueue(j, &k, &st);
	ck_assert(journal_defer(j, ids[1], 2000, "451 4.3.0 try again", &e));
	ck_assert(journal_advance(j, ids[2], JOURNAL_QUEUED, JOURNAL_FAILED, NULL, 0, "no identity", &e));
	ck_assert(journal_pending(j, "vanthu", 1000, 10, &v, &n, &e));
	ck_assert_uint_eq(n, 3);                /* 0, 3, 4: 1 deferred, 2 failed */
	ck_assert_int_eq(v[0].id, ids[0]);
	ck_assert_int_eq(v[1].id, ids[3]);
	ck_assert_str_eq(v[0].folder, "Ký số");
	ck_assert_uint_eq(v[0].uid, 100);
	for (size_t i = 0; i < n; i++)
		journal_entry_release(&v[i]);
	free(v);
	ck_assert(journal_pending(j, "vanthu", 3000, 2, &v, &n, &e));
	ck_assert_uint_eq(n, 2);                /* max respected; 1 is due again */
	ck_assert_int_eq(v[1].id, ids[1]);
	ck_assert_int_eq(v[1].attempts, 1);
	ck_assert_str_eq(v[1].last_error, "451 4.3.0 try again");
	for (size_t i = 0; i < n; i++)
		journal_entry_release(&v[i]);
	free(v);
	journal_close(&j);
}
END_TEST

START_TEST(durable_settings)
{
	struct kerr e = KERR_INIT;
	struct journal *j = journal_open(path, &e);
	sqlite3 *db;
	sqlite3_stmt *st;

	journal_close(&j);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
}
END_TEST

/* A process killed after a step committed: the step is there.  A process
 * killed inside a transaction: nothing of it is there. */
START_TEST(survives_kill)
{
	struct kerr e = KERR_INIT;
	struct journal *j;
	enum journal_state st;
	int64_t id;
	pid_t pid;
	int status;

	pid = fork();
	if (pid == 0) {
		struct journal *cj = journal_open(path, &e);
		int64_t cid = enqueue(cj, &key1, &st);

		journal_advance(cj, cid, JOURNAL_QUEUED, JOURNAL_SIGNED, "signed", 6, NULL, &e);
		kill(getpid(), SIGKILL);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	pid = fork();
	if (pid == 0) {
		sqlite3 *db;

		sqlite3_open(path, &db);
		sqlite3_exec(db, "BEGIN IMMEDIATE; UPDATE outgoing SET state = 2", NULL, NULL, NULL);
		kill(getpid(), SIGKILL);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	j = journal_open(path, &e);
	ck_assert_msg(j != NULL, "%s", e.msg);
	id = enqueue(j, &key1, &st);
	ck_assert_int_eq(st, JOURNAL_SIGNED);
	{
		struct buf b = BUF_INIT;

		ck_assert(journal_signed_bytes(j, id, &b, &e));
		ck_assert_str_eq(b.data, "signed");
		buf_release(&b);
	}
	journal_close(&j);
}
END_TEST

/* journal_note sets last_error and counts no attempt (the "submitting" mark). */
START_TEST(note_counts_no_attempt)
{
	struct kerr e = KERR_INIT;
	struct journal *j = journal_open(path, &e);
	struct journal_entry *v = NULL;
	enum journal_state st;
	size_t n = 0;
	int64_t id;

	ck_assert_ptr_nonnull(j);
	id = enqueue(j, &key1, &st);
	ck_assert(journal_note(j, id, "submitting", &e));
	ck_assert(journal_pending(j, "vanthu", 0, 10, &v, &n, &e));
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0].last_error, "submitting");
	ck_assert_int_eq(v[0].attempts, 0);
	ck_assert_int_eq(v[0].next_attempt, 0);
	journal_entry_release(&v[0]);
	free(v);
	ck_assert(journal_defer(j, id, 0, "451 later", &e));
	ck_assert(journal_pending(j, "vanthu", 0, 10, &v, &n, &e));
	ck_assert_int_eq(v[0].attempts, 1);
	ck_assert_str_eq(v[0].last_error, "451 later");
	journal_entry_release(&v[0]);
	free(v);
	journal_close(&j);
}
END_TEST

/* One journal shared by threads: each races to take the same messages
 * through every state; compare-and-set lets exactly one win each step. */
#define RACE_THREADS 4
#define RACE_MSGS 25
static struct journal *race_j;
static int race_wins[RACE_THREADS];

static void *
racer(void *arg)
{
	int me = (int)(intptr_t)arg;

	for (uint32_t uid = 1; uid <= RACE_MSGS; uid++) {
		struct journal_key k = { "race", "Ký số", 7, uid };
		struct kerr e = KERR_INIT;
		enum journal_state st;
		int64_t id;

		if (!journal_enqueue(race_j, &k, "<r@x>", &id, &st, &e))
			continue;
		for (enum journal_state s = JOURNAL_QUEUED; s < JOURNAL_DONE; s++) {
			kerr_clear(&e);
			if (journal_advance(race_j, id, s, s + 1, s == JOURNAL_QUEUED ? "x" : NULL, 1, NULL, &e))
				race_wins[me]++;
		}
	}
	return NULL;
}

START_TEST(shared_by_threads)
{
	struct kerr e = KERR_INIT;
	pthread_t th[RACE_THREADS];
	struct journal_entry *v = NULL;
	size_t n = 0;
	int total = 0;

	race_j = journal_open(path, &e);
	ck_assert_ptr_nonnull(race_j);
	for (int i = 0; i < RACE_THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, racer, (void *)(intptr_t)i), 0);
	for (int i = 0; i < RACE_THREADS; i++) {
		pthread_join(th[i], NULL);
		total += race_wins[i];
	}
	/* 4 steps per message, each taken exactly once. */
	ck_assert_int_eq(total, RACE_MSGS * 4);
	ck_assert(journal_pending(race_j, "race", 0, 100, &v, &n, &e));
	ck_assert_uint_eq(n, 0);
	free(v);
	journal_close(&race_j);
}
END_TEST

START_TEST(unusable_path)
{
	struct kerr e = KERR_INIT;
	struct journal *j = journal_open("/nonexistent/dir/journal.db", &e);

	ck_assert_ptr_null(j);
	ck_assert_int_eq(e.cls, KERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/dir/journal.db"));
	j = journal_open(dir, &e);              /* a folder, not a database */
	ck_assert_ptr_null(j);
	ck_assert_int_eq(e.cls, KERR_CONFIG);
}
END_TEST

START_TEST(state_names)
{
	ck_assert_str_eq(journal_state_name(JOURNAL_QUEUED), "queued");
	ck_assert_str_eq(journal_state_name(JOURNAL_FAILED), "failed");
	ck_assert_str_eq(journal_state_name((enum journal_state)99), "?");
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("agent/journal");
	TCase *tc = tcase_create("journal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, full_path);
	tcase_add_test(tc, enqueue_is_idempotent);
	tcase_add_test(tc, stale_step_refused);
	tcase_add_loop_test(tc, only_allowed_moves, 0, (int)(sizeof(moves) / sizeof(moves[0])));
	tcase_add_test(tc, signed_needs_bytes);
	tcase_add_test(tc, pending_and_defer);
	tcase_add_test(tc, durable_settings);
	tcase_add_test(tc, survives_kill);
	tcase_add_test(tc, note_counts_no_attempt);
	tcase_add_test(tc, shared_by_threads);
	tcase_add_test(tc, unusable_path);
	tcase_add_test(tc, state_names);
	suite_add_tcase(s, tc);
	return s;
}

KYSO_TEST_MAIN(make_suite)
