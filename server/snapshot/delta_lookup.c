/*
 * delta_lookup.c - whether an artifact of the store is a delta the catalog
 * knows, for the download counters (bytes saved) in api/artifacts.c.
 */
#include "snapshot/snapshot_int.h"

#include "common/strmap.h"

#include <stdio.h>
#include <string.h>

bool snapshot_delta_target(struct snapshot *s, const char *digest, char *to, int64_t *size)
{
	const struct snap_delta *d;
	bool found = false;

	if (s == NULL || digest == NULL || strchr(digest, '>'))
		return false;
	pthread_rwlock_rdlock(&s->lock);
	if ((d = strmap_get(s->cat->deltas, digest)) != NULL) {
		snprintf(to, 72, "%s", d->to);
		*size = d->size;
		found = true;
	}
	pthread_rwlock_unlock(&s->lock);
	return found;
}
