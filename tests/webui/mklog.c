/*
 * mklog - make a kyso log database for tests and benchmarks, without the
 * agent: the schema of agent/logdb.h (and the journal's outgoing/steps
 * tables), filled with realistic Vietnamese rows.  Deterministic for a seed.
 *
 *   mklog [--rows N] [--seed S] [--now UNIX] [--days D] [--hostile]
 *         [--no-journal] [--quiet] PATH
 *
 * --rows     rows to add (default 1000); 1,000,000 take ~40 s (4.3 GB)
 * --now      the newest row's time (default: now); rows spread over --days
 *            (default 90) before it, oldest first
 * --hostile  also rows whose subject, names, addresses, signer and file names
 *            carry HTML/JS and CSV-formula payloads (the 5 newest always do)
 * --no-journal  a log-only database: no outgoing/steps tables
 *
 * PATH is created, or rows are added to an existing log.  Prints one line:
 * "mklog: N rows in S s (PATH)".  Exit 0, or 1 with a message on stderr.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/webui/logfill.h"

static void
usage(void)
{
	fprintf(stderr, "usage: mklog [--rows N] [--seed S] [--now UNIX] [--days D] [--hostile]"
	    " [--no-journal] [--quiet] PATH\n");
	exit(1);
}

static uint64_t
number(const char *opt, const char *s)
{
	char *end;
	unsigned long long v;

	if (s == NULL)
		usage();
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
		fprintf(stderr, "mklog: %s: not a number: %s\n", opt, s);
		exit(1);
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct logfill_opts o = { .rows = 1000, .seed = 1 };
	struct logfill f;
	const char *path = NULL;
	bool journal = true, quiet = false;
	struct timespec t0, t1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rows") == 0)
			o.rows = number(argv[i], argv[i + 1]), i++;
		else if (strcmp(argv[i], "--seed") == 0)
			o.seed = number(argv[i], argv[i + 1]), i++;
		else if (strcmp(argv[i], "--now") == 0)
			o.now = (int64_t)number(argv[i], argv[i + 1]), i++;
		else if (strcmp(argv[i], "--days") == 0)
			o.days = (unsigned)number(argv[i], argv[i + 1]), i++;
		else if (strcmp(argv[i], "--hostile") == 0)
			o.hostile = true;
		else if (strcmp(argv[i], "--no-journal") == 0)
			journal = false;
		else if (strcmp(argv[i], "--quiet") == 0)
			quiet = true;
		else if (argv[i][0] == '-' || path != NULL)
			usage();
		else
			path = argv[i];
	}
	if (path == NULL)
		usage();
	if (o.rows > 100000000u || o.days > 36500) {
		fprintf(stderr, "mklog: at most 100,000,000 rows and 36,500 days\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!logfill_open(&f, path, journal) || !logfill_random(&f, &o)) {
		fprintf(stderr, "mklog: %s: %s\n", path, f.err);
		logfill_close(&f);
		return 1;
	}
	logfill_close(&f);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!quiet)
		printf("mklog: %" PRIu64 " rows in %.1f s (%s)\n", o.rows,
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, path);
	return 0;
}
