/* bench.h - the small helpers both benchmark programs use. */
#ifndef KYSO_BENCH_H
#define KYSO_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "smime/base.h"

static inline double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Print "PROGRAM: what: why" and exit 2 (a benchmark that cannot run). */
static inline void
bench_die(const char *program, const char *what, const struct kerr *e)
{
	fprintf(stderr, "%s: %s: %s\n", program, what, e != NULL ? e->msg : "");
	exit(2);
}

static inline int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#endif
