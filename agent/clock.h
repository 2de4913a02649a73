/*
 * clock.h - the agent's one monotonic clock, for deadlines and timeouts
 * (network waits, IDLE, backoff sleeps).  Never goes back when the wall
 * clock is set.
 */
#ifndef KYSO_AGENT_CLOCK_H
#define KYSO_AGENT_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds since an arbitrary point (CLOCK_MONOTONIC). */
static inline int64_t
clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
