/*
 * spec.h - the simulator's fleet description, parsed from its flags: the
 * platform mix (--platforms rpi-arm64:0.7,cloud-x86-onnx:0.3), label
 * generators (--labels site=wh-{1..20},tier={gold,silver}) and faults per
 * version and platform (--fault 2026.02.01@rpi-arm64:errors=0.03,latency_x=2.5).
 * Pure: parsers take strings and fill structs or an error message; the only
 * randomness is a caller-seeded generator (spec_rng_*).
 */
#ifndef RAMP_SIM_SPEC_H
#define RAMP_SIM_SPEC_H

#include <stddef.h>
#include <stdint.h>

#define SPEC_MAX_PLATFORMS 16
#define SPEC_MAX_LABELS 16
#define SPEC_MAX_VALUES 4096
#define SPEC_MAX_FAULTS 32
#define SPEC_NAME_MAX 129

struct spec_platform {
	char name[64];
	double weight; /* normalised: the weights sum to 1 */
};

struct spec_label {
	char key[64];
	char **values; /* nvalues strings, owned */
	size_t nvalues;
};

/* What goes wrong for devices of `platform` ("" = every platform) running
 * `version`. Unset knobs leave the healthy behaviour alone. */
struct spec_fault {
	char version[SPEC_NAME_MAX];
	char platform[64];
	double errors;           /* error rate replacing the healthy one; < 0 unset */
	double latency_x;        /* latency multiplier, 1 when unset */
	double confidence_shift; /* subtracted from the mean confidence, 0 unset */
	double install_fail;     /* probability an install of version fails */
};

struct spec {
	struct spec_platform platforms[SPEC_MAX_PLATFORMS];
	size_t nplatforms;
	struct spec_label labels[SPEC_MAX_LABELS];
	size_t nlabels;
	struct spec_fault faults[SPEC_MAX_FAULTS];
	size_t nfaults;
};

/* Parses "name:weight,name:weight" (a bare name weighs 1) into s->platforms,
 * replacing what was there. 0, or -1 with a message in err. */
int spec_parse_platforms(struct spec *s, const char *text, char *err, size_t errlen);
/* Parses "k=pattern,k=pattern" and appends label generators; a pattern may
 * hold one brace group, a range {1..20} or a list {a,b}. 0 or -1 and err. */
int spec_parse_labels(struct spec *s, const char *text, char *err, size_t errlen);
/* Parses "version[@platform]:knob=value,..." (knobs errors, latency_x,
 * confidence_shift, install_fail) and appends a fault. 0 or -1 and err. */
int spec_parse_fault(struct spec *s, const char *text, char *err, size_t errlen);
/* The first fault for (version, platform), or NULL when it runs healthy. */
const struct spec_fault *spec_fault_for(const struct spec *s, const char *version,
					const char *platform);
/* Platform index of device i of n: exact shares, interleaved, deterministic. */
size_t spec_platform_of(const struct spec *s, size_t i, size_t n);
/* Frees the label values; the struct may be parsed into again. */
void spec_free(struct spec *s);

/* A small fast generator (splitmix64); seed it with spec_rng_seed(). */
struct spec_rng {
	uint64_t s;
};
void spec_rng_seed(struct spec_rng *r, uint64_t seed);
uint64_t spec_rng_next(struct spec_rng *r);
/* Uniform in [0, 1). */
double spec_rng_unit(struct spec_rng *r);
/* Standard normal (Box-Muller). */
double spec_rng_normal(struct spec_rng *r);

#endif
