/*
 * ticker.h - a periodic loop on the one clock (clock.h): a thread of its
 * own that runs a round of work at once and then every period, sooner when
 * kicked or when the round says more is due. The wait between rounds is on
 * the monotonic clock, so a wall-clock step neither skips nor stretches it.
 * Stopping wakes the wait, lets the current round finish and joins.
 */
#ifndef RAMP_TICKER_H
#define RAMP_TICKER_H

#include <stdbool.h>
#include <stdint.h>

struct ticker;

/* One round of work on the ticker's thread (t is the ticker running it,
 * for ticker_stopping); true when more is due at once (the next round
 * starts without waiting). */
typedef bool ticker_fn(struct ticker *t, void *ctx);

/* Starts a thread that calls fn(t, ctx) at once, then period_ms after each
 * round ends; NULL when memory or the thread could not be had. */
struct ticker *ticker_start(int64_t period_ms, ticker_fn *fn, void *ctx);
/* Starts the next round now rather than at the period's end (a round
 * under way is not interrupted; kicks during it are one kick). */
void ticker_kick(struct ticker *t);
/* True once ticker_stop began: lets a long round give up early. */
bool ticker_stopping(struct ticker *t);
/* Wakes the wait, lets the current round finish, joins the thread and
 * frees t. NULL is a no-op. */
void ticker_stop(struct ticker *t);

#endif
