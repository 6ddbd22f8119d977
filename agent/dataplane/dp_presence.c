// SPDX-License-Identifier: MIT
/*
 * dp_presence: the presence maps, which tell the program, per field value, in which combos
 * the value occurs (bpf/xdrop.h, "Candidate combos"). The model counts the entries behind
 * every presence bit; a transaction collects the kernel values whose bits change in a set
 * of pending values (struct pagg) and writes them in one go: bits that appear are written
 * before the flip, bits that disappear after the grace period, so the kernel always holds a
 * superset of what the active generation needs. A mirror of the kernel values (struct
 * pval) spares every read. See dp_priv.h.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "dp_priv.h"

/* The value of field f (enum xdrop_field) in an entry's key, as presence key bytes:
 * addresses whole, ports in network order in the first two bytes, the protocol in the
 * first byte. */
static void pres_val(const struct dp_entry *e, int field, struct xdrop_addr *val)
{
	const __be16 *sport = e->key.table == TBL_EXACT ? &e->key.u.e.sport : &e->key.u.c.sport;
	const __be16 *dport = e->key.table == TBL_EXACT ? &e->key.u.e.dport : &e->key.u.c.dport;

	memset(val, 0, sizeof(*val));
	switch (field) {
	case XDROP_FIELD_SRC:
		*val = e->key.u.e.src;
		break;
	case XDROP_FIELD_DST:
		*val = e->key.u.e.dst;
		break;
	case XDROP_FIELD_SPORT:
		memcpy(val->b, sport, 2);
		break;
	case XDROP_FIELD_DPORT:
		memcpy(val->b, dport, 2);
		break;
	default:
		val->b[0] = e->key.table == TBL_EXACT ? e->key.u.e.proto : e->key.u.c.proto;
		break;
	}
}

uint8_t dp_entry_bit(const struct dataplane *dp, const struct dp_entry *e)
{
	return e->key.table == TBL_EXACT ? dp->order.pos_of_mask[e->combo] : e->combo;
}

/* The pending value of (field, val), created from the mirrored kernel value. */
static struct pagg *pagg_get(struct pagg **aggs, struct dataplane *dp, int field,
			     const struct xdrop_addr *val)
{
	struct pagg k, *a;
	struct pval *pv;

	memset(&k.key, 0, sizeof(k.key));
	k.key.field = (uint8_t)field;
	k.key.val = *val;
	HASH_FIND(hh, *aggs, &k.key, sizeof(k.key), a);
	if (a)
		return a;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->key = k.key;
	HASH_FIND(hh, dp->pvals, &a->key, sizeof(a->key), pv);
	if (pv)
		a->v = pv->v;
	HASH_ADD(hh, *aggs, key, sizeof(a->key), a);
	return a;
}

/* Sets or clears one bit of a pending value. */
static void pagg_bit(struct pagg *a, const struct dp_entry *e, uint32_t bit, bool set)
{
	uint32_t *w = e->key.table == TBL_EXACT ? &a->v.exact[e->kind] : &a->v.cidr[e->kind];

	if (set)
		*w |= bit;
	else
		*w &= ~bit;
}

/* dp_pres_adjust for the fields of the entry's combo that are also in fields (a mask). */
static int pres_adjust_fields(struct dataplane *dp, struct pagg **aggs, const struct dp_entry *e,
			      int delta, unsigned fields)
{
	for (int f = 0; f < XDROP_NFIELDS; f++) {
		struct dp_pres k, *p;
		struct pagg *a;

		if (!(e->combo & fields & (1 << f)))
			continue;
		if (f <= XDROP_FIELD_DST && (e->key.table == TBL_CIDR || !dp->addr_pres[e->kind]))
			continue; /* CIDR addresses live in the prefix info; see addr_pres */
		memset(&k.key, 0, sizeof(k.key));
		k.key.field = (uint8_t)f;
		k.key.table = e->key.table;
		k.key.kind = e->kind;
		k.key.bit = dp_entry_bit(dp, e);
		pres_val(e, f, &k.key.val);
		HASH_FIND(hh, dp->pres, &k.key, sizeof(k.key), p);
		if (!p) {
			if (delta < 0)
				continue;
			p = calloc(1, sizeof(*p));
			if (!p)
				return -ENOMEM;
			p->key = k.key;
			HASH_ADD(hh, dp->pres, key, sizeof(p->key), p);
		}
		p->count += (uint32_t)delta;
		if (delta > 0 ? p->count != 1 : p->count != 0)
			continue; /* the bit stays as it is */
		a = pagg_get(aggs, dp, f, &k.key.val);
		if (!a)
			return -ENOMEM;
		pagg_bit(a, e, 1u << k.key.bit, delta > 0);
		if (p->count == 0) {
			HASH_DEL(dp->pres, p);
			free(p);
		}
	}
	return 0;
}

int dp_pres_adjust(struct dataplane *dp, struct pagg **aggs, const struct dp_entry *e, int delta)
{
	return pres_adjust_fields(dp, aggs, e, delta, XDROP_F_ALL);
}

int dp_pres_array_fd(struct dataplane *dp, int field)
{
	return fd_of(field == XDROP_FIELD_SPORT	  ? dp->skel->maps.xdrop_sport
		     : field == XDROP_FIELD_DPORT ? dp->skel->maps.xdrop_dport
						  : dp->skel->maps.xdrop_proto);
}

static void pval_set(struct dataplane *dp, const struct pagg *a, bool keep)
{
	struct pval *pv;

	HASH_FIND(hh, dp->pvals, &a->key, sizeof(a->key), pv);
	if (!keep) {
		if (pv) {
			HASH_DEL(dp->pvals, pv);
			free(pv);
		}
		return;
	}
	if (!pv) {
		pv = calloc(1, sizeof(*pv));
		if (!pv)
			return; /* the mirror misses a value: the next change reads zero bits */
		pv->key = a->key;
		HASH_ADD(hh, dp->pvals, key, sizeof(pv->key), pv);
	}
	pv->v = a->v;
}

/* Turns address presence on for a kind: every existing exact entry of the kind gets its
 * address bits (entries of the running transaction get theirs when staged). */
static int addr_pres_enable(struct dataplane *dp, struct pagg **aggs, uint8_t kind)
{
	struct dp_entry *e;
	size_t tmp;
	int err = 0;

	dp->addr_pres[kind] = true;
	DP_FOR_ENTRIES(dp, e, tmp)
	{
		if (e->kind != kind || e->key.table != TBL_EXACT || e->tx == TX_NEW)
			continue;
		err = pres_adjust_fields(dp, aggs, e, +1, XDROP_F_SRC | XDROP_F_DST);
		if (err)
			break;
	}
	return err;
}

/* Turns address presence off for a kind (after the flip and the grace period: no program
 * of any generation still consults it). */
static void addr_pres_disable(struct dataplane *dp, struct pagg **aggs, uint8_t kind)
{
	struct dp_entry *e;
	size_t tmp;

	DP_FOR_ENTRIES(dp, e, tmp)
	{
		if (e->kind == kind && e->key.table == TBL_EXACT)
			pres_adjust_fields(dp, aggs, e, -1, XDROP_F_SRC | XDROP_F_DST);
	}
	dp->addr_pres[kind] = false;
}

int dp_addr_pres_grow(struct dataplane *dp, struct pagg **aggs, const struct plan *pl, size_t n)
{
	for (int kd = 0; kd < XDROP_NKINDS; kd++) {
		uint32_t active;
		int err;

		if (dp->addr_pres[kd])
			continue;
		active = dp_active_bits(dp, TBL_EXACT, kd);
		for (size_t i = 0; i < n; i++)
			if (pl[i].op == TX_NEW && pl[i].e->kind == kd &&
			    pl[i].e->key.table == TBL_EXACT)
				active |= 1u << dp_entry_bit(dp, pl[i].e);
		if (__builtin_popcount(active) >= XDROP_ADDR_PRES_MIN) {
			err = addr_pres_enable(dp, aggs, (uint8_t)kd);
			if (err)
				return err;
		}
	}
	return 0;
}

void dp_addr_pres_shrink(struct dataplane *dp, struct pagg **aggs)
{
	for (int kd = 0; kd < XDROP_NKINDS; kd++) {
		int active = __builtin_popcount(dp_active_bits(dp, TBL_EXACT, kd));

		if (dp->addr_pres[kd] && active < XDROP_ADDR_PRES_MIN)
			addr_pres_disable(dp, aggs, (uint8_t)kd);
	}
}

/* Writes the pending presence values (address maps in batches), updates the mirror and
 * frees them. */
int dp_pagg_flush(struct dataplane *dp, struct pagg **aggs)
{
	struct wbatch wb[2]; /* by address field */
	struct pagg *a, *tmp;
	int err = 0;

	dp_wb_init(&wb[XDROP_FIELD_SRC], fd_of(dp->skel->maps.xdrop_src_addr),
		   sizeof(struct xdrop_addr), sizeof(struct xdrop_addr_presence));
	dp_wb_init(&wb[XDROP_FIELD_DST], fd_of(dp->skel->maps.xdrop_dst_addr),
		   sizeof(struct xdrop_addr), sizeof(struct xdrop_addr_presence));
	HASH_ITER(hh, *aggs, a, tmp)
	{
		bool nonzero = a->v.exact[0] || a->v.exact[1] || a->v.cidr[0] || a->v.cidr[1];

		if (err)
			break;
		if (a->key.field <= XDROP_FIELD_DST) {
			struct xdrop_addr_presence ap = {{a->v.exact[0], a->v.exact[1]}};

			if (nonzero)
				err = dp_wb_add(&wb[a->key.field], &a->key.val, &ap);
			else if (bpf_map_delete_elem(wb[a->key.field].fd, &a->key.val) &&
				 errno != ENOENT)
				err = -errno;
		} else {
			uint32_t idx = a->key.field == XDROP_FIELD_PROTO
					   ? a->key.val.b[0]
					   : be16toh(*(const uint16_t *)a->key.val.b);

			if (bpf_map_update_elem(dp_pres_array_fd(dp, a->key.field), &idx, &a->v,
						BPF_ANY))
				err = -errno;
		}
		pval_set(dp, a, nonzero);
	}
	for (int i = 0; i < 2; i++) {
		if (!err)
			err = dp_wb_flush(&wb[i]);
		dp_wb_free(&wb[i]);
	}
	dp_pagg_drop(aggs);
	return err;
}

void dp_pagg_drop(struct pagg **aggs)
{
	DP_HASH_FREE(*aggs);
}
