/*
 * test_tuf.c - TUF: canonical JSON bytes against vectors computed
 * independently (python3 json.dumps sort_keys, separators (",", ":"),
 * ensure_ascii=False; RFC 8032's first ed25519 key signing them with the
 * python cryptography package), signature thresholds, expiry, and each
 * refusal of the client workflow on a repository built here.
 */
#include "unit.h"

#include "domain/tuf.h"
#include "domain/tuf_repo.h"

#define NOW 1900000000	/* 2030-03-17 */
#define LATER "2031-01-01T00:00:00Z"
#define PAST "2029-01-01T00:00:00Z"

static const char *const rfc_seed_pem =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
	"-----END PRIVATE KEY-----\n";
static const char *const rfc_pub =
	"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char *const rfc_keyid =
	"74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916";
static const char *const py_sig =
	"7a8dd9d7c7a262ae73113c955956b30680f13ae3e82309e728602d4b46e65cbc"
	"23eb679e04f2cf9f6d403815430843bff564e001557a7422addeda627d1cab0b";

static char *canon(const json_t *v)
{
	struct buf b;
	char *s;

	buf_init(&b, 0);
	if (tuf_cjson(v, &b) != 0)
		return NULL;
	s = strdup(buf_str(&b));
	buf_free(&b);
	return s;
}

static void cjson_matches_python_sort_keys_vector(void)
{
	json_t *v = json_loads("{\"b\":[1,-2,{\"z\":null,\"a\":true}],\"a\":\"q\\\"uo\\\\te\","
			       "\"\xc3\xa9\":\"\xc3\xbcn\xc3\xaf\",\"A\":false,\"\":0}", 0, NULL);
	char *s = canon(v);

	CHECK_EQ_STR(s, "{\"\":0,\"A\":false,\"a\":\"q\\\"uo\\\\te\",\"b\":[1,-2,{\"a\":true,"
			"\"z\":null}],\"\xc3\xa9\":\"\xc3\xbcn\xc3\xaf\"}");
	free(s);
	json_decref(v);
}

static void cjson_escapes_only_quote_and_backslash(void)
{
	json_t *v = json_pack("{s:s}", "k", "a\nb\t\x01/");
	char *s = canon(v);

	CHECK_EQ_STR(s, "{\"k\":\"a\nb\t\x01/\"}");
	free(s);
	json_decref(v);
}

static void cjson_refuses_real_numbers(void)
{
	json_t *v = json_pack("{s:f}", "x", 1.5);
	struct buf b;

	buf_init(&b, 0);
	CHECK_EQ_INT(tuf_cjson(v, &b), RAMP_EINVAL);
	buf_free(&b);
	json_decref(v);
}

static json_t *rfc_key(void)
{
	return json_pack("{s:s, s:s, s:{s:s}}", "keytype", "ed25519", "scheme", "ed25519",
			 "keyval", "public", rfc_pub);
}

static void keyid_is_sha256_of_canonical_key(void)
{
	json_t *k = rfc_key(), *pub = tuf_key_public(rfc_seed_pem);
	char id[65];

	CHECK_EQ_INT(tuf_keyid(k, id), 0);
	CHECK_EQ_STR(id, rfc_keyid);
	CHECK(json_equal(k, pub));
	json_decref(k);
	json_decref(pub);
}

static json_t *py_timestamp(const char *sig)
{
	return json_pack("{s:{s:s, s:s, s:i, s:s, s:{s:{s:i}}}, s:[{s:s, s:s}]}", "signed",
			 "_type", "timestamp", "spec_version", "1.0.31", "version", 3, "expires",
			 "2030-01-01T00:00:00Z", "meta", "snapshot.json", "version", 2, "signatures",
			 "keyid", rfc_keyid, "sig", sig);
}

static json_t *one_key_role(int threshold)
{
	return json_pack("{s:[s], s:i}", "keyids", rfc_keyid, "threshold", threshold);
}

static void verify_accepts_a_signature_made_elsewhere(void)
{
	json_t *doc = py_timestamp(py_sig), *keys = json_pack("{s:o}", rfc_keyid, rfc_key());
	json_t *role = one_key_role(1), *mine = py_timestamp(py_sig);
	struct ramp_err err;

	CHECK_EQ_INT(tuf_verify_role(doc, keys, role, "timestamp", &err), 0);
	/* ed25519 is deterministic: our signature is python's, byte for byte */
	json_object_set_new(mine, "signatures", json_array());
	CHECK_EQ_INT(tuf_sign(mine, rfc_seed_pem, &err), 0);
	CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(
			     json_object_get(mine, "signatures"), 0), "sig")), py_sig);
	json_decref(doc);
	json_decref(keys);
	json_decref(role);
	json_decref(mine);
}

static void verify_refuses_changed_bytes_and_short_thresholds(void)
{
	json_t *doc = py_timestamp(py_sig), *keys = json_pack("{s:o}", rfc_keyid, rfc_key());
	json_t *role2 = one_key_role(2), *role1 = one_key_role(1);
	struct ramp_err err;

	/* the same signature twice is still one key */
	json_array_append(json_object_get(doc, "signatures"),
			  json_array_get(json_object_get(doc, "signatures"), 0));
	CHECK_EQ_INT(tuf_verify_role(doc, keys, role2, "timestamp", &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "threshold");
	json_object_set_new(json_object_get(doc, "signed"), "version", json_integer(4));
	CHECK_EQ_INT(tuf_verify_role(doc, keys, role1, "timestamp", &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "threshold");
	json_decref(doc);
	json_decref(keys);
	json_decref(role1);
	json_decref(role2);
}

static void time_parses_and_formats_rfc3339_utc(void)
{
	char out[21];

	CHECK_EQ_INT(tuf_time_parse("2030-01-01T00:00:00Z"), 1893456000);
	CHECK_EQ_INT(tuf_time_parse("2030-01-01T00:00:00+01:00"), -1);
	CHECK_EQ_INT(tuf_time_parse("2030-13-01T00:00:00Z"), -1);
	tuf_time_format(1893456000, out);
	CHECK_EQ_STR(out, "2030-01-01T00:00:00Z");
}

/* --- a repository made here --- */

struct key {
	char *pem;
	json_t *pub;
	char id[65];
};

struct repo {
	struct key root1, root2, targets, snapshot, timestamp, ci, ci2;
	char *root, *ts, *snap, *tgt, *deleg;
};

/* What the fixtures make lives until the case's process exits: freed then
 * (before the leak check, which atexit ran first), so cases stay short. */
static void *junk[512];
static json_t *junk_json[64];
static size_t njunk, njunk_json;

static void junk_free(void)
{
	while (njunk)
		free(junk[--njunk]);
	while (njunk_json)
		json_decref(junk_json[--njunk_json]);
}

static void *tracked(void *p)
{
	if (njunk == 0 && njunk_json == 0)
		atexit(junk_free);
	junk[njunk++] = p;
	return p;
}

static void key_new(struct key *k)
{
	CHECK_EQ_INT(tuf_key_generate(&k->pem, &k->pub), 0);
	CHECK_EQ_INT(tuf_keyid(k->pub, k->id), 0);
	tracked(k->pem);
	junk_json[njunk_json++] = k->pub;
}

static char *sign_dump(json_t *signed_, struct key *const *keys)
{
	json_t *doc = json_pack("{s:o, s:[]}", "signed", signed_, "signatures");
	struct ramp_err err;
	char *s;

	for (; *keys; keys++)
		CHECK_EQ_INT(tuf_sign(doc, (*keys)->pem, &err), 0);
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return tracked(s);
}

static json_t *role_of(const struct key *k, int threshold)
{
	return json_pack("{s:[s], s:i}", "keyids", k->id, "threshold", threshold);
}

static json_t *root_signed(struct repo *r, int version, const char *expires, struct key *ts)
{
	return json_pack("{s:s, s:s, s:i, s:s, s:b, s:{s:O, s:O, s:O, s:O, s:O}, "
			 "s:{s:{s:[s, s], s:i}, s:o, s:o, s:o}}",
			 "_type", "root", "spec_version", "1.0.31", "version", version, "expires",
			 expires, "consistent_snapshot", 1, "keys", r->root1.id, r->root1.pub,
			 r->root2.id, r->root2.pub, r->targets.id, r->targets.pub, r->snapshot.id,
			 r->snapshot.pub, ts->id, ts->pub, "roles", "root", "keyids", r->root1.id,
			 r->root2.id, "threshold", 2, "targets", role_of(&r->targets, 1), "snapshot",
			 role_of(&r->snapshot, 1), "timestamp", role_of(ts, 1));
}

static char *meta_doc(const char *type, int version, const char *expires, json_t *meta,
		      struct key *k)
{
	struct key *ks[] = {k, NULL};

	return sign_dump(json_pack("{s:s, s:s, s:i, s:s, s:o}", "_type", type, "spec_version",
				   "1.0.31", "version", version, "expires", expires, "meta", meta),
			 ks);
}

static char *targets_doc(int version, const char *expires, json_t *targets, json_t *deleg,
			 struct key *k)
{
	struct key *ks[] = {k, NULL};
	json_t *s = json_pack("{s:s, s:s, s:i, s:s, s:o}", "_type", "targets", "spec_version",
			      "1.0.31", "version", version, "expires", expires, "targets", targets);

	if (deleg)
		json_object_set_new(s, "delegations", deleg);
	return sign_dump(s, ks);
}

static json_t *delegate_to(const struct key *ci, const char *pattern)
{
	return json_pack("{s:{s:O}, s:[{s:s, s:[s], s:i, s:b, s:[s]}]}", "keys", ci->id, ci->pub,
			 "roles", "name", "ci-resnet", "keyids", ci->id, "threshold", 1,
			 "terminating", 1, "paths", pattern);
}

static json_t *one_target(const char *path, int len, const char *sha)
{
	return json_pack("{s:{s:i, s:{s:s}, s:{s:s, s:s, s:s}}}", path, "length", len, "hashes",
			 "sha256", sha, "custom", "model", "resnet", "version", "1.0.0", "platform",
			 "arm64");
}

#define SHA_A "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static void repo_make(struct repo *r)
{
	struct key *rk[] = {&r->root1, &r->root2, NULL};

	key_new(&r->root1);
	key_new(&r->root2);
	key_new(&r->targets);
	key_new(&r->snapshot);
	key_new(&r->timestamp);
	key_new(&r->ci);
	key_new(&r->ci2);
	r->root = sign_dump(root_signed(r, 1, LATER, &r->timestamp), rk);
	r->deleg = targets_doc(1, LATER, one_target("resnet/1.0.0/arm64/m.onnx", 5, SHA_A), NULL,
			       &r->ci);
	r->tgt = targets_doc(1, LATER, json_object(), delegate_to(&r->ci, "resnet/*/*/*"),
			     &r->targets);
	r->snap = meta_doc("snapshot", 1, LATER,
			   json_pack("{s:{s:i}, s:{s:i}}", "targets.json", "version", 1,
				     "ci-resnet.json", "version", 1), &r->snapshot);
	r->ts = meta_doc("timestamp", 1, LATER,
			 json_pack("{s:{s:i}}", "snapshot.json", "version", 1), &r->timestamp);
}

/* Runs the workflow through targets; returns the first failing step's rc. */
static int refresh(struct tuf_trust *t, struct repo *r, struct ramp_err *err)
{
	int rc = tuf_check_root_expiry(t, NOW, err);

	if (rc == 0)
		rc = tuf_update_timestamp(t, r->ts, strlen(r->ts), NOW, err);
	if (rc == 0)
		rc = tuf_update_snapshot(t, r->snap, strlen(r->snap), NOW, err);
	if (rc == 0)
		rc = tuf_update_targets(t, r->tgt, strlen(r->tgt), NOW, err);
	return rc;
}

static void workflow_finds_a_delegated_target(void)
{
	struct repo r;
	struct tuf_trust t;
	struct ramp_err err;
	const json_t *info;
	char need[64], parent[64];

	repo_make(&r);
	CHECK_EQ_INT(tuf_trust_init(&t, r.root, strlen(r.root), &err), 0);
	CHECK_EQ_INT(refresh(&t, &r, &err), 0);
	CHECK_EQ_INT(tuf_find_target(&t, "resnet/1.0.0/arm64/m.onnx", &info, need, parent, &err),
		     RAMP_EBUSY);
	CHECK_EQ_STR(need, "ci-resnet");
	CHECK_EQ_STR(parent, "targets");
	CHECK_EQ_INT(tuf_role_version(&t, need), 1);
	CHECK_EQ_INT(tuf_update_delegated(&t, parent, need, r.deleg, strlen(r.deleg), NOW, &err), 0);
	CHECK_EQ_INT(tuf_find_target(&t, "resnet/1.0.0/arm64/m.onnx", &info, need, parent, &err), 0);
	CHECK_EQ_INT(tuf_target_length(info), 5);
	CHECK_EQ_STR(tuf_target_sha256(info), SHA_A);
	/* not named anywhere: arbitrary software */
	CHECK_EQ_INT(tuf_find_target(&t, "resnet/9.9.9/arm64/m.onnx", &info, need, parent, &err),
		     RAMP_ENOTFOUND);
	CHECK_EQ_STR(err.field, "arbitrary-software");
	/* outside the delegation's pattern: the role is never asked */
	CHECK_EQ_INT(tuf_find_target(&t, "other/1/arm64/m.onnx", &info, need, parent, &err),
		     RAMP_ENOTFOUND);
	tuf_trust_free(&t);
}

static void pattern_star_stays_within_one_segment(void)
{
	json_t *role = json_pack("{s:[s]}", "paths", "resnet/*");

	CHECK(tuf_role_matches(role, "resnet/x"));
	CHECK(!tuf_role_matches(role, "resnet/x/y"));
	CHECK(!tuf_role_matches(role, "resnetx"));
	json_decref(role);
}

static void timestamp_rollback_is_refused_and_equal_kept(void)
{
	struct repo r;
	struct tuf_trust t;
	struct ramp_err err;
	char *ts2;

	repo_make(&r);
	ts2 = meta_doc("timestamp", 2, LATER, json_pack("{s:{s:i}}", "snapshot.json", "version", 1),
		       &r.timestamp);
	CHECK_EQ_INT(tuf_trust_init(&t, r.root, strlen(r.root), &err), 0);
	CHECK_EQ_INT(tuf_update_timestamp(&t, ts2, strlen(ts2), NOW, &err), 0);
	CHECK_EQ_INT(tuf_update_timestamp(&t, ts2, strlen(ts2), NOW, &err), 0);
	CHECK_EQ_INT(tuf_version(t.timestamp), 2);
	CHECK_EQ_INT(tuf_update_timestamp(&t, r.ts, strlen(r.ts), NOW, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "rollback");
	CHECK_EQ_INT(tuf_version(t.timestamp), 2);
	tuf_trust_free(&t);
}

static void snapshot_may_not_take_a_role_back(void)
{
	struct repo r;
	struct tuf_trust t;
	struct ramp_err err;
	char *ts2, *snap2, *ts3;

	repo_make(&r);
	CHECK_EQ_INT(tuf_trust_init(&t, r.root, strlen(r.root), &err), 0);
	ts2 = meta_doc("timestamp", 2, LATER, json_pack("{s:{s:i}}", "snapshot.json", "version", 2),
		       &r.timestamp);
	snap2 = meta_doc("snapshot", 2, LATER,
			 json_pack("{s:{s:i}, s:{s:i}}", "targets.json", "version", 3,
				   "ci-resnet.json", "version", 1), &r.snapshot);
	CHECK_EQ_INT(tuf_update_timestamp(&t, ts2, strlen(ts2), NOW, &err), 0);
	CHECK_EQ_INT(tuf_update_snapshot(&t, snap2, strlen(snap2), NOW, &err), 0);
	/* a newer timestamp naming a snapshot that takes targets from 3 to 1 */
	ts3 = meta_doc("timestamp", 3, LATER, json_pack("{s:{s:i}}", "snapshot.json", "version", 3),
		       &r.timestamp);
	r.snap = meta_doc("snapshot", 3, LATER, json_pack("{s:{s:i}}", "targets.json", "version", 1),
			  &r.snapshot);
	CHECK_EQ_INT(tuf_update_timestamp(&t, ts3, strlen(ts3), NOW, &err), 0);
	CHECK_EQ_INT(tuf_update_snapshot(&t, r.snap, strlen(r.snap), NOW, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "rollback");
	tuf_trust_free(&t);
}

static void expired_metadata_is_a_freeze(void)
{
	struct repo r;
	struct tuf_trust t;
	struct ramp_err err;

	repo_make(&r);
	r.ts = meta_doc("timestamp", 1, PAST, json_pack("{s:{s:i}}", "snapshot.json", "version", 1),
			&r.timestamp);
	CHECK_EQ_INT(tuf_trust_init(&t, r.root, strlen(r.root), &err), 0);
	CHECK_EQ_INT(refresh(&t, &r, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "freeze");
	CHECK(t.timestamp == NULL);
	CHECK_EQ_INT(tuf_check_root_expiry(&t, tuf_time_parse(LATER), &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "freeze");
	tuf_trust_free(&t);
}

static void versions_and_hashes_the_referrer_did_not_name_are_mix_and_match(void)
{
	struct repo r;
	struct tuf_trust t;
	struct ramp_err err;
	char *other;

	repo_make(&r);
	other = meta_doc("snapshot", 2, LATER, json_pack("{s:{s:i}}", "targets.json", "version", 1),
			 &r.snapshot);
	CHECK_EQ_INT(tuf_trust_init(&t, r.root, strlen(r.root), &err), 0);
	CHECK_EQ_INT(tuf_update_timestamp(&t, r.ts, strlen(r.ts), NOW, &err), 0);
	CHECK_EQ_INT(tuf_update_snapshot(&t, other, strlen(other), NOW, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "mix-and-match");
	tuf_trust_free(&t);
	/* a timestamp that pins the snapshot's length and hash */
	r.ts = meta_doc("timestamp", 1, LATER,
			json_pack("{s:{s:i, s:I, s:{s:s}}}", "snapshot.json", "version", 1, "length",
				  (json_int_t)strlen(r.snap), "hashes", "sha256", SHA_A),
			&r.timestamp);
	CHECK_EQ_INT(tuf_trust_init(&t, r.root, strlen(r.root), &err), 0);
	CHECK_EQ_INT(tuf_max_length(&t, "snapshot"), TUF_MAX_META);
	CHECK_EQ_INT(refresh(&t, &r, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "mix-and-match");
	CHECK_EQ_INT(tuf_max_length(&t, "snapshot"), strlen(r.snap));
	tuf_trust_free(&t);
}

static void longer_than_announced_is_endless_data(void)
{
	struct repo r;
	struct tuf_trust t;
	struct ramp_err err;
	char big[TUF_MAX_TIMESTAMP + 2];

	repo_make(&r);
	r.ts = meta_doc("timestamp", 1, LATER,
			json_pack("{s:{s:i, s:i}}", "snapshot.json", "version", 1, "length", 10),
			&r.timestamp);
	CHECK_EQ_INT(tuf_trust_init(&t, r.root, strlen(r.root), &err), 0);
	CHECK_EQ_INT(refresh(&t, &r, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "endless-data");
	memset(big, ' ', sizeof(big));
	CHECK_EQ_INT(tuf_update_timestamp(&t, big, sizeof(big), NOW, &err), RAMP_ETOOBIG);
	CHECK_EQ_STR(err.field, "endless-data");
	tuf_trust_free(&t);
}

static void root_rotation_needs_both_thresholds_and_the_next_version(void)
{
	struct repo r;
	struct tuf_trust t;
	struct ramp_err err;
	struct key ts2;
	struct key *both[] = {&r.root1, &r.root2, NULL}, *one[] = {&r.root1, NULL};
	char *v2, *v3_short, *v3_skip;

	repo_make(&r);
	key_new(&ts2);
	v2 = sign_dump(root_signed(&r, 2, LATER, &ts2), both);
	v3_short = sign_dump(root_signed(&r, 3, LATER, &ts2), one);
	v3_skip = sign_dump(root_signed(&r, 4, LATER, &ts2), both);
	CHECK_EQ_INT(tuf_trust_init(&t, r.root, strlen(r.root), &err), 0);
	CHECK_EQ_INT(tuf_update_timestamp(&t, r.ts, strlen(r.ts), NOW, &err), 0);
	CHECK_EQ_INT(tuf_update_root(&t, v2, strlen(v2), &err), 0);
	/* the timestamp key changed: the old timestamp is forgotten, and the
	 * old key's timestamps no longer verify */
	CHECK(t.timestamp == NULL);
	CHECK_EQ_INT(tuf_update_timestamp(&t, r.ts, strlen(r.ts), NOW, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "threshold");
	CHECK_EQ_INT(tuf_update_root(&t, v3_short, strlen(v3_short), &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "threshold");
	CHECK_EQ_INT(tuf_update_root(&t, v3_skip, strlen(v3_skip), &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "rollback");
	CHECK_EQ_INT(tuf_update_root(&t, r.root, strlen(r.root), &err), RAMP_EINVAL);
	CHECK_EQ_INT(tuf_version(t.root), 2);
	tuf_trust_free(&t);
}

static void a_revoked_ci_key_signs_nothing(void)
{
	struct repo r;
	struct tuf_trust t;
	struct ramp_err err;
	const json_t *info;
	char need[64], parent[64];

	repo_make(&r);
	/* targets v1 delegates ci-resnet to ci2 instead: ci's role is refused */
	r.tgt = targets_doc(1, LATER, json_object(), delegate_to(&r.ci2, "resnet/*/*/*"), &r.targets);
	CHECK_EQ_INT(tuf_trust_init(&t, r.root, strlen(r.root), &err), 0);
	CHECK_EQ_INT(refresh(&t, &r, &err), 0);
	CHECK_EQ_INT(tuf_find_target(&t, "resnet/1.0.0/arm64/m.onnx", &info, need, parent, &err),
		     RAMP_EBUSY);
	CHECK_EQ_INT(tuf_update_delegated(&t, parent, need, r.deleg, strlen(r.deleg), NOW, &err),
		     RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "threshold");
	CHECK_EQ_INT(tuf_update_delegated(&t, "targets", "nobody", r.deleg, strlen(r.deleg), NOW,
					  &err), RAMP_EINVAL);
	tuf_trust_free(&t);
}

static void parse_refuses_wrong_shapes(void)
{
	static const char *const bad[] = {
		"", "[]", "{\"signed\":{},\"signatures\":[]}",
		"{\"signed\":{\"_type\":\"timestamp\",\"spec_version\":\"2.0\",\"version\":1,"
		"\"expires\":\"2030-01-01T00:00:00Z\",\"meta\":{\"snapshot.json\":{\"version\":1}}},"
		"\"signatures\":[]}",
		"{\"signed\":{\"_type\":\"timestamp\",\"spec_version\":\"1.0\",\"version\":0,"
		"\"expires\":\"2030-01-01T00:00:00Z\",\"meta\":{\"snapshot.json\":{\"version\":1}}},"
		"\"signatures\":[]}",
		"{\"signed\":{\"_type\":\"timestamp\",\"spec_version\":\"1.0\",\"version\":1,"
		"\"expires\":\"tomorrow\",\"meta\":{\"snapshot.json\":{\"version\":1}}},"
		"\"signatures\":[]}",
		"{\"signed\":{\"_type\":\"timestamp\",\"spec_version\":\"1.0\",\"version\":1,"
		"\"expires\":\"2030-01-01T00:00:00Z\",\"meta\":{\"snapshot.json\":{\"version\":1}}},"
		"\"signatures\":[{\"keyid\":1}]}",
		"{\"signed\":{\"_type\":\"timestamp\",\"spec_version\":\"1.0\",\"version\":1,"
		"\"version\":2,\"expires\":\"2030-01-01T00:00:00Z\",\"meta\":{}},\"signatures\":[]}",
		NULL};
	struct ramp_err err;
	json_t *doc;

	for (const char *const *s = bad; *s; s++) {
		CHECK_EQ_INT(tuf_parse(*s, strlen(*s), TUF_MAX_META, TUF_TIMESTAMP, &doc, &err),
			     RAMP_EINVAL);
		CHECK(doc == NULL);
		CHECK(err.msg[0] != '\0');
	}
	CHECK_EQ_INT(tuf_parse(bad[3], strlen(bad[3]), TUF_MAX_META, TUF_SNAPSHOT, &doc, &err),
		     RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "mix-and-match");
}


static void repo_takes_the_first_root_and_then_only_the_next_signed_by_both(void)
{
	struct repo r;
	struct ramp_err err;
	struct key *both[] = {&r.root1, &r.root2, NULL}, *one[] = {&r.root1, NULL};
	json_t *doc;
	char *v2, *v2_short, *v1_short;

	repo_make(&r);
	v2 = sign_dump(root_signed(&r, 2, LATER, &r.timestamp), both);
	v2_short = sign_dump(root_signed(&r, 2, LATER, &r.timestamp), one);
	v1_short = sign_dump(root_signed(&r, 1, LATER, &r.timestamp), one);
	CHECK_EQ_INT(tuf_repo_check_root(NULL, 0, r.root, strlen(r.root), NOW, &doc, &err), 0);
	json_decref(doc);
	CHECK_EQ_INT(tuf_repo_check_root(NULL, 0, v2, strlen(v2), NOW, &doc, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "version");
	CHECK_EQ_INT(tuf_repo_check_root(NULL, 0, v1_short, strlen(v1_short), NOW, &doc, &err),
		     RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "threshold");
	CHECK_EQ_INT(tuf_repo_check_root(r.root, strlen(r.root), v2, strlen(v2), NOW, &doc, &err), 0);
	CHECK_EQ_INT(tuf_version(doc), 2);
	json_decref(doc);
	CHECK_EQ_INT(tuf_repo_check_root(r.root, strlen(r.root), v2_short, strlen(v2_short), NOW,
					 &doc, &err), RAMP_EINVAL);
	CHECK(doc == NULL);
	CHECK_EQ_INT(tuf_repo_check_root(r.root, strlen(r.root), r.root, strlen(r.root), NOW, &doc,
					 &err), RAMP_EINVAL);
	CHECK_EQ_INT(tuf_repo_check_root(NULL, 0, r.root, strlen(r.root), tuf_time_parse(LATER) + 1,
					 &doc, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "freeze");
}

static void repo_checks_targets_and_delegations_as_a_client_would(void)
{
	struct repo r;
	struct ramp_err err;
	json_t *doc;
	char *by_ci, *v2, *outside;

	repo_make(&r);
	CHECK_EQ_INT(tuf_repo_check_targets(r.root, strlen(r.root), NULL, 0, r.tgt, strlen(r.tgt),
					    NOW, &doc, &err), 0);
	json_decref(doc);
	/* the same version again, and one signed by a key root does not name */
	CHECK_EQ_INT(tuf_repo_check_targets(r.root, strlen(r.root), r.tgt, strlen(r.tgt), r.tgt,
					    strlen(r.tgt), NOW, &doc, &err), RAMP_ECONFLICT);
	by_ci = targets_doc(2, LATER, json_object(), NULL, &r.ci);
	CHECK_EQ_INT(tuf_repo_check_targets(r.root, strlen(r.root), r.tgt, strlen(r.tgt), by_ci,
					    strlen(by_ci), NOW, &doc, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "threshold");
	/* delegated: inside the paths, by the delegated key, a newer version */
	CHECK_EQ_INT(tuf_repo_check_delegated(r.tgt, strlen(r.tgt), "ci-resnet", NULL, 0, r.deleg,
					      strlen(r.deleg), NOW, &doc, &err), 0);
	json_decref(doc);
	v2 = targets_doc(2, LATER, one_target("resnet/2.0.0/arm64/m.onnx", 5, SHA_A), NULL, &r.ci2);
	CHECK_EQ_INT(tuf_repo_check_delegated(r.tgt, strlen(r.tgt), "ci-resnet", r.deleg,
					      strlen(r.deleg), v2, strlen(v2), NOW, &doc, &err),
		     RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "threshold");
	outside = targets_doc(2, LATER, one_target("other/2.0.0/arm64/m.onnx", 5, SHA_A), NULL,
			      &r.ci);
	CHECK_EQ_INT(tuf_repo_check_delegated(r.tgt, strlen(r.tgt), "ci-resnet", r.deleg,
					      strlen(r.deleg), outside, strlen(outside), NOW, &doc,
					      &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "arbitrary-software");
	CHECK_EQ_INT(tuf_repo_check_delegated(r.tgt, strlen(r.tgt), "nobody", NULL, 0, r.deleg,
					      strlen(r.deleg), NOW, &doc, &err), RAMP_ENOTFOUND);
}

static void repo_snapshot_and_timestamp_pass_the_client_workflow(void)
{
	struct repo r;
	struct tuf_trust t;
	struct ramp_err err;
	json_t *snap, *ts, *meta;
	char *snaps, *tss;

	repo_make(&r);
	meta = json_pack("{s:{s:i}, s:{s:i}}", "targets.json", "version", 1, "ci-resnet.json",
			 "version", 1);
	snap = tuf_repo_snapshot(meta, 4, NOW + 100);
	json_decref(meta); /* borrowed */
	CHECK_EQ_INT(tuf_sign(snap, r.snapshot.pem, &err), 0);
	snaps = tuf_repo_dump(snap);
	ts = tuf_repo_timestamp(9, NOW + 50, 4, snaps, strlen(snaps));
	CHECK_EQ_INT(tuf_sign(ts, r.timestamp.pem, &err), 0);
	tss = tuf_repo_dump(ts);
	CHECK_EQ_INT(tuf_trust_init(&t, r.root, strlen(r.root), &err), 0);
	CHECK_EQ_INT(tuf_update_timestamp(&t, tss, strlen(tss), NOW, &err), 0);
	CHECK_EQ_INT(tuf_max_length(&t, "snapshot"), strlen(snaps));
	CHECK_EQ_INT(tuf_update_snapshot(&t, snaps, strlen(snaps), NOW, &err), 0);
	CHECK_EQ_INT(tuf_role_version(&t, "ci-resnet"), 1);
	/* one byte changed: the timestamp's hash catches it */
	snaps[strlen(snaps) - 2] = ' ';
	CHECK_EQ_INT(tuf_update_snapshot(&t, snaps, strlen(snaps), NOW, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "mix-and-match");
	CHECK_EQ_INT(tuf_update_timestamp(&t, tss, strlen(tss), NOW + 60, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "freeze");
	tuf_trust_free(&t);
	json_decref(snap);
	json_decref(ts);
	free(snaps);
	free(tss);
}

static const struct unit_case cases[] = {
	UNIT(cjson_matches_python_sort_keys_vector),
	UNIT(cjson_escapes_only_quote_and_backslash),
	UNIT(cjson_refuses_real_numbers),
	UNIT(keyid_is_sha256_of_canonical_key),
	UNIT(verify_accepts_a_signature_made_elsewhere),
	UNIT(verify_refuses_changed_bytes_and_short_thresholds),
	UNIT(time_parses_and_formats_rfc3339_utc),
	UNIT(workflow_finds_a_delegated_target),
	UNIT(pattern_star_stays_within_one_segment),
	UNIT(timestamp_rollback_is_refused_and_equal_kept),
	UNIT(snapshot_may_not_take_a_role_back),
	UNIT(expired_metadata_is_a_freeze),
	UNIT(versions_and_hashes_the_referrer_did_not_name_are_mix_and_match),
	UNIT(longer_than_announced_is_endless_data),
	UNIT(root_rotation_needs_both_thresholds_and_the_next_version),
	UNIT(a_revoked_ci_key_signs_nothing),
	UNIT(parse_refuses_wrong_shapes),
	UNIT(repo_takes_the_first_root_and_then_only_the_next_signed_by_both),
	UNIT(repo_checks_targets_and_delegations_as_a_client_would),
	UNIT(repo_snapshot_and_timestamp_pass_the_client_workflow),
	{0},
};

UNIT_MAIN(cases)
