/*
 * sim.h - ramp-sim's shared state: options, the devices, the event heap and
 * the counters. The flow: main.c parses flags into struct sim_opts;
 * enroll.c registers devices in bulk (or reads a tokens file); fleet.c runs
 * the loop in which every device polls GET /v1/agent/desired, installs what
 * it is told (status downloading/verifying/installed|failed) and reports
 * telemetry; flood.c is the telemetry load generator `make bench` uses;
 * report.c prints progress and the summary. One thread, one libcurl multi.
 */
#ifndef RAMP_SIM_H
#define RAMP_SIM_H

#include "buf.h"
#include "gen.h"
#include "net.h"
#include "sched.h"
#include "spec.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_MAX_MODELS 4
#define SIM_MAX_STRINGS 4096

enum sim_ev { EV_POLL, EV_REPORT, EV_INSTALL, EV_COUNT };
enum sim_tmode { TELEM_DEVICE, TELEM_GATEWAY, TELEM_OFF };

struct sim_opts {
	const char *server, *token, *prefix, *tokens_in, *tokens_out, *stats_file;
	const char *ingest_token;
	long devices, late, enroll_batch;
	double late_after_s;
	double poll_s;      /* 0: follow the server's poll_after_s */
	double jitter;      /* fraction of the interval */
	double report_s;    /* telemetry interval */
	double rps;         /* requests a device serves per second */
	double install_s;   /* simulated download time */
	double duration_s;  /* 0: until a signal */
	double flood_s;     /* >0: telemetry flood mode */
	const char *flood_model; /* "model:version" */
	int gateway_batch;  /* gateway mode: reports per POST */
	int concurrency;
	int once;           /* every device polls once, then exit */
	int download;       /* really fetch artifacts and check digests */
	int json, quiet;
	double progress_s;
	enum sim_tmode telemetry;
	uint64_t seed;
};

struct dev_model {
	uint16_t model, running, desired, target, failed, previous;
	uint8_t step;
};

struct device {
	char *id, *token;
	float speed;
	uint8_t platform;
	uint8_t nmodels;
	uint8_t busy : 1, queued : 1, active : 1, polled : 1;
	uint8_t pending; /* bit per enum sim_ev */
	uint8_t sent;    /* reports in the telemetry request in flight */
	uint64_t due[EV_COUNT];
	struct dev_model m[SIM_MAX_MODELS];
	char etag[48];
};

struct variant {
	uint16_t model, version, platform;
	char *url;
	char digest[80];
};

struct sim_stats {
	uint64_t polls, polls_200, polls_304, poll_errors;
	uint64_t reports_sent, reports_accepted, reports_rejected, telemetry_posts,
		telemetry_errors;
	uint64_t status_posts, status_errors, installs, install_failures, downloads,
		download_bytes, digest_mismatches;
	uint64_t enrolled, enroll_errors;
	double poll_secs_sum, poll_secs_max;
};

/* Per platform, for the summary ("a platform with no variant is left alone"). */
struct plat_stats {
	uint64_t polls, status_posts, installs, install_failures, reports;
};

struct sim {
	struct sim_opts o;
	struct spec spec;
	struct gen_params gen;
	struct spec_rng rng;
	struct net *net;
	struct sched sched;
	struct device *devs;
	size_t ndevs, nactive; /* allocated (devices + late), enrolled so far */
	uint32_t *ready;       /* ring of devices with pending work */
	size_t ready_head, ready_len;
	char *strings[SIM_MAX_STRINGS];
	size_t nstrings;
	struct variant *variants;
	size_t nvariants;
	struct buf gw;         /* gateway mode: reports waiting to be posted */
	size_t gw_count;
	uint64_t gw_last_ms;
	int gw_inflight;
	struct sim_stats st, last; /* last: at the previous progress line */
	struct plat_stats plat[SPEC_MAX_PLATFORMS];
	uint64_t reports_dropped;
	uint64_t start_ms, last_progress_ms, last_stats_ms;
	int server_poll_s;
	int late_done, once_left;
	char ingest_tok[256];
	volatile sig_atomic_t *stop, *late_signal;
};

/* Milliseconds on the monotonic clock. */
uint64_t sim_now_ms(void);
/* Unix time now, in seconds. */
double sim_wall(void);
/* The index of s in the string table, adding it; 0 is "" (and errors). */
uint16_t sim_intern(struct sim *s, const char *str);
/* Makes the devices array for o.devices + o.late devices; 0 or -1. */
int sim_alloc_devices(struct sim *s);

/* enroll.c: registers devices [from, to) in bulk with the operator token,
 * waiting until done; 0 or -1 (message on stderr). */
int enroll_range(struct sim *s, size_t from, size_t to);
/* enroll.c: the number of lines in a tokens file, or -1 (message on stderr). */
long enroll_count(const char *path);
/* enroll.c: loads devices from o.tokens_in ("id token platform" lines). */
int enroll_load(struct sim *s);
/* enroll.c: writes "id token platform etag" lines to o.tokens_out. */
int enroll_save(struct sim *s);
/* enroll.c: makes an ingest token with the admin token (gateway, flood). */
int enroll_ingest_token(struct sim *s);

/* fleet.c: the device loop, until stop, duration or once; 0 or -1. */
int fleet_run(struct sim *s);
/* flood.c: posts telemetry batches as fast as the slots allow for o.flood_s. */
int flood_run(struct sim *s);

/* report.c */
void report_progress(struct sim *s, uint64_t now_ms, int final);
void report_summary(struct sim *s, FILE *f, int json);
void report_stats_file(struct sim *s);

#endif
