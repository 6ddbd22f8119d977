/* SPDX-License-Identifier: MIT */
/*
 * store_fixture: what the store suites (tests/unit/test_store*.c) share: a scratch
 * directory per cmocka group, fresh database paths, test rules made of static strings,
 * and a check of the content hash against one recomputed from a snapshot. Include after
 * <cmocka.h>.
 *
 * Built with XDROP_STORE_ON_DQLITE (test_store_dqlite: test_store.c again), the group
 * also runs a real 3-node dqlite cluster (tests/lib/dqcluster.h) and every fresh
 * "database path" is a new database on it (db.h's dqlite://... target), so the same
 * tests run against the replicated store.
 */
#ifndef XDROP_TESTS_STORE_FIXTURE_H
#define XDROP_TESTS_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "../lib/tmpdir.h"
#ifdef XDROP_STORE_ON_DQLITE
#include "../lib/dqcluster.h"
#endif
#include "clock.h"
#include "log.h"
#include "rulehash.h"
#include "store.h"

static char dir[64]; /* the group's scratch directory */
static int seq;

/* Monotonic seconds, for durations. */
static inline double now_s(void)
{
	return (double)clock_mono_ns() / 1e9;
}

/* A fresh database path in dir (on dqlite: a fresh database on the group's cluster). */
static inline void db_path(char *buf, size_t len)
{
#ifdef XDROP_STORE_ON_DQLITE
	snprintf(buf, len, "dqlite://%s,%s,%s/t%d.db", cl.addrs[0], cl.addrs[1], cl.addrs[2],
		 seq++);
#else
	snprintf(buf, len, "%s/t%d.db", dir, seq++);
#endif
}

static struct store *open_db(const char *path, unsigned keep)
{
	struct store_opts o = {.sz = sizeof(o), .path = path, .keep = keep};
	struct store *s = NULL;

	assert_int_equal(store_open(&s, &o), 0);
	return s;
}

/* A rule dropping traffic to 10.a.b.c (i picks the address), all strings static. */
struct trule {
	Xdrop__V1__Rule r;
	char id[XDROP_UUID_LEN];
	char ip[32];
};

static inline void make_rule(struct trule *t, unsigned i)
{
	xdrop__v1__rule__init(&t->r);
	store_uuid(t->id);
	snprintf(t->ip, sizeof(t->ip), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
	t->r.id = t->id;
	t->r.name = "rule";
	t->r.dst_ip = t->ip;
	t->r.protocol = "udp";
	t->r.action = "drop";
	t->r.enabled = true;
	t->r.source = "test";
	t->r.created_at = t->r.updated_at = clock_wall_ns() + i;
}

static struct trule *make_rules(size_t n, unsigned base, Xdrop__V1__Rule ***ptrs)
{
	struct trule *v = calloc(n, sizeof(*v));

	*ptrs = calloc(n, sizeof(**ptrs));
	assert_non_null(v);
	assert_non_null(*ptrs);
	for (size_t i = 0; i < n; i++) {
		make_rule(&v[i], base + (unsigned)i);
		(*ptrs)[i] = &v[i].r;
	}
	return v;
}

/* Recomputes the content hash from a snapshot and compares it with the store's. */
static inline void check_hash(struct store *s)
{
	struct store_snapshot *snap = NULL;
	struct store_rev rev;
	struct rulehash h;
	char hex[RULEHASH_HEX];

	assert_int_equal(store_snapshot(s, &snap), 0);
	rulehash_init(&h);
	for (size_t i = 0; i < snap->nrules; i++) {
		Xdrop__V1__Rule *r =
		    xdrop__v1__rule__unpack(NULL, snap->rules[i].len, snap->rules[i].data);
		uint8_t d[RULEHASH_LEN];

		assert_non_null(r);
		assert_int_equal(rulehash_rule_digest(r, d), 0);
		rulehash_add(&h, d);
		xdrop__v1__rule__free_unpacked(r, NULL);
	}
	for (size_t i = 0; i < snap->nwl; i++) {
		Xdrop__V1__WhitelistEntry *w =
		    xdrop__v1__whitelist_entry__unpack(NULL, snap->wl[i].len, snap->wl[i].data);
		uint8_t d[RULEHASH_LEN];

		assert_non_null(w);
		assert_int_equal(rulehash_wl_digest(w, d), 0);
		rulehash_add(&h, d);
		xdrop__v1__whitelist_entry__free_unpacked(w, NULL);
	}
	store_revision(s, &rev);
	assert_string_equal(rulehash_hex(&h, hex), rev.hash);
	assert_string_equal(snap->hash, rev.hash);
	assert_int_equal(snap->revision, rev.revision);
	assert_int_equal(snap->nrules, rev.rules);
	store_snapshot_free(snap);
}

/* The group's setup and teardown: quiet logs and the scratch directory. */
static inline int store_group_setup(void **state)
{
	log_set_level(LOG_LEVEL_WARN);
#ifdef XDROP_STORE_ON_DQLITE
	signal(SIGPIPE, SIG_IGN);
	if (dqcluster_start() < 0)
		return -1;
#endif
	return tmpdir_make(dir, sizeof(dir), "xdrop-store");
}

static inline int store_group_teardown(void **state)
{
#ifdef XDROP_STORE_ON_DQLITE
	dqcluster_stop();
#endif
	return tmpdir_remove(dir);
}

#endif
