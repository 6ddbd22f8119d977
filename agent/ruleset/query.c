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
		c = rs_msg_copy(it->msg);
	pthread_mutex_unlock(&rs->lock);
	return c;
}

void ruleset_foreach_entry(struct ruleset *rs,
			   void (*fn)(void *arg, const char *id, const struct rule_spec *s,
				      bool active),
			   void *arg)
{
	const struct ruleset_kind *const kinds[] = {&ruleset_rules, &ruleset_whitelist};
	struct item *it, *tmp;

	pthread_mutex_lock(&rs->lock);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		HASH_ITER(hh, rs->items[kinds[k]->index], it, tmp)
		{
			fn(arg, pbf_str(it->msg, kinds[k]->id_field), &it->spec, it->active);
		}
	}
	pthread_mutex_unlock(&rs->lock);
}

/* What a list request asks for, read from it once. */
struct query {
	const struct ruleset_kind *k;
	const ProtobufCMessage *req;
	const char *search;
	const ProtobufCFieldDescriptor *sort, *id;
	bool desc;
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
	q->id = pbf_field(k->msg, k->id_field);
	q->desc = !strcmp(pbf_str(req, "order"), "desc");
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
	const ProtobufCMessage *x = *(ProtobufCMessage *const *)a;
	const ProtobufCMessage *y = *(ProtobufCMessage *const *)b;
	const struct query *q = arg;
	int c = pbf_compare(q->sort, x, y);

	if (!c)
		c = pbf_compare(q->id, x, y);
	return q->desc ? -c : c;
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

/* Copies v[from..to) into resp with the pagination. Lock held. */
static int fill(const struct query *q, ProtobufCMessage **v, size_t n, ProtobufCMessage *resp)
{
	Xdrop__V1__Pagination *pg = calloc(1, sizeof(*pg));
	ProtobufCMessage **out = NULL;
	size_t from, to, k = 0;

	if (!pg)
		return -ENOMEM;
	xdrop__v1__pagination__init(pg);
	pbf_set_ptr(resp, "pagination", pg);
	page_of((uint32_t)pbf_int(q->req, "page"), (uint32_t)pbf_int(q->req, "limit"), n, &from,
		&to, pg);
	out = calloc(to - from + 1, sizeof(*out));
	for (size_t i = from; out && i < to; i++)
		out[k++] = rs_msg_copy(v[i]);
	pbf_set_repeated(resp, q->k->list_field, out, k);
	pbf_set_int(resp, "count", (int64_t)k);
	return out ? 0 : -ENOMEM;
}

int ruleset_list(struct ruleset *rs, const struct ruleset_kind *k, const ProtobufCMessage *req,
		 ProtobufCMessage *resp)
{
	ProtobufCMessage **v;
	struct item *it, *tmp;
	struct query q;
	size_t n = 0;
	int err;

	query_of(&q, k, req);
	pthread_mutex_lock(&rs->lock);
	v = calloc(rs->count[k->index] + 1, sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&rs->lock);
		return -ENOMEM;
	}
	HASH_ITER(hh, rs->items[k->index], it, tmp)
	{
		if (matches(&q, it->msg))
			v[n++] = it->msg;
	}
	qsort_r(v, n, sizeof(*v), compare, &q);
	err = fill(&q, v, n, resp);
	pthread_mutex_unlock(&rs->lock);
	free(v);
	return err;
}
