// SPDX-License-Identifier: MIT
/*
 * test_ptab: lib/ptab, the open-addressing pointer table under the agent's rule model and
 * its counter sampler. Growth keeps every element; deletion (backward shift) keeps every
 * other element findable, also in long runs of one hash and across the table's wrap;
 * reserve sizes once; a model of the table (an array) agrees with it after a random mix
 * of adds and deletes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ptab.h"

#define N 5000

static unsigned vals[N]; /* element i is &vals[i], vals[i] == i: its key */

static bool eq(const void *e, const void *key)
{
	return *(const unsigned *)e == *(const unsigned *)key;
}

/* hash of key k with only `bits` distinct values (0: a full hash); those are the highest
 * hashes, whose home slots are the table's last: their runs wrap round to its start */
static uint32_t hash_of(unsigned k, unsigned bits)
{
	uint32_t h = ptab_hash(&k, sizeof(k));

	return bits ? UINT32_MAX - h % bits : h;
}

static void *find(struct ptab *t, unsigned k, unsigned bits)
{
	return ptab_find(t, hash_of(k, bits), eq, &k);
}

static void setup_vals(void)
{
	for (unsigned i = 0; i < N; i++)
		vals[i] = i;
}

static void test_grow_keeps_all(void **state)
{
	struct ptab t = {0};

	(void)state;
	setup_vals();
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(ptab_add(&t, hash_of(i, 0), &vals[i]), 0);
		assert_true(t.n * 4 <= t.cap * 3);
	}
	assert_int_equal(t.n, N);
	assert_true(t.cap < 2 * N); /* grown by half again, not doubled */
	for (unsigned i = 0; i < N; i++)
		assert_ptr_equal(find(&t, i, 0), &vals[i]);
	{
		unsigned absent = N + 7;

		assert_null(ptab_find(&t, hash_of(absent, 0), eq, &absent));
	}
	ptab_free(&t);
	assert_int_equal(t.cap, 0);
	assert_null(find(&t, 1, 0));
}

/* Deletes every other element of a table where all share few hashes (long runs that
 * wrap around the end): the rest stay findable, the deleted are gone. */
static void run_delete(unsigned bits)
{
	struct ptab t = {0};

	setup_vals();
	for (unsigned i = 0; i < 600; i++)
		assert_int_equal(ptab_add(&t, hash_of(i, bits), &vals[i]), 0);
	for (unsigned i = 0; i < 600; i += 2) {
		unsigned k = i;

		assert_ptr_equal(ptab_del(&t, hash_of(i, bits), eq, &k), &vals[i]);
		assert_null(ptab_del(&t, hash_of(i, bits), eq, &k));
	}
	assert_int_equal(t.n, 300);
	for (unsigned i = 0; i < 600; i++) {
		if (i % 2)
			assert_ptr_equal(find(&t, i, bits), &vals[i]);
		else
			assert_null(find(&t, i, bits));
	}
	ptab_free(&t);
}

static void test_delete_shifts_back(void **state)
{
	(void)state;
	run_delete(0);
	run_delete(3);	  /* three runs of 200, wrapping */
	run_delete(1023); /* many short runs from the table's end, wrapping */
}

static void test_reserve_once(void **state)
{
	struct ptab t = {0};
	void **before;

	(void)state;
	setup_vals();
	assert_int_equal(ptab_reserve(&t, N), 0);
	before = t.v;
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(ptab_add(&t, hash_of(i, 0), &vals[i]), 0);
	assert_ptr_equal(t.v, before); /* no regrowth */
	ptab_free(&t);
	/* a reservation is what n needs at 3/4 full, not the next power of two above it (a
	 * million elements in 1.33 million slots, 16 MiB, not 2 million, 24 MiB) */
	assert_int_equal(ptab_reserve(&t, 1000000), 0);
	assert_true(t.cap * 3 >= 1000001 * 4 - 16 && t.cap < 1340000);
	ptab_free(&t);
}

/* A random mix of adds and deletes, checked against a presence array. */
static void test_random_against_model(void **state)
{
	struct ptab t = {0};
	bool in[N] = {0};
	size_t count = 0;

	(void)state;
	setup_vals();
	srand(15);
	for (int step = 0; step < 40000; step++) {
		unsigned k = (unsigned)rand() % N, key = k;

		if (in[k]) {
			assert_ptr_equal(ptab_del(&t, hash_of(k, 64), eq, &key), &vals[k]);
			in[k] = false;
			count--;
		} else {
			assert_null(find(&t, k, 64));
			assert_int_equal(ptab_add(&t, hash_of(k, 64), &vals[k]), 0);
			in[k] = true;
			count++;
		}
	}
	assert_int_equal(t.n, count);
	for (unsigned k = 0; k < N; k++)
		assert_ptr_equal(find(&t, k, 64), in[k] ? &vals[k] : NULL);
	ptab_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grow_keeps_all),
	    cmocka_unit_test(test_delete_shifts_back),
	    cmocka_unit_test(test_reserve_once),
	    cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
