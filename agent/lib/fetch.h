/*
 * fetch.h - resumable downloads for agents: bytes go to a ".part" file and a
 * later attempt asks for the rest with Range (API.md: artifacts answer 206).
 *
 * Nothing here decides whether the bytes are good; verify.h does.  The
 * SHA-256 of the whole file is computed while it is written (a resumed
 * prefix is read once at the start), so the caller need not read it again.  The caller renames the part file once it verifies.
 */
#ifndef RAMP_AGENT_FETCH_H
#define RAMP_AGENT_FETCH_H

#include <signal.h>
#include <stdint.h>

#include "common/err.h"
#include "ctl.h"

struct fetch_req {
	const char *url;
	const char *token;	/* sent as a Bearer token when not NULL */
	const struct ctl *tls;	/* its CA bundle (and client certificate with with_cert); may be NULL */
	int with_cert;
	int64_t max_bytes;	/* the file may not grow past this (the signed size, or a cap) */
	const volatile sig_atomic_t *cancel; /* stops the transfer when set */
};

struct fetch_result {
	int64_t bytes;		/* size of the part file afterwards */
	int64_t resumed_from;	/* bytes already there when this attempt started */
	int http_status;
	int hashed;		/* sha256 holds the whole part file's digest (when 0 is returned) */
	char sha256[65];	/* hex, hashed while the bytes were written (and the resumed prefix read) */
};

/*
 * Downloads req->url into part, continuing a partial file with a Range
 * request (a server that ignores Range, answering 200, restarts it).
 * Returns 0 when the server delivered the whole file; RAMP_EIO when the
 * transfer broke off (the part file is kept for the next attempt) or the
 * server answered an error (err->field "space" when the disk is full);
 * RAMP_ETOOBIG (part file removed) when the file
 * would grow past max_bytes.  *res is filled either way.
 */
int fetch_resume(const struct fetch_req *req, const char *part, struct fetch_result *res,
		 struct ramp_err *err);

#endif
