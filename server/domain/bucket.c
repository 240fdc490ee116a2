/*
 * bucket.c - stage membership ordering (see bucket.h).
 */
#include "domain/bucket.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t bucket_key(int64_t rollout_id, const char *device_id)
{
	unsigned char md[32];
	unsigned int mdlen = 32;
	char buf[200];
	int n = snprintf(buf, sizeof(buf), "%lld:%s", (long long)rollout_id, device_id);
	uint64_t k = 0;

	if (n < 0 || (size_t)n >= sizeof(buf))
		n = (int)strlen(buf);
	EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 8; i++)
		k = k << 8 | md[i];
	return k;
}

size_t bucket_stage_count(double size, size_t eligible)
{
	double want;
	size_t n;

	if (eligible == 0 || !(size > 0))
		return 0;
	if (size >= 1.0)
		return eligible;
	/* 0.01 x 300 is 3.0000000000000004 in binary: forgive the last bits */
	want = ceil(size * (double)eligible - 1e-9);
	n = want < 1 ? 1 : (size_t)want;
	return n > eligible ? eligible : n;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct bucket_entry *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(x->device_id, y->device_id);
}

void bucket_order(int64_t rollout_id, struct bucket_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		e[i].key = bucket_key(rollout_id, e[i].device_id);
	qsort(e, n, sizeof(*e), cmp_entry);
}
