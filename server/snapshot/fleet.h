/*
 * fleet.h - the snapshot's device table: one compact record per device
 * (its id, its device token's SHA-256, its answer class) and two
 * open-addressing indexes over the records, by id and by token hash, with
 * binary keys. A device's extra tokens (a rotation's grace period) sit in
 * a side list. Records are reused after a delete; nothing is copied to
 * change one device. Not thread-safe: the snapshot guards it (snapshot.c).
 */
#ifndef RAMP_FLEET_H
#define RAMP_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLEET_NONE UINT32_MAX

struct fleet;

/* 64 bytes: one cache line per device on the poll path. seen and version
 * are written by polls under the snapshot's read lock: __atomic only. */
struct fleet_dev {
	unsigned char tok[32]; /* the first token's hash; has_tok false: none */
	int64_t tok_expires;   /* unix s; 0: never */
	char *id;              /* NULL: a free record */
	uint32_t cls;          /* the answer class (snapshot's class table) */
	uint32_t extra;        /* first extra token + 1; 0: none */
	uint32_t seen;         /* the last poll, unix s; 0: none since loaded */
	uint16_t version;      /* the agent version it sent (snapshot.c's table); 0: none */
	uint8_t has_tok;
	uint8_t pad;
};

struct fleet *fleet_new(void);
void fleet_free(struct fleet *f);
size_t fleet_size(const struct fleet *f);
/* Bytes the table holds (records, indexes, ids), for figures. */
size_t fleet_bytes(const struct fleet *f);

/* The record of device id, or FLEET_NONE. */
uint32_t fleet_find(const struct fleet *f, const char *id);
/* The device whose token hashes to h and has not expired at now (unix s),
 * or FLEET_NONE. */
uint32_t fleet_find_token(const struct fleet *f, const unsigned char h[32], int64_t now);
const struct fleet_dev *fleet_get(const struct fleet *f, uint32_t idx);
/* The record to note a poll in (seen, version: __atomic stores only). */
struct fleet_dev *fleet_poll_rec(struct fleet *f, uint32_t idx);

/* Adds device id (class cls) or, when present, sets its class; *idx its
 * record. 0 or RAMP_ENOMEM. */
int fleet_put(struct fleet *f, const char *id, uint32_t cls, uint32_t *idx);
/* Sets the class of a present record. */
void fleet_set_class(struct fleet *f, uint32_t idx, uint32_t cls);
/* Removes the record and its tokens. */
void fleet_del(struct fleet *f, uint32_t idx);
/* Forgets every token of the record. */
void fleet_clear_tokens(struct fleet *f, uint32_t idx);
/* Adds a token (h, expires unix s, 0: never) to the record; a hash already
 * held by another device moves to this one. 0 or RAMP_ENOMEM. */
int fleet_add_token(struct fleet *f, uint32_t idx, const unsigned char h[32], int64_t expires);

/* Calls fn for every device, in no particular order. */
void fleet_each(const struct fleet *f, void (*fn)(void *ctx, uint32_t idx,
						  const struct fleet_dev *d),
		void *ctx);
/* Calls fn for every token of record idx. */
void fleet_each_token(const struct fleet *f, uint32_t idx,
		      void (*fn)(void *ctx, const unsigned char h[32], int64_t expires),
		      void *ctx);

#endif
