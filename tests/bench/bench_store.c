/*
 * bench_store - time webui/store.c's queries over a log made by
 * tests/webui/mklog (whose accounts and words it uses).
 *
 *   bench_store DB [ITERATIONS]
 *
 * Prints one line per query: "name median_ms p95_ms rows" (rows: what the
 * last run returned), after one warm-up run each.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/bench/bench.h"
#include "webui/store.h"

static struct store *s;
static int iterations = 50;

enum kind { LIST, PAGE10, MESSAGE, OVERVIEW, OVERVIEW_USER, ACCOUNTS, EACH };

struct bcase {
	const char *name;
	enum kind kind;
	struct store_filter f;
};

static const char *const one[] = { "ketoan" };
static const char *const two[] = { "ketoan", "yte" };

static size_t
rows_of(struct json_object *o)
{
	struct json_object *r = NULL;

	if (json_object_object_get_ex(o, "rows", &r))
		return json_object_array_length(r);
	if (json_object_object_get_ex(o, "days", &r))
		return json_object_array_length(r);
	if (json_object_object_get_ex(o, "accounts", &r))
		return json_object_array_length(r);
	return 1;
}

static bool
count_cb(void *ctx, struct json_object *row)
{
	(void)row;
	(*(size_t *)ctx)++;
	return true;
}

struct tput {
	struct store *s;
	double until;
	unsigned long calls;
};

static void *
tput_run(void *p)
{
	struct tput *a = p;
	struct store_filter f = { 0 };

	while (now_s() < a->until) {
		struct kerr e = KERR_INIT;
		struct json_object *o = store_list(a->s, &f, &e);

		if (o == NULL)
			bench_die("bench_store", "threads", &e);
		json_object_put(o);
		a->calls++;
	}
	return NULL;
}

/* One run; returns what it found. */
static size_t
run(const struct bcase *c, int64_t max_id, unsigned i)
{
	struct kerr e = KERR_INIT;
	struct json_object *o = NULL;
	size_t n = 0;

	switch (c->kind) {
	case LIST:
		o = store_list(s, &c->f, &e);
		break;
	case PAGE10: {                  /* pages 1..10: follow "next" 9 times (all timed) */
		struct store_filter f = c->f;

		for (int p = 0; p < 10; p++) {
			struct json_object *nx = NULL, *t = NULL, *id = NULL;

			json_object_put(o);
			o = store_list(s, &f, &e);
			if (o == NULL || !json_object_object_get_ex(o, "next", &nx) || nx == NULL)
				break;
			json_object_object_get_ex(nx, "time", &t);
			json_object_object_get_ex(nx, "id", &id);
			f.before_time = json_object_get_int64(t);
			f.before_id = json_object_get_int64(id);
		}
		break;
	}
	case MESSAGE:
		o = store_message(s, 1 + (int64_t)((i * 2654435761u) % (uint64_t)max_id), NULL, 0, &e);
		break;
	case OVERVIEW:
		o = store_overview(s, 30, NULL, 0, &e);
		break;
	case OVERVIEW_USER:
		o = store_overview(s, 30, one, 1, &e);
		break;
	case ACCOUNTS:
		o = store_accounts(s, NULL, 0, &e);
		break;
	case EACH:
		if (!store_each(s, &c->f, count_cb, &n, &e))
			bench_die("bench_store", c->name, &e);
		return n;
	}
	if (o == NULL)
		bench_die("bench_store", c->name, &e);
	n = rows_of(o);
	json_object_put(o);
	return n;
}

int
main(int argc, char **argv)
{
	struct kerr e = KERR_INIT;
	struct bcase cases[] = {
		{ "first_page", LIST, { 0 } },
		{ "pages_1_to_10", PAGE10, { 0 } },
		{ "verdict_invalid", LIST, { .verdict = "invalid" } },
		{ "verdict_invalid_pages_1_to_10", PAGE10, { .verdict = "invalid" } },
		{ "account_ketoan", LIST, { .account = "ketoan" } },
		{ "direction_out", LIST, { .direction = "out" } },
		{ "date_range_7d", LIST, { 0 } },
		{ "account_and_verdict", LIST, { .account = "yte", .verdict = "indeterminate" } },
		{ "nonadmin_1_account", LIST, { .accounts = one, .n_accounts = 1 } },
		{ "nonadmin_2_accounts", LIST, { .accounts = two, .n_accounts = 2 } },
		{ "nonadmin_2_accounts_malformed", LIST, { .accounts = two, .n_accounts = 2, .verdict = "malformed" } },
		{ "search_tran_kim_ngan", LIST, { .q = "tran kim ngan" } },
		{ "search_Tran_Kim_Ngan_pages_1_to_10", PAGE10, { .q = "Trần Kim Ngân" } },
		{ "search_nguyen", LIST, { .q = "nguyen" } },
		{ "search_cong_van", LIST, { .q = "cong van" } },
		{ "search_ng", LIST, { .q = "ng" } },
		{ "search_tran_invalid", LIST, { .q = "tran", .verdict = "invalid" } },
		{ "search_nonadmin_tran", LIST, { .q = "tran", .accounts = one, .n_accounts = 1 } },
		{ "search_no_match", LIST, { .q = "zzzzqq" } },
		{ "message", MESSAGE, { 0 } },
		{ "overview_30d", OVERVIEW, { 0 } },
		{ "overview_30d_nonadmin", OVERVIEW_USER, { 0 } },
		{ "accounts", ACCOUNTS, { 0 } },
		{ "export_invalid_7d", EACH, { .verdict = "invalid" } },
	};
	struct json_object *first;
	int64_t newest = 0, max_id = 1;
	double *t;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bench_store DB [ITERATIONS]\n");
		return 2;
	}
	if (argc == 3)
		iterations = atoi(argv[2]) > 0 ? atoi(argv[2]) : 1;
	if ((s = store_open(argv[1], &e)) == NULL)
		bench_die("bench_store", argv[1], &e);
	{
		struct store_filter f = { .limit = 1 };
		struct json_object *rows = NULL, *r, *v = NULL;

		if ((first = store_list(s, &f, &e)) == NULL)
			bench_die("bench_store", "first row", &e);
		json_object_object_get_ex(first, "rows", &rows);
		if (json_object_array_length(rows) == 0)
			bench_die("bench_store", "the log is empty", NULL);
		r = json_object_array_get_idx(rows, 0);
		json_object_object_get_ex(r, "time", &v);
		newest = json_object_get_int64(v);
		json_object_object_get_ex(r, "id", &v);
		max_id = json_object_get_int64(v);
		json_object_put(first);
	}
	store_set_now(s, newest);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].name, "date_range_7d") == 0) {
			cases[i].f.from_time = newest - 37 * 86400;
			cases[i].f.to_time = newest - 30 * 86400;
		}
		if (strcmp(cases[i].name, "export_invalid_7d") == 0)
			cases[i].f.from_time = newest - 7 * 86400;
	}
	t = xcalloc((size_t)iterations, sizeof(*t));
	printf("# query median_ms p95_ms rows (%d runs each, after a warm-up)\n", iterations);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = run(&cases[i], max_id, 0);
		int its = cases[i].kind == EACH ? (iterations < 5 ? iterations : 5) : iterations;

		for (int k = 0; k < its; k++) {
			double t0 = now_s();

			n = run(&cases[i], max_id, (unsigned)k + 1);
			t[k] = (now_s() - t0) * 1000;
		}
		qsort(t, (size_t)its, sizeof(*t), cmp_double);
		printf("%s %.3f %.3f %zu\n", cases[i].name, t[its / 2], t[(its * 95) / 100 < its ? (its * 95) / 100 : its - 1], n);
		fflush(stdout);
	}
	/* metrics: uncached (a fresh store each run: includes opening it) */
	{
		int its = iterations < 10 ? iterations : 10;

		for (int k = 0; k < its; k++) {
			double t0 = now_s();
			struct store *m = store_open(argv[1], &e);
			struct json_object *o = m != NULL ? store_metrics(m, &e) : NULL;

			if (o == NULL)
				bench_die("bench_store", "metrics", &e);
			t[k] = (now_s() - t0) * 1000;
			json_object_put(o);
			store_close(&m);
		}
		qsort(t, (size_t)its, sizeof(*t), cmp_double);
		printf("metrics_uncached %.3f %.3f 1\n", t[its / 2], t[its - 1]);
	}
	/* throughput of first pages from 1, 2, 4 threads, with a pool of 1
	 * connection (one mutex) and of 4 */
	for (unsigned conns = 1; conns <= 4; conns *= 4) {
		struct store *p = store_open_n(argv[1], conns, &e);

		if (p == NULL)
			bench_die("bench_store", argv[1], &e);
		for (unsigned nt = 1; nt <= 4; nt *= 2) {
			pthread_t th[4];
			struct tput a[4];
			double t0 = now_s(), calls = 0;

			for (unsigned k = 0; k < nt; k++) {
				a[k] = (struct tput){ p, t0 + 1.0, 0 };
				pthread_create(&th[k], NULL, tput_run, &a[k]);
			}
			for (unsigned k = 0; k < nt; k++) {
				pthread_join(th[k], NULL);
				calls += (double)a[k].calls;
			}
			printf("first_page_per_s_conns%u_threads%u %.0f - -\n", conns, nt, calls / (now_s() - t0));
		}
		store_close(&p);
	}
	free(t);
	store_close(&s);
	return 0;
}
