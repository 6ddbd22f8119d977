// SPDX-License-Identifier: MIT
/*
 * ruleset/expiry.c: the rules that will expire, in a binary min-heap keyed by expires_at.
 * Every item in the data plane with an expiry time is in the heap (rs_model_add puts it
 * there, rs_model_remove and the expiry take it out; each item knows its position), so
 * ruleset_expire looks at the heap's top only: an idle agent with a million rules does
 * O(1) work per tick instead of a scan of the set under its lock, and taking k rules out
 * costs O(k log n).
 */
#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "model.h"

static void put(struct ruleset *rs, size_t i, struct item *it)
{
	rs->xheap[i] = it;
	it->xpos = (uint32_t)(i + 1);
}

static void sift_up(struct ruleset *rs, size_t i)
{
	struct item *it = rs->xheap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (rs->xheap[parent]->expires_at <= it->expires_at)
			break;
		put(rs, i, rs->xheap[parent]);
		i = parent;
	}
	put(rs, i, it);
}

static void sift_down(struct ruleset *rs, size_t i)
{
	struct item *it = rs->xheap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= rs->xn)
			break;
		if (c + 1 < rs->xn && rs->xheap[c + 1]->expires_at < rs->xheap[c]->expires_at)
			c++;
		if (it->expires_at <= rs->xheap[c]->expires_at)
			break;
		put(rs, i, rs->xheap[c]);
		i = c;
	}
	put(rs, i, it);
}

int rs_expiry_add(struct ruleset *rs, struct item *it)
{
	if (it->xpos || !it->active || !it->expires_at)
		return 0;
	if (rs->xn == rs->xcap) {
		size_t nc = rs->xcap ? rs->xcap * 2 : 64;
		struct item **h = realloc(rs->xheap, nc * sizeof(*h));

		if (!h)
			return -ENOMEM;
		rs->xheap = h;
		rs->xcap = nc;
	}
	put(rs, rs->xn++, it);
	sift_up(rs, rs->xn - 1);
	return 0;
}

void rs_expiry_del(struct ruleset *rs, struct item *it)
{
	size_t i;

	if (!it->xpos)
		return;
	i = it->xpos - 1;
	it->xpos = 0;
	if (i == --rs->xn)
		return;
	put(rs, i, rs->xheap[rs->xn]);
	sift_down(rs, i);
	sift_up(rs, rs->xheap[i]->xpos - 1);
}

struct item *rs_expiry_due(struct ruleset *rs, int64_t now)
{
	struct item *it = rs->xn ? rs->xheap[0] : NULL;

	if (!it || it->expires_at > now)
		return NULL;
	rs_expiry_del(rs, it);
	return it;
}

void rs_expiry_clear(struct ruleset *rs)
{
	for (size_t i = 0; i < rs->xn; i++)
		rs->xheap[i]->xpos = 0;
	rs->xn = 0;
}

/* Appends it's data-plane deletion to ch and it to gone (both grown). */
static int push_expired(struct dp_change **ch, struct item ***gone, size_t *n, size_t *cap,
			struct item *it)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct dp_change *c2 = realloc(*ch, nc * sizeof(*c2));
		struct item **g2;

		if (!c2)
			return -ENOMEM;
		*ch = c2;
		g2 = realloc(*gone, nc * sizeof(*g2));
		if (!g2)
			return -ENOMEM;
		*gone = g2;
		*cap = nc;
	}
	(*ch)[*n].op = DP_DEL;
	(*ch)[*n].spec = it->spec;
	(*gone)[(*n)++] = it;
	return 0;
}

int ruleset_expire(struct ruleset *rs, int64_t now)
{
	struct dp_change *ch = NULL;
	struct item *it, **gone = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	pthread_mutex_lock(&rs->lock);
	while (!err && (it = rs_expiry_due(rs, now)))
		if ((err = push_expired(&ch, &gone, &n, &cap, it)))
			rs_expiry_add(rs, it); /* still in force: due again next time */
	if (!err && n)
		err = dataplane_apply(rs->dp, ch, n, NULL);
	else if (rs->dp)
		dataplane_settle(rs->dp, false); /* cleanup of switches retired since */
	for (size_t i = 0; i < n; i++) {
		char key[RS_KEY_LEN];

		if (err) { /* nothing changed: they are due again next time */
			rs_expiry_add(rs, gone[i]);
			continue;
		}
		gone[i]->active = false;
		rs_key_drop(rs, rs_item_key(gone[i], key));
	}
	if (!err && n)
		log_info("expired %zu rule(s) removed from the data plane", n);
	pthread_mutex_unlock(&rs->lock);
	free(ch);
	free(gone);
	return err ? err : (int)n;
}
