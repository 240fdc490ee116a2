/*
 * sched.h - the simulator's timer queue: a binary min-heap of (due time,
 * device, kind) events. One heap serves every device, so 100,000 devices
 * cost 100,000 small entries, not threads or timers. Entries are never
 * removed early: a device that reschedules pushes a new entry, and the
 * caller drops popped entries whose time no longer matches the device's.
 */
#ifndef RAMP_SIM_SCHED_H
#define RAMP_SIM_SCHED_H

#include <stddef.h>
#include <stdint.h>

struct sched_ev {
	uint64_t at_ms;
	uint32_t dev;
	uint32_t kind;
};

struct sched {
	struct sched_ev *h;
	size_t n, cap;
};

/* Adds an event; 0 or -1 when out of memory. */
int sched_push(struct sched *s, uint64_t at_ms, uint32_t dev, uint32_t kind);
/* Removes the earliest event due at or before now into *out; 1 when one
 * was due, 0 otherwise. */
int sched_pop_due(struct sched *s, uint64_t now_ms, struct sched_ev *out);
/* The earliest due time, or UINT64_MAX when empty. */
uint64_t sched_next(const struct sched *s);
void sched_free(struct sched *s);

#endif
