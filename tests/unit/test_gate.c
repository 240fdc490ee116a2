/* test_gate.c - what a request must pass before its body is read (http/gate.c). */
#include "http/gate.h"
#include "http/route.h"
#include "unit.h"

#include <string.h>

static void handler(struct req *r)
{
	(void)r;
}

static const struct route table[] = {
	{"GET", "/healthz", handler, ROLES_PUBLIC, 0, NULL},
	{"POST", "/v1/devices", handler, ROLES_ADMIN, 0, NULL},
	{"GET", "/v1/devices/{}", handler, ROLES_ADMIN | ROLE_VIEWER, 0, NULL},
	{"PUT", "/v1/artifacts/{}", handler, ROLES_ADMIN, ROUTE_STREAM_BODY, NULL},
	{NULL, NULL, NULL, 0, 0, NULL},
};

static void gate_target_refuses_nul_encoded_slashes_and_dot_segments(void)
{
	static const char *bad[] = {
		"/DEFAULT/controller/v1/a%00b", "/v1/devices/a%2Fb", "/v1/devices/a%2fb",
		"/v1/devices/a%5cb", "/v1/./devices", "/v1/devices/..", "/v1/x/../devices",
		"/v1/%2e%2e/devices", "/v1/devices/%2E", "/v1/devices/.%2E", "/..",
		"/v1/devices?after=a%00", "/v1/devices/\x01", "/v1/devices/a b", "*", "http://x/v1", "",
	};
	static const char *good[] = {
		"/", "/v1/devices", "/v1/devices/a.b", "/v1/devices/a..b", "/v1/devices/...",
		"/v1/devices/%2e%2e%2e", "/v1/devices?after=a/../b", "/v1/devices/a%252Fb",
		"/v1/devices/", "/v1/devices/a%20b",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(gate_target(bad[i]) != NULL);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (gate_target(good[i]))
			fprintf(stderr, "  refused: %s\n", good[i]);
		CHECK(gate_target(good[i]) == NULL);
	}
}

static int framing(const char *k1, const char *v1, const char *k2, const char *v2,
		   long long *len)
{
	struct http_header_kv h[2] = {{k1, v1}, {k2, v2}};
	const char *why = NULL;
	int rc = gate_framing(h, k2 ? 2 : 1, len, &why);

	CHECK(rc == 0 || (why && why[0]));
	return rc;
}

static void gate_framing_takes_one_length_or_chunked_alone(void)
{
	long long len = 7;

	CHECK_EQ_INT(framing("Content-Length", "42", "Host", "x", &len), 0);
	CHECK_EQ_INT(len, 42);
	CHECK_EQ_INT(framing("transfer-encoding", "Chunked", "Host", "x", &len), 0);
	CHECK_EQ_INT(len, GATE_CHUNKED);
	CHECK_EQ_INT(framing("Host", "x", NULL, NULL, &len), 0);
	CHECK_EQ_INT(len, 0);
	CHECK_EQ_INT(framing("Content-Length", "5", "Content-Length", "6", &len), -1);
	CHECK_EQ_INT(framing("Content-Length", "5", "content-length", "5", &len), -1);
	CHECK_EQ_INT(framing("Transfer-Encoding", "chunked", "Content-Length", "5", &len), -1);
	CHECK_EQ_INT(framing("Transfer-Encoding", "gzip, chunked", NULL, NULL, &len), -1);
	CHECK_EQ_INT(framing("Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked", &len),
		     -1);
	CHECK_EQ_INT(framing("Content-Length", "+5", NULL, NULL, &len), -1);
	CHECK_EQ_INT(framing("Content-Length", "", NULL, NULL, &len), -1);
	CHECK_EQ_INT(framing("X Bad", "1", NULL, NULL, &len), -1);
	CHECK_EQ_INT(framing("Host ", "x", NULL, NULL, &len), -1);
	CHECK_EQ_INT(framing("X-A", "a\rb", NULL, NULL, &len), -1);
	CHECK_EQ_INT(framing("X-A", "a\tb", NULL, NULL, &len), 0);
}

static bool check_one(const char *method, const char *path, struct gate_verdict *v,
		      struct req *r)
{
	memset(r, 0, sizeof(*r));
	r->arena = arena_new();
	r->method = method;
	r->path = path;
	return gate_check(table, r, gate_target(path), NULL, 0, v);
}

static void gate_check_finds_routes_and_does_not_echo_paths(void)
{
	struct gate_verdict v;
	struct req r;

	CHECK(check_one("GET", "/v1/devices/pi-1", &v, &r));
	CHECK_EQ_STR(r.params[0], "pi-1");
	CHECK_EQ_INT(r.route_index, 2);
	arena_free(r.arena);
	CHECK(!check_one("GET", "/v1/<b>nope</b>", &v, &r));
	CHECK_EQ_INT(v.status, 404);
	CHECK(strstr(v.detail, "nope") == NULL);
	arena_free(r.arena);
	CHECK(!check_one("DELETE", "/v1/devices", &v, &r));
	CHECK_EQ_INT(v.status, 405);
	arena_free(r.arena);
	CHECK(!check_one("GET", "/v1/devices/a%2Fb", &v, &r));
	CHECK_EQ_INT(v.status, 400);
	arena_free(r.arena);
	CHECK(gate_within_cap(&table[1], HTTP_MAX_BODY));
	CHECK(!gate_within_cap(&table[1], HTTP_MAX_BODY + 1));
	CHECK(gate_within_cap(&table[3], 1LL << 40));
}

static void gate_credential_and_roles(void)
{
	int only = 0;

	CHECK_EQ_STR(gate_credential("Bearer abc", &only), "abc");
	CHECK_EQ_INT(only, ROLES_ANY);
	CHECK_EQ_STR(gate_credential("targettoken t", &only), "t");
	CHECK_EQ_INT(only, ROLE_DEVICE);
	CHECK(gate_credential("Bearer ", &only) == NULL);
	CHECK(gate_credential("Basic abc", &only) == NULL);
	CHECK(gate_credential(NULL, &only) == NULL);
	CHECK_EQ_INT(gate_authz(&table[1], ROLE_ADMIN, ROLES_ANY), 0);
	CHECK_EQ_INT(gate_authz(&table[1], ROLE_VIEWER, ROLES_ANY), 403);
	CHECK_EQ_INT(gate_authz(&table[1], ROLE_ADMIN, ROLE_DEVICE), 401);
	CHECK_EQ_INT(gate_body_kind(NULL), GATE_BODY_JSON);
	CHECK_EQ_INT(gate_body_kind("application/json; charset=utf-8"), GATE_BODY_JSON);
	CHECK_EQ_INT(gate_body_kind("text/yaml"), GATE_BODY_YAML);
	CHECK_EQ_INT(gate_body_kind("text/plain"), GATE_BODY_OTHER);
}

static void route_match_takes_one_nonempty_segment_per_hole(void)
{
	struct arena *a = arena_new();
	const char *p[HTTP_MAX_PARAMS];
	int n = -1;

	CHECK(http_route_match("/v1/devices/{}", "/v1/devices/pi-1", a, p, &n));
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_STR(p[0], "pi-1");
	CHECK(http_route_match("/v1/rollouts/{}/stages/{}/approve", "/v1/rollouts/7/stages/2/approve",
			       a, p, &n));
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_STR(p[1], "2");
	n = -1;
	CHECK(!http_route_match("/v1/devices/{}", "/v1/devices/", a, p, &n));
	CHECK(!http_route_match("/v1/devices/{}", "/v1/devices/a/b", a, p, &n));
	CHECK(!http_route_match("/v1/devices/{}", "/v1/devices", a, p, &n));
	CHECK(!http_route_match("/{}/{}/{}/{}/{}", "/a/b/c/d/e", a, p, &n));
	CHECK_EQ_INT(n, -1);
	CHECK(http_route_match("/healthz", "/healthz", a, p, &n));
	CHECK_EQ_INT(n, 0);
	arena_free(a);
}

static const struct unit_case cases[] = {
	UNIT(gate_target_refuses_nul_encoded_slashes_and_dot_segments),
	UNIT(gate_framing_takes_one_length_or_chunked_alone),
	UNIT(gate_check_finds_routes_and_does_not_echo_paths),
	UNIT(gate_credential_and_roles),
	UNIT(route_match_takes_one_nonempty_segment_per_hole),
	{0},
};
UNIT_MAIN(cases)
