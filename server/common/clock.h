/*
 * clock.h - ramp's one clock. Durations, timeouts and rate limits
 * read the monotonic clock (it never jumps); only what is shown or stored
 * as a date reads the wall clock. Condition-variable waits use
 * clock_cond_init() and clock_deadline(), so they too run on the monotonic
 * clock and a wall-clock step neither cuts them short nor stretches them.
 */
#ifndef RAMP_CLOCK_H
#define RAMP_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Monotonic time in seconds, milliseconds, microseconds, nanoseconds. */
double clock_mono_s(void);
int64_t clock_mono_ms(void);
int64_t clock_mono_us(void);
int64_t clock_mono_ns(void);
/* Wall-clock (Unix) time in seconds, with the fraction. */
double clock_wall_s(void);
/* Wall-clock (Unix) time in milliseconds. */
int64_t clock_wall_ms(void);

/* Initialises c to time its waits on the monotonic clock; 0 or an errno. */
int clock_cond_init(pthread_cond_t *c);
/* The monotonic deadline ms milliseconds from now, for
 * pthread_cond_timedwait() on a condition made by clock_cond_init(). */
struct timespec clock_deadline(int64_t ms);

#endif
