/*
 * pgembed.h - the embedded PostgreSQL default (DESIGN.md "Embedded
 * default"): initdb on first start under $RAMP_DATA_DIR/pg, start with
 * pg_ctl (Unix socket in that directory, no TCP), adopt a postmaster left
 * running by a killed rampd, stop on shutdown. As root, initdb and postgres
 * run as the `postgres` system user.
 */
#ifndef RAMP_PGEMBED_H
#define RAMP_PGEMBED_H

#include <stddef.h>

struct pgembed {
	char bindir[4096];
	char pgdir[4096];
	char conninfo[4300];
	int started; /* we (or an earlier rampd) started it; stop it at exit */
};

/* Prepares and starts the cluster under data_dir/pg; fills e->conninfo.
 * bindir may be empty (found from pg_config or /usr/lib/postgresql). 0, or
 * (logged) RAMP_ENOTFOUND without binaries, RAMP_ETOOBIG for a data directory
 * too deep for a unix socket, RAMP_EIO, RAMP_EUNAVAIL or RAMP_EINTERNAL
 * otherwise. */
int pgembed_start(struct pgembed *e, const char *data_dir, const char *bindir);
/* Stops the cluster (fast mode) if pgembed_start started or adopted it. */
void pgembed_stop(struct pgembed *e);

#endif
