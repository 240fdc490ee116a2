/* test_reply.c - problem+json replies (http/reply.c), extra members included. */
#include "http/http.h"
#include "unit.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *reply_of(struct req *r)
{
	json_t *j = json_loadb(r->resp, r->resp_len, 0, NULL);

	CHECK(j != NULL);
	CHECK_EQ_STR(r->ctype, "application/problem+json");
	return j;
}

static void problem_carries_type_title_status_detail_and_field(void)
{
	struct req r = {.arena = arena_new()};
	json_t *j;

	http_reply_problem(&r, 422, "stages[1].size", "size must be %s", "positive");
	j = reply_of(&r);
	CHECK_EQ_INT(r.status, 422);
	CHECK_EQ_STR(json_string_value(json_object_get(j, "type")), "about:blank");
	/* the reason phrase libmicrohttpd knows ("Unprocessable Content" or "Entity") */
	CHECK(strncmp(json_string_value(json_object_get(j, "title")), "Unprocessable ", 14) == 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(j, "status")), 422);
	CHECK_EQ_STR(json_string_value(json_object_get(j, "detail")), "size must be positive");
	CHECK_EQ_STR(json_string_value(json_object_get(j, "field")), "stages[1].size");
	CHECK_EQ_INT(json_object_size(j), 5);
	json_decref(j);
	free(r.resp);
	arena_free(r.arena);
}

static void problem_with_adds_extra_members_and_keeps_its_own(void)
{
	struct req r = {.arena = arena_new()};
	json_t *j, *extra = json_pack("{s:[{s:i}], s:s}", "rejected", "index", 0, "status", "x");

	http_reply_problem_with(&r, 400, "reports[0].ts", extra, "no report accepted");
	j = reply_of(&r);
	CHECK_EQ_INT(json_integer_value(json_object_get(j, "status")), 400); /* not overwritten */
	CHECK_EQ_STR(json_string_value(json_object_get(j, "title")), "Bad Request");
	CHECK(json_is_array(json_object_get(j, "rejected")));
	CHECK_EQ_INT(json_array_size(json_object_get(j, "rejected")), 1);
	json_decref(j);
	free(r.resp);
	arena_free(r.arena);
}

static void problem_503_says_when_to_retry(void)
{
	struct req r = {.arena = arena_new()};

	http_reply_problem_with(&r, 503, NULL, NULL, "busy");
	CHECK_EQ_INT(r.nheaders, 1);
	CHECK_EQ_STR(r.headers[0].k, "Retry-After");
	free(r.resp);
	arena_free(r.arena);
}

/* jansson's allocator, failing the next `starved` allocations (json_loadb's
 * first is its lexer's buffer) */
static int starved;

static void *starving_malloc(size_t n)
{
	if (starved > 0) {
		starved--;
		return NULL;
	}
	return malloc(n);
}

static void body_is(struct req *r, const char *body)
{
	r->body = (char *)body;
	r->body_len = strlen(body);
}

static void json_body_out_of_memory_is_503_not_malformed(void)
{
	struct req r = {.arena = arena_new()};
	json_t *j;

	body_is(&r, "{\"id\": \"pi-1\"}");
	json_set_alloc_funcs(starving_malloc, free);
	starved = 1;
	j = http_json_body(&r);
	json_set_alloc_funcs(malloc, free);
	CHECK_EQ_INT(starved, 0);
	CHECK(j == NULL);
	CHECK_EQ_INT(r.status, 503);
	j = reply_of(&r);
	CHECK_EQ_STR(json_string_value(json_object_get(j, "detail")),
		     "out of memory reading the request body");
	json_decref(j);
	free(r.resp);
	arena_free(r.arena);
}

static void json_body_malformed_is_400_with_where(void)
{
	struct req r = {.arena = arena_new()};
	json_t *j;

	body_is(&r, "{\"id\": ");
	CHECK(http_json_body(&r) == NULL);
	CHECK_EQ_INT(r.status, 400);
	j = reply_of(&r);
	CHECK(strncmp(json_string_value(json_object_get(j, "detail")), "malformed JSON at line 1", 24) == 0);
	json_decref(j);
	free(r.resp);
	arena_free(r.arena);
}

static const struct unit_case cases[] = {
	UNIT(problem_carries_type_title_status_detail_and_field),
	UNIT(problem_with_adds_extra_members_and_keeps_its_own),
	UNIT(problem_503_says_when_to_retry),
	UNIT(json_body_out_of_memory_is_503_not_malformed),
	UNIT(json_body_malformed_is_400_with_where),
	{0},
};
UNIT_MAIN(cases)
