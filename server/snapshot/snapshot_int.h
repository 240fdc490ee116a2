/*
 * snapshot_int.h - the snapshot's inside, shared by snapshot.c (building,
 * swapping, reference counting, lookups) and answers.c (the precomputed
 * desired answers and their ETags). Not for use outside server/snapshot/.
 *
 * Everything here lives in the snapshot's arena or in jansson values it
 * owns (owned), and is never changed once the snapshot is current.
 */
#ifndef RAMP_SNAPSHOT_INT_H
#define RAMP_SNAPSHOT_INT_H

#include "snapshot/snapshot.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The "models" array of an answer as JSON text, with its hash for ETags. */
struct snap_answer {
	const char *text;
	size_t len;
	uint64_t hash;
};

struct snap_device {
	const char *id;
	const char *platform;
	json_t *pins;         /* NULL when none */
	const char *pins_text;
	const struct snap_answer *answer; /* shared by its class of devices */
};

/* A device token; it stops working at expires_at (unix s, 0: never) even
 * while this snapshot is still current (rotation grace periods). */
struct snap_token {
	const struct snap_device *device;
	int64_t expires_at;
	const char *hash; /* hex; the key of the tokens map */
};

struct snap_manifest {
	const char *text_b64, *signature, *key_id;
	json_t *variants; /* [{platform, file, digest, url?, size?}] */
};

struct snap_rollout {
	int64_t id;
	const char *version, *baseline, *stage_name, *state;
	struct strmap *assigned; /* device id -> (void *)1 */
};

struct snap_model {
	const char *name, *stable;
	struct snap_rollout *rollout;
};

struct snapshot {
	atomic_int refs;
	struct arena *arena;
	struct strmap *devices, *manifests, *models, *rollouts_by_id;
	struct strmap *tokens;  /* device token hash (hex) -> struct snap_token */
	struct strmap *classes; /* answer class key -> answer text */
	uint64_t generation;
	uint64_t marks; /* snapshot_mark_stale() calls before it began reading */
	json_t *owned; /* an array holding every json value above */
};

/* Precomputes every device's answer (one text per class of devices) while
 * s is being built. 0 or RAMP_E*. */
int snapshot_build_answers(struct snapshot *s, const char *server_url);

#endif
