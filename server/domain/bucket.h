/*
 * bucket.h - deterministic, sticky stage membership (API.md "Rollouts"):
 * eligible devices are ordered by the first 8 bytes of
 * SHA-256("<rollout id>:<device id>") read big-endian, and stage k takes the
 * first ceil(size_k x eligible) of them, never 0 when any is eligible.
 */
#ifndef RAMP_BUCKET_H
#define RAMP_BUCKET_H

#include <stddef.h>
#include <stdint.h>

/* The ordering key of device_id in rollout rollout_id. */
uint64_t bucket_key(int64_t rollout_id, const char *device_id);
/* How many of eligible devices a stage of size (0,1] takes. */
size_t bucket_stage_count(double size, size_t eligible);

struct bucket_entry {
	uint64_t key;
	const char *device_id;
};

/* Fills keys for n entries (device_id set by the caller) and sorts them by
 * (key, device_id), so the first bucket_stage_count() are the stage. */
void bucket_order(int64_t rollout_id, struct bucket_entry *e, size_t n);

#endif
