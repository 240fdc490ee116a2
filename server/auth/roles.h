/*
 * roles.h - who a request is: the role bits a route allows and the
 * identity authentication finds for a bearer token or a device certificate.
 * Sits in auth/, below http and api, so both and auth itself can name them.
 */
#ifndef RAMP_ROLES_H
#define RAMP_ROLES_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The one table of roles: X(NAME, name, index, token), in index order.
 * index is the role's bit number (ROLE_NAME = 1 << index) and its slot in
 * every per-role array (rate limits, metrics); name is how the API, the
 * database and the metrics spell it, and RAMP_RATE_<NAME> its setting;
 * token is 1 when an API token may carry it (device identities come from
 * enrollment, never from POST /v1/tokens). Add a role here and nowhere else.
 */
#define RAMP_ROLES(X)                                                          \
	X(ADMIN, "admin", 0, 1)                                                \
	X(OPERATOR, "operator", 1, 1)                                          \
	X(VIEWER, "viewer", 2, 1)                                              \
	X(CI, "ci", 3, 1)                                                      \
	X(ENROLL, "enroll", 4, 1)                                              \
	X(INGEST, "ingest", 5, 1)                                              \
	X(DEVICE, "device", 6, 0)

enum {
#define ROLE_BIT_(N, n, i, t) ROLE_##N = 1 << (i),
	RAMP_ROLES(ROLE_BIT_)
#undef ROLE_BIT_
};
enum {
#define ROLE_INDEX_(N, n, i, t) ROLE_INDEX_##N = (i),
	RAMP_ROLES(ROLE_INDEX_)
#undef ROLE_INDEX_
};
enum {
#define ROLE_ONE_(N, n, i, t) +1
	ROLE_COUNT = 0 RAMP_ROLES(ROLE_ONE_) /* roles, and slots of per-role arrays */
#undef ROLE_ONE_
};
/* ", admin, operator, ..." for the roles a token may carry: skip 2 bytes. */
#define ROLE_TOKEN_1_(n) ", " n
#define ROLE_TOKEN_0_(n)
#define ROLE_TOKEN_(N, n, i, t) ROLE_TOKEN_##t##_(n)
#define ROLE_TOKEN_NAMES (RAMP_ROLES(ROLE_TOKEN_) + 2)

#define ROLES_PUBLIC 0
#define ROLES_ADMIN (ROLE_ADMIN)
#define ROLES_OPERATE (ROLE_ADMIN | ROLE_OPERATOR)
#define ROLES_VIEW (ROLE_ADMIN | ROLE_OPERATOR | ROLE_VIEWER)
#define ROLES_ANY ((1 << ROLE_COUNT) - 1)

struct auth {
	int role;              /* one ROLE_* bit */
	const char *name;      /* token name, the actor in the audit log */
	const char *device_id; /* for ROLE_DEVICE */
	uint64_t epoch;        /* auth_epoch() when the lookup began */
};

#endif
