// SPDX-License-Identifier: MIT
/*
 * ruleset/query.c: reading the set. Get returns a copy of one entry; list filters
 * (search text over the kind's RSF_SEARCH fields, and the request's fields named like the
 * kind's RSF_FILTER fields), sorts (by a RSF_SORT field, then by id) and pages the
 * entries of one kind; foreach walks the rules and whitelist entries for the sampler
 * (agent/stats.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "pbfield.h"
#include "xdrop_limits.h"

#define RS_LIST_DEFAULT XDROP_LIST_DEFAULT
#define RS_LIST_MAX	XDROP_LIST_MAX

ProtobufCMessage *ruleset_get(struct ruleset *rs, const struct ruleset_kind *k, const char *id)
{
	ProtobufCMessage *c = NULL;
	struct item *it;

	pthread_mutex_lock(&rs->lock);
	it = rs_find(rs, k, id);
	if (it)
		c = rs_item_msg(it);
	pthread_mutex_unlock(&rs->lock);
	return c;
}

void ruleset_foreach_entry(struct ruleset *rs,
			   void (*fn)(void *arg, const char *id, const struct rule_spec *s,
				      bool active),
			   void *arg)
{
	const struct ruleset_kind *const kinds[] = {&ruleset_rules, &ruleset_whitelist};
	struct item *it;

	pthread_mutex_lock(&rs->lock);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		for (size_t pos = 0; (it = rs_next(rs, kinds[k]->index, &pos));)
			fn(arg, rs_id(it), &it->spec, it->active);
	pthread_mutex_unlock(&rs->lock);
}

size_t ruleset_entry_slots(struct ruleset *rs, const char *id, uint32_t slots[RULESET_NKINDS])
{
	struct item *it;
	size_t n = 0;

	pthread_mutex_lock(&rs->lock);
	for (unsigned k = 0; rs->dp && k < RULESET_NKINDS; k++) {
		it = rs_find(rs, ruleset_kinds[k], id);
		if (it && it->active && !dataplane_entry_slot(rs->dp, &it->spec, &slots[n]))
			n++;
	}
	pthread_mutex_unlock(&rs->lock);
	return n;
}

/* Where a list's sort key comes from: the item itself (no unpacking) or its message. */
enum sort_from { SORT_ID, SORT_CREATED, SORT_UPDATED, SORT_MSG_STR, SORT_MSG_INT };

/* What a list request asks for, read from it once. */
struct query {
	const struct ruleset_kind *k;
	const ProtobufCMessage *req;
	const char *search;
	const ProtobufCFieldDescriptor *sort;
	enum sort_from from;
	bool desc;
	bool need_msg; /* filters, search text or the sort key read the message */
};

/* One listed entry and its sort key. */
struct row {
	const struct item *it;
	int64_t n;
	char *s; /* SORT_MSG_STR: malloc'ed */
};

static const struct ruleset_field *kind_field(const struct ruleset_kind *k, const char *name,
					      unsigned flag)
{
	for (size_t i = 0; i < k->nfields; i++)
		if ((k->fields[i].flags & flag) && !strcmp(k->fields[i].name, name))
			return &k->fields[i];
	return NULL;
}

static void query_of(struct query *q, const struct ruleset_kind *k, const ProtobufCMessage *req)
{
	const char *sort = pbf_str(req, "sort");

	q->k = k;
	q->req = req;
	q->search = pbf_str(req, "search");
	if (!*sort || !kind_field(k, sort, RSF_SORT))
		sort = k->default_sort;
	q->sort = pbf_field(k->msg, sort);
	q->desc = !strcmp(pbf_str(req, "order"), "desc");
	q->need_msg = *q->search != 0;
	for (size_t i = 0; i < k->nfields; i++)
		if ((k->fields[i].flags & RSF_FILTER) && *pbf_str(req, k->fields[i].name))
			q->need_msg = true;
	if (!strcmp(sort, k->id_field)) {
		q->from = SORT_ID;
	} else if (k->created_field && !strcmp(sort, k->created_field)) {
		q->from = SORT_CREATED;
	} else if (k->updated_field && !strcmp(sort, k->updated_field)) {
		q->from = SORT_UPDATED;
	} else {
		q->from = q->sort->type == PROTOBUF_C_TYPE_STRING ? SORT_MSG_STR : SORT_MSG_INT;
		q->need_msg = true;
	}
}

static bool contains(const char *hay, const char *needle)
{
	return hay && strcasestr(hay, needle) != NULL;
}

/* Whether m passes the request's filters and search text. */
static bool matches(const struct query *q, const ProtobufCMessage *m)
{
	bool found = !*q->search;

	for (size_t i = 0; i < q->k->nfields; i++) {
		const struct ruleset_field *f = &q->k->fields[i];
		const char *want = f->flags & RSF_FILTER ? pbf_str(q->req, f->name) : "";

		if (*want && pbf_field(m->descriptor, f->name)->type == PROTOBUF_C_TYPE_BOOL) {
			if (pbf_int(m, f->name) != !strcmp(want, "true"))
				return false;
		} else if (*want && strcmp(pbf_str(m, f->name), want)) {
			return false;
		}
		if (!found && (f->flags & RSF_SEARCH))
			found = contains(pbf_get_ptr(m, f->name), q->search);
	}
	return found;
}

static int compare(const void *a, const void *b, void *arg)
{
	const struct row *x = a, *y = b;
	const struct query *q = arg;
	int c;

	if (q->from == SORT_MSG_STR)
		c = strcmp(x->s, y->s);
	else if (q->from == SORT_ID)
		c = 0;
	else
		c = (x->n > y->n) - (x->n < y->n);
	if (!c)
		c = strcmp(rs_id(x->it), rs_id(y->it));
	return q->desc ? -c : c;
}

/* Row r for it (m: its message when the query needs it). 0 or -ENOMEM. */
static int row_of(const struct query *q, const struct item *it, const ProtobufCMessage *m,
		  struct row *r)
{
	r->it = it;
	r->s = NULL;
	r->n = q->from == SORT_CREATED	 ? it->created_at
	       : q->from == SORT_UPDATED ? it->updated_at
	       : q->from == SORT_MSG_INT ? pbf_int(m, q->sort->name)
					 : 0;
	if (q->from == SORT_MSG_STR && !(r->s = strdup(pbf_str(m, q->sort->name))))
		return -ENOMEM;
	return 0;
}

static void page_of(uint32_t page, uint32_t limit, size_t total, size_t *from, size_t *to,
		    Xdrop__V1__Pagination *pg)
{
	if (limit == 0)
		limit = RS_LIST_DEFAULT;
	if (limit > RS_LIST_MAX)
		limit = RS_LIST_MAX;
	if (page == 0)
		page = 1;
	*from = (size_t)(page - 1) * limit;
	if (*from > total)
		*from = total;
	*to = *from + limit < total ? *from + limit : total;
	pg->page = page;
	pg->limit = limit;
	pg->total = total;
	pg->pages = (uint32_t)((total + limit - 1) / limit);
}

/* Unpacks the entries of rows[from..to) into resp with the pagination. Lock held. */
static int fill(const struct query *q, const struct row *rows, size_t n, ProtobufCMessage *resp)
{
	Xdrop__V1__Pagination *pg = calloc(1, sizeof(*pg));
	ProtobufCMessage **out = NULL;
	size_t from, to, k = 0;
	int err = 0;

	if (!pg)
		return -ENOMEM;
	xdrop__v1__pagination__init(pg);
	pbf_set_ptr(resp, "pagination", pg);
	page_of((uint32_t)pbf_int(q->req, "page"), (uint32_t)pbf_int(q->req, "limit"), n, &from,
		&to, pg);
	out = calloc(to - from + 1, sizeof(*out));
	for (size_t i = from; out && i < to && !err; i++)
		if (!(out[k++] = rs_item_msg(rows[i].it)))
			err = -ENOMEM;
	pbf_set_repeated(resp, q->k->list_field, out, k);
	pbf_set_int(resp, "count", (int64_t)k);
	return out ? err : -ENOMEM;
}

/* The rows of k's entries that pass the query, into rows (room for all). Lock held. */
static int select_rows(struct ruleset *rs, const struct query *q, struct row *rows, size_t *n)
{
	struct item *it;
	int err = 0;

	*n = 0;
	for (size_t pos = 0; (it = rs_next(rs, q->k->index, &pos));) {
		ProtobufCMessage *m = q->need_msg ? rs_item_msg(it) : NULL;

		if (q->need_msg && !m)
			return -ENOMEM;
		if (!m || matches(q, m))
			err = row_of(q, it, m, &rows[(*n)++]);
		ruleset_free(m);
		if (err)
			return err;
	}
	return 0;
}

int ruleset_list(struct ruleset *rs, const struct ruleset_kind *k, const ProtobufCMessage *req,
		 ProtobufCMessage *resp)
{
	struct row *rows;
	struct query q;
	size_t n = 0;
	int err;

	query_of(&q, k, req);
	pthread_mutex_lock(&rs->lock);
	rows = calloc(rs->count[k->index] + 1, sizeof(*rows));
	err = rows ? select_rows(rs, &q, rows, &n) : -ENOMEM;
	if (!err) {
		qsort_r(rows, n, sizeof(*rows), compare, &q);
		err = fill(&q, rows, n, resp);
	}
	pthread_mutex_unlock(&rs->lock);
	for (size_t i = 0; rows && i < n; i++)
		free(rows[i].s);
	free(rows);
	return err;
}
