/*
 * roles.h - who a request is: the role bits a route allows and the
 * identity authentication finds for a bearer token or a device certificate.
 * Sits in auth/, below http and api, so both and auth itself can name them.
 */
#ifndef RAMP_ROLES_H
#define RAMP_ROLES_H

#include <stdbool.h>
#include <stdint.h>

enum {
	ROLE_ADMIN = 1 << 0,
	ROLE_OPERATOR = 1 << 1,
	ROLE_VIEWER = 1 << 2,
	ROLE_CI = 1 << 3,
	ROLE_ENROLL = 1 << 4,
	ROLE_INGEST = 1 << 5,
	ROLE_DEVICE = 1 << 6,
};
#define ROLES_PUBLIC 0
#define ROLES_ADMIN (ROLE_ADMIN)
#define ROLES_OPERATE (ROLE_ADMIN | ROLE_OPERATOR)
#define ROLES_VIEW (ROLE_ADMIN | ROLE_OPERATOR | ROLE_VIEWER)
#define ROLES_ANY 0x7f

struct auth {
	int role;              /* one ROLE_* bit */
	const char *name;      /* token name, the actor in the audit log */
	const char *device_id; /* for ROLE_DEVICE */
	uint64_t epoch;        /* auth_epoch() when the lookup began */
};

#endif
