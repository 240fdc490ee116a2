/* test_strata.c - stratified canaries: the stratify_by block of a policy
 * (fields, limits, round trip) and the pure choice of domain/strata.c
 * (deterministic, sticky, every stratum represented, small and many strata,
 * and a property test over random fleets against a plain reference). */
#include "common/err.h"
#include "domain/bucket.h"
#include "domain/policy.h"
#include "domain/strata.h"
#include "unit.h"

#include <stdint.h>

static struct policy pol, pol2;

static int parse(const char *text, struct policy *p, struct ramp_err *e)
{
	return policy_parse(text, strlen(text), POLICY_YAML, p, e);
}

static void stratify_by_parses_and_round_trips(void)
{
	static const char y[] = "stages:\n"
				"  - {name: canary, size: 0.05, validation_window: 30m,\n"
				"     stratify_by: [platform, site, example.com/rack], min_per_stratum: 2}\n"
				"  - {name: half, size: 0.5, validation_window: 1h, stratify_by: [site]}\n"
				"  - {name: full, size: 1.0, validation_window: 1h}\n";
	struct ramp_err err;
	json_t *j;
	char *text;

	CHECK_EQ_INT(parse(y, &pol, &err), 0);
	CHECK_EQ_INT(pol.stages[0].strata.nkeys, 3);
	CHECK_EQ_STR(pol.stages[0].strata.keys[0], "platform");
	CHECK_EQ_STR(pol.stages[0].strata.keys[2], "example.com/rack");
	CHECK_EQ_INT(pol.stages[0].strata.min_per_stratum, 2);
	CHECK_EQ_INT(pol.stages[1].strata.min_per_stratum, 1); /* the default */
	CHECK_EQ_INT(pol.stages[2].strata.nkeys, 0);
	j = policy_to_json(&pol);
	CHECK(j != NULL);
	CHECK(json_object_get(json_array_get(json_object_get(j, "stages"), 2), "stratify_by") == NULL);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	CHECK(strstr(text, "\"stratify_by\":[\"platform\",\"site\",\"example.com/rack\"]") != NULL);
	CHECK_EQ_INT(policy_parse(text, strlen(text), POLICY_JSON, &pol2, &err), 0);
	free(text);
	CHECK(policy_equal(&pol, &pol2));
	pol2.stages[0].strata.min_per_stratum = 3;
	CHECK(!policy_equal(&pol, &pol2));
	pol2.stages[0].strata.min_per_stratum = 2;
	snprintf(pol2.stages[0].strata.keys[1], sizeof(pol2.stages[0].strata.keys[1]), "room");
	CHECK(!policy_equal(&pol, &pol2));
}

static void bad_stratify_blocks_name_the_field(void)
{
	static const struct {
		const char *stage, *field;
	} bad[] = {
		{"stratify_by: platform", "stages[0].stratify_by"},
		{"stratify_by: []", "stages[0].stratify_by"},
		{"stratify_by: [a, b, c, d, e]", "stages[0].stratify_by"},
		{"stratify_by: {platform: 1}", "stages[0].stratify_by"},
		{"stratify_by: [platform, 7]", "stages[0].stratify_by[1]"},
		{"stratify_by: [\"Bad Key!\"]", "stages[0].stratify_by[0]"},
		{"stratify_by: [\"-site\"]", "stages[0].stratify_by[0]"},
		{"stratify_by: [site, platform, site]", "stages[0].stratify_by[2]"},
		{"stratify_by: [site], min_per_stratum: 0", "stages[0].min_per_stratum"},
		{"stratify_by: [site], min_per_stratum: 1001", "stages[0].min_per_stratum"},
		{"stratify_by: [site], min_per_stratum: \"2\"", "stages[0].min_per_stratum"},
		{"stratify_by: [site], min_per_stratum: 1.5", "stages[0].min_per_stratum"},
		{"min_per_stratum: 2", "stages[0].min_per_stratum"},
		{"stratify: [site]", "stages[0].stratify"},
	};
	struct ramp_err err;
	char y[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(y, sizeof(y),
			 "stages:\n  - {name: all, size: 1.0, validation_window: 1h, %s}\n",
			 bad[i].stage);
		CHECK_EQ_INT(parse(y, &pol, &err), RAMP_EINVAL);
		CHECK_EQ_STR(err.field, bad[i].field);
		CHECK_EQ_INT(pol.nstages, 0); /* nothing half parsed */
	}
	snprintf(y, sizeof(y), "stages:\n  - {name: all, size: 1.0, validation_window: 1h,"
			       " stratify_by: [a, b, c, d], min_per_stratum: 1000}\n");
	CHECK_EQ_INT(parse(y, &pol, &err), 0);
	CHECK_EQ_INT(pol.stages[0].strata.nkeys, 4);
}

/* --- the choice --- */

#define MAXDEV 4096

static char ids[MAXDEV][32], vbuf[MAXDEV][2][24];
static const char *vptr[MAXDEV][2];
static struct strata_device dev[MAXDEV];
static const char *const keys2[] = {"platform", "site"};

/* A policy of sizes[0..n) stratified by (platform, site) in stages with min[i] > 0. */
static void make_policy(struct policy *p, const double *sizes, const int *min, size_t n)
{
	memset(p, 0, sizeof(*p));
	p->nstages = n;
	for (size_t i = 0; i < n; i++) {
		snprintf(p->stages[i].name, sizeof(p->stages[i].name), "s%zu", i);
		p->stages[i].size = sizes[i];
		if (min[i] > 0) {
			p->stages[i].strata.nkeys = 2;
			strcpy(p->stages[i].strata.keys[0], "platform");
			strcpy(p->stages[i].strata.keys[1], "site");
			p->stages[i].strata.min_per_stratum = min[i];
		}
	}
}

static uint64_t rng = 88172645463325252ULL;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

/* n devices; device i's platform and site from the callbacks (NULL: absent). */
static void make_fleet(size_t n, int (*plat)(size_t), int (*site)(size_t))
{
	for (size_t i = 0; i < n; i++) {
		int pl = plat(i), st = site(i);
		snprintf(ids[i], sizeof(ids[i]), "dev-%05zu", i);
		snprintf(vbuf[i][0], sizeof(vbuf[i][0]), "p%d", pl);
		snprintf(vbuf[i][1], sizeof(vbuf[i][1]), "site-%d", st);
		vptr[i][0] = vbuf[i][0];
		vptr[i][1] = st < 0 ? NULL : vbuf[i][1];
		dev[i].id = ids[i];
		dev[i].vals = vptr[i];
	}
}

/* 3 platforms x 4 sites, site 3 has just one device per platform. */
static int plat3(size_t i) { return (int)(i % 3); }
static int site4(size_t i) { return i < 3 ? 3 : (int)((i / 3) % 3); }

static int count_in(const char *pl, const char *st, size_t n, bool chosen_only)
{
	int c = 0;
	for (size_t i = 0; i < n; i++)
		if ((!chosen_only || dev[i].chosen) && strcmp(dev[i].vals[0], pl) == 0 &&
		    ((st == NULL && dev[i].vals[1] == NULL) ||
		     (st && dev[i].vals[1] && strcmp(dev[i].vals[1], st) == 0)))
			c++;
	return c;
}

static void every_stratum_is_represented_and_small_ones_whole(void)
{
	const double sizes[] = {0.01, 1.0};
	const int min[] = {3, 0};
	size_t cnt, base = bucket_stage_count(0.01, 600);
	char pl[16], st[24];

	make_fleet(600, plat3, site4);
	make_policy(&pol, sizes, min, 2);
	CHECK_EQ_INT(strata_choose(9, &pol, 0, keys2, 2, dev, 600, &cnt), 0);
	for (int p = 0; p < 3; p++)
		for (int s = 0; s < 4; s++) {
			int have, want;
			snprintf(pl, sizeof(pl), "p%d", p);
			snprintf(st, sizeof(st), "site-%d", s);
			have = count_in(pl, st, 600, true);
			want = count_in(pl, st, 600, false) < 3 ? count_in(pl, st, 600, false) : 3;
			CHECK(have >= want);
			if (s == 3)
				CHECK_EQ_INT(have, 1); /* the tiny site: all it has */
		}
	/* on top of the size: the bucket prefix is all in */
	for (size_t i = 0; i < base; i++)
		CHECK(dev[i].chosen);
	CHECK(cnt >= base);
	CHECK(cnt <= base + 12 * 3);
	for (size_t i = 1; i < 600; i++)
		CHECK(dev[i - 1].key <= dev[i].key);
}

static void choice_is_deterministic_whatever_the_input_order(void)
{
	const double sizes[] = {0.02, 1.0};
	const int min[] = {2, 0};
	static char first[600][32];
	size_t cnt, cnt2, m = 0;

	make_fleet(600, plat3, site4);
	make_policy(&pol, sizes, min, 2);
	CHECK_EQ_INT(strata_choose(5, &pol, 0, keys2, 2, dev, 600, &cnt), 0);
	for (size_t i = 0; i < 600; i++)
		if (dev[i].chosen)
			snprintf(first[m++], sizeof(first[0]), "%s", dev[i].id);
	/* shuffle, and ask again */
	for (size_t i = 599; i > 0; i--) {
		size_t j = next_rand() % (i + 1);
		struct strata_device t = dev[i];
		dev[i] = dev[j];
		dev[j] = t;
	}
	CHECK_EQ_INT(strata_choose(5, &pol, 0, keys2, 2, dev, 600, &cnt2), 0);
	CHECK_EQ_INT(cnt, cnt2);
	m = 0;
	for (size_t i = 0; i < 600; i++)
		if (dev[i].chosen)
			CHECK_EQ_STR(dev[i].id, first[m++]);
	/* another rollout draws other devices */
	CHECK_EQ_INT(strata_choose(6, &pol, 0, keys2, 2, dev, 600, &cnt2), 0);
	m = 0;
	{
		int same = 1;
		for (size_t i = 0; i < 600 && m < cnt; i++)
			if (dev[i].chosen && strcmp(dev[i].id, first[m++]) != 0)
				same = 0;
		CHECK(!same);
	}
}

static void later_stages_keep_earlier_members(void)
{
	/* the middle stage is not stratified itself: it still keeps the canary's strata */
	const double sizes[] = {0.01, 0.1, 0.4, 1.0};
	const int min[] = {2, 0, 5, 0};
	static bool prev[MAXDEV];
	size_t cnt, last = 0;

	make_fleet(900, plat3, site4);
	memset(prev, 0, sizeof(prev));
	make_policy(&pol, sizes, min, 4);
	for (int k = 0; k < 4; k++) {
		CHECK_EQ_INT(strata_choose(77, &pol, k, keys2, 2, dev, 900, &cnt), 0);
		/* dev is sorted by bucket key the same way each time: compare by index */
		for (size_t i = 0; i < 900; i++) {
			if (prev[i])
				CHECK(dev[i].chosen);
			prev[i] = dev[i].chosen;
		}
		CHECK(cnt >= last);
		last = cnt;
	}
	CHECK_EQ_INT(last, 900);
}

static void an_absent_label_is_a_stratum_of_its_own(void)
{
	const double sizes[] = {0.001, 1.0};
	const int min[] = {1, 0};
	size_t cnt;

	make_fleet(300, plat3, site4);
	/* p0 devices 30 and 60 have no site; device 90 has an empty one */
	vptr[30][1] = NULL;
	vptr[60][1] = NULL;
	strcpy(vbuf[90][1], "");
	make_policy(&pol, sizes, min, 2);
	CHECK_EQ_INT(strata_choose(3, &pol, 0, keys2, 2, dev, 300, &cnt), 0);
	CHECK_EQ_INT(count_in("p0", NULL, 300, true), 1);
	CHECK_EQ_INT(count_in("p0", "", 300, true), 1);
	/* 3 x 4 strata, the no-site one and the empty-site one, one device each
	 * (the prefix of 1 is one of them) */
	CHECK_EQ_INT(cnt, 14);
}

static int plat_many(size_t i) { return (int)(i % 50); }
static int site_many(size_t i) { return (int)((i / 50) % 40); }

static void many_strata_each_get_their_minimum(void)
{
	/* 50 platforms x 40 sites: 2000 strata of 2 devices each */
	const double sizes[] = {0.001, 1.0};
	const int min[] = {1, 0};
	size_t cnt;
	char pl[16], st[24];

	make_fleet(4000, plat_many, site_many);
	make_policy(&pol, sizes, min, 2);
	CHECK_EQ_INT(strata_choose(11, &pol, 0, keys2, 2, dev, 4000, &cnt), 0);
	/* one per stratum, plus the prefix of 4 where it doubles a stratum */
	CHECK(cnt >= 2000 && cnt <= 2000 + bucket_stage_count(0.001, 4000));
	for (int p = 0; p < 50; p++)
		for (int s = 0; s < 40; s++) {
			snprintf(pl, sizeof(pl), "p%d", p);
			snprintf(st, sizeof(st), "site-%d", s);
			CHECK(count_in(pl, st, 4000, true) >= 1);
		}
}

static void an_unstratified_stage_is_the_bucket_prefix(void)
{
	const double sizes[] = {0.1, 1.0};
	const int min[] = {0, 0};
	static struct bucket_entry e[500];
	size_t cnt;

	make_fleet(500, plat3, site4);
	make_policy(&pol, sizes, min, 2);
	CHECK(!strata_wanted(&pol, 1));
	CHECK_EQ_INT(strata_choose(21, &pol, 0, keys2, 2, dev, 500, &cnt), 0);
	CHECK_EQ_INT(cnt, 50);
	for (int i = 0; i < 500; i++)
		e[i].device_id = ids[i];
	bucket_order(21, e, 500);
	for (int i = 0; i < 500; i++) {
		CHECK_EQ_STR(dev[i].id, e[i].device_id);
		CHECK_EQ_INT(dev[i].chosen, i < 50);
	}
	/* a key the caller did not read is an error, not a silent skip */
	pol.stages[0].strata.nkeys = 1;
	strcpy(pol.stages[0].strata.keys[0], "rack");
	pol.stages[0].strata.min_per_stratum = 1;
	CHECK_EQ_INT(strata_choose(21, &pol, 0, keys2, 2, dev, 500, &cnt), RAMP_EINVAL);
}

/* The reference: stage k's members by the definition, one stratum at a time. */
static bool reference_member(size_t i, size_t n, const struct policy *p, int k)
{
	if (i < bucket_stage_count(p->stages[k].size, n))
		return true;
	for (int j = 0; j <= k; j++) {
		int before = 0;
		if (p->stages[j].strata.nkeys == 0)
			continue;
		for (size_t x = 0; x < i; x++) /* same stratum, earlier in bucket order */
			if (strcmp(dev[x].vals[0], dev[i].vals[0]) == 0 &&
			    ((dev[x].vals[1] == NULL && dev[i].vals[1] == NULL) ||
			     (dev[x].vals[1] && dev[i].vals[1] &&
			      strcmp(dev[x].vals[1], dev[i].vals[1]) == 0)))
				before++;
		if (before < p->stages[j].strata.min_per_stratum)
			return true;
	}
	return false;
}

static size_t rnd_np, rnd_ns;
static int plat_rnd(size_t i) { (void)i; return (int)(next_rand() % rnd_np); }
static int site_rnd(size_t i) { (void)i; return (int)(next_rand() % (rnd_ns + 1)) - 1; }

static void property_random_fleets_match_the_reference(void)
{
	for (int run = 0; run < 150; run++) {
		size_t n = 1 + next_rand() % 700, cnt;
		double s0 = (1 + next_rand() % 200) / 1000.0;
		const double sizes[] = {s0, s0 * 2, 1.0};
		const int min[] = {1 + (int)(next_rand() % 4), 0, (int)(next_rand() % 3)};
		static bool prev[MAXDEV];
		size_t last = 0;

		rnd_np = 1 + next_rand() % 6;
		rnd_ns = 1 + next_rand() % 12;
		make_fleet(n, plat_rnd, site_rnd);
		make_policy(&pol, sizes, min, 3);
		memset(prev, 0, sizeof(prev));
		for (int k = 0; k < 3; k++) {
			size_t want = 0;
			CHECK_EQ_INT(strata_choose(1000 + run, &pol, k, keys2, 2, dev, n, &cnt), 0);
			for (size_t i = 0; i < n; i++) {
				bool ref = reference_member(i, n, &pol, k);
				want += ref;
				if (dev[i].chosen != ref) {
					CHECK_EQ_INT(dev[i].chosen, ref);
					break;
				}
				if (prev[i])
					CHECK(dev[i].chosen); /* sticky */
				prev[i] = dev[i].chosen;
			}
			CHECK_EQ_INT(cnt, want);
			CHECK(cnt >= last);
			last = cnt;
		}
		CHECK_EQ_INT(last, n);
		if (unit_failures_)
			break;
	}
}

static const struct unit_case cases[] = {
	UNIT(stratify_by_parses_and_round_trips),
	UNIT(bad_stratify_blocks_name_the_field),
	UNIT(every_stratum_is_represented_and_small_ones_whole),
	UNIT(choice_is_deterministic_whatever_the_input_order),
	UNIT(later_stages_keep_earlier_members),
	UNIT(an_absent_label_is_a_stratum_of_its_own),
	UNIT(many_strata_each_get_their_minimum),
	UNIT(an_unstratified_stage_is_the_bucket_prefix),
	UNIT(property_random_fleets_match_the_reference),
	{0},
};
UNIT_MAIN(cases)
