/*
 * clock.c - the monotonic and wall clocks (clock.h).
 */
#include "common/clock.h"

static struct timespec now(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts;
}

double clock_mono_s(void)
{
	struct timespec ts = now(CLOCK_MONOTONIC);

	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t clock_mono_ns(void)
{
	struct timespec ts = now(CLOCK_MONOTONIC);

	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_mono_us(void)
{
	return clock_mono_ns() / 1000;
}

int64_t clock_mono_ms(void)
{
	return clock_mono_ns() / 1000000;
}

double clock_wall_s(void)
{
	struct timespec ts = now(CLOCK_REALTIME);

	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t clock_wall_ms(void)
{
	struct timespec ts = now(CLOCK_REALTIME);

	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int clock_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t at;
	int rc;

	if ((rc = pthread_condattr_init(&at)) != 0)
		return rc;
	rc = pthread_condattr_setclock(&at, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(c, &at);
	pthread_condattr_destroy(&at);
	return rc;
}

struct timespec clock_deadline(int64_t ms)
{
	struct timespec ts = now(CLOCK_MONOTONIC);

	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}
