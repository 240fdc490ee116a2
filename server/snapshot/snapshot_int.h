/*
 * snapshot_int.h - the snapshot's inside, shared by snapshot.c (the object,
 * its lock, lookups), build.c (loading it whole, and changing it in place
 * after a write) and answers.c (the answer classes and their texts). Not
 * for use outside server/snapshot/.
 *
 * A snapshot is three parts:
 *  - the fleet (fleet.h): one compact record per device, with its token
 *    hashes and the number of its answer class;
 *  - the catalog: models and their stable versions, signed manifests, the
 *    active rollouts. Small; replaced whole when any of it changes;
 *  - the classes: devices with the same platform, pins and rollout
 *    memberships get the same "models" text, kept once per class with its
 *    hash. A catalog change recomputes every class's text and touches no
 *    device; a device joining a rollout moves to another class.
 * Readers hold the read lock for one lookup; changes take the write lock
 * for as long as applying them takes, never for a database read.
 */
#ifndef RAMP_SNAPSHOT_INT_H
#define RAMP_SNAPSHOT_INT_H

#include "common/strlist.h"
#include "snapshot/fleet.h"
#include "snapshot/snapshot.h"

#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct snap_manifest {
	const char *text_b64, *signature, *key_id;
	json_t *variants; /* [{platform, file, digest, url?, size?}] */
};

struct snap_rollout {
	int64_t id;
	const char *version, *baseline, *stage_name, *state;
	/* maintenance windows (docs/windows.md): the next opening held devices
	 * are told (0: none), whether the current stage has windows, and
	 * whether this is a rollback waiting for a window to send its devices back */
	int64_t opens_at;
	bool windowed, reverting;
	/* shadow runs (docs/judge.md): the current stage's shadow_fraction;
	 * 0 when it is not a shadow stage */
	double shadow;
	json_t *back; /* platforms a per-variant rollback sent back (docs/judge.md), or NULL */
	json_t *opens_by; /* label_windows: {"<ramp.window value>" or "": unix s}; NULL: none */
};

/* A delta from one artifact to another, in the artifact store. */
struct snap_delta {
	const char *digest, *to;
	int64_t size;
};

struct snap_model {
	const char *name, *stable;
	json_t *by_platform; /* {platform: version} kept back from stable, or NULL */
	struct snap_rollout *rollout; /* the active one, or NULL */
};

struct catalog {
	struct arena *arena;
	struct strmap *manifests; /* "model@version" -> struct snap_manifest */
	struct strmap *models;    /* name -> struct snap_model */
	struct strmap *rollouts;  /* id (decimal) -> struct snap_rollout, active only */
	struct strmap *deltas;    /* "<from digest>><to digest>", and the delta's own
				   * digest -> struct snap_delta */
	json_t *owned;            /* holds every json value above */
};

/* The "models" array of a class's answer as JSON text, with its hash for ETags. */
struct snap_class {
	char *key;
	char *platform;
	char *pins_text; /* NULL: none */
	json_t *pins;
	char *running_text; /* {model: version} its devices last installed; NULL: none */
	json_t *running;
	char *wlabel; /* its devices' ramp.window label (label_windows); NULL: none */
	int64_t *rollouts; /* ascending by |id|: the rollouts its devices are assigned
			      to, -id where they are held for a maintenance window */
	size_t nrollouts;
	char *text;
	size_t len;
	uint64_t hash;
	json_t *models; /* the same as JSON, never changed: copied for DDI */
};

struct snapshot {
	atomic_int refs;
	pthread_rwlock_t lock;
	struct fleet *fleet;
	struct catalog *cat;
	struct snap_class **classes;
	size_t nclasses, capclasses;
	struct strmap *class_ids; /* class key -> id + 1 */
	const char *server_url;
	bool deferred;       /* a whole load: class texts are made at its end */
	uint64_t generation; /* the newest change applied (its number) */
};

/* --- snapshot.c --- */
struct snapshot *snapshot_new(const char *server_url);
void snapshot_free(struct snapshot *s);
/* Makes s current; returns the previous one, whose reference the caller now holds. */
struct snapshot *snapshot_swap(struct snapshot *s);

/* --- build.c, for apply.c --- */
struct load;
extern pthread_mutex_t snapshot_build_mu;
uint64_t snapshot_begin_change(void);
void snapshot_fleet_changed(void);
/* apply.c: after a whole load no earlier device change is reported */
void snapshot_ring_reset(void);
/* Loads a whole snapshot from the store (not made current). */
struct snapshot *snapshot_load_whole(struct app *app, int *rc);
/* A loader that fills cat (may be NULL), and stages the devices named in
 * staged (id -> struct staged, may be NULL) or, with neither s nor staged,
 * collects assigned device ids as members. */
struct staged {
	char *platform, *pins, *running, *wlabel;
	bool exists;
	int64_t *rollouts;
	size_t nrollouts;
	struct {
		unsigned char h[32];
		int64_t exp;
	} *toks;
	size_t ntoks;
};
struct load {
	struct catalog *cat;
	struct snapshot *s;
	struct strmap *staged;
	struct strlist members; /* a rollout's members */
	struct strlist held;    /* and those of them held for a window */
};
struct snapshot_loader snapshot_loader_of(struct load *l);
void snapshot_staged_free(void *ctx, const char *key, void *v);

/* --- answers.c --- */
struct catalog *catalog_new(void);
void catalog_free(struct catalog *c);
/* The class for (platform, pins, running, rollouts), made (and its text
 * computed) when new. *id its number. 0 or RAMP_ENOMEM. Write lock held. */
int class_find(struct snapshot *s, const char *platform, const char *pins_text,
	       const char *running_text, const char *wlabel, const int64_t *rollouts, size_t n,
	       uint32_t *id);
/* The class like cls but also assigned to rollout r (-r: held for a
 * window; either replaces the other). */
int class_with(struct snapshot *s, uint32_t cls, int64_t r, uint32_t *id);
/* Recomputes every class's text from s->cat. 0 or RAMP_ENOMEM. */
int classes_recompute(struct snapshot *s);
void classes_free(struct snapshot *s);

#endif
