// SPDX-License-Identifier: MIT
/*
 * api_list: GET /api/v1/rules and /api/v1/whitelist without page and limit answer every
 * item, as XDrop 2.7 does (see api.h). The gateway pages the controller itself, in pages of
 * the most one List reply serves (XDROP_LIST_MAX), until the total is reached; count is
 * the number of items answered and pagination says one page of them all. The default order
 * is newest first. More than GW_LIST_ALL_MAX items are refused (413) rather than cut short.
 * Items written between two pages may be missed or seen twice, as with any paged read.
 */
#include <errno.h>
#include <string.h>

#include "api.h"
#include "gw_config.h"
#include "pbfield.h"
#include "xdrop_limits.h"

bool api_list_wants_all(const struct api_op *op, struct http_request *rq)
{
	return op->in == API_IN_PARAMS && op->query && !strcmp(op->rpc, "List") &&
	       (op->kind == API_RULE || op->kind == API_WL) && !http_query(rq, "page") &&
	       !http_query(rq, "limit");
}

/* Moves the items of page's array many into all's (both cJSON objects). */
static void move_items(cJSON *all, cJSON *page, const char *many)
{
	cJSON *dst = cJSON_GetObjectItemCaseSensitive(all, many);
	cJSON *src = cJSON_GetObjectItemCaseSensitive(page, many);
	cJSON *it;

	while (dst && src && (it = cJSON_DetachItemViaPointer(src, src->child)))
		cJSON_AddItemToArray(dst, it);
}

/* count and pagination of the whole list of n items. Returns 0 or -ENOMEM. */
static int set_totals(cJSON *all, size_t n)
{
	cJSON *p = cJSON_CreateObject();

	cJSON_DeleteItemFromObject(all, "count");
	cJSON_DeleteItemFromObject(all, "pagination");
	if (!p || !cJSON_AddNumberToObject(p, "page", 1) ||
	    !cJSON_AddNumberToObject(p, "limit", (double)n) ||
	    !cJSON_AddNumberToObject(p, "total", (double)n) ||
	    !cJSON_AddNumberToObject(p, "pages", 1) ||
	    !cJSON_AddNumberToObject(all, "count", (double)n)) {
		cJSON_Delete(p);
		return -ENOMEM;
	}
	cJSON_AddItemToObject(all, "pagination", p);
	return 0;
}

/* One page into *all (created on the first). Returns 1 when it was the last, 0 when more
 * may follow, or answers and returns a negative errno. */
static int one_page(const struct api_op *op, struct http_request *rq, struct http_reply *rp,
		    ProtobufCMessage *req, cJSON **all, size_t *n)
{
	const char *many = op->kind == API_RULE ? "rules" : "entries";
	ProtobufCMessage *resp = NULL;
	const Xdrop__V1__Pagination *pg;
	struct rpc_status st;
	uint64_t total;
	size_t got = 0;
	cJSON *page;

	if (api_call(rq, op->svc, op->rpc, req, &resp, &st)) {
		api_fail(rp, &st, NULL);
		return -EIO;
	}
	pg = pbf_get_ptr(resp, "pagination");
	total = pg ? pg->total : UINT64_MAX; /* none: a short page ends the list */
	pbf_repeated(resp, many, &got);
	if (pg && total > GW_LIST_ALL_MAX) {
		api_free_msg(resp);
		http_error(rp, 413, "limit",
			   "%llu items: more than one reply holds (%u); give page and limit",
			   (unsigned long long)total, GW_LIST_ALL_MAX);
		return -E2BIG;
	}
	page = json_from_msg(resp);
	api_free_msg(resp);
	if (!page)
		return http_error(rp, 500, NULL, "out of memory"), -ENOMEM;
	if (!*all)
		*all = page;
	else {
		move_items(*all, page, many);
		cJSON_Delete(page);
	}
	*n += got;
	if (*n > GW_LIST_ALL_MAX) {
		http_error(rp, 413, "limit", "more than one reply holds (%u); give page and limit",
			   GW_LIST_ALL_MAX);
		return -E2BIG;
	}
	/* the total decides (a server may serve shorter pages) */
	return !got || *n >= total || (total == UINT64_MAX && got < XDROP_LIST_MAX) ? 1 : 0;
}

int api_list_all(const struct api_op *op, struct http_request *rq, struct http_reply *rp,
		 ProtobufCMessage *req)
{
	cJSON *all = NULL;
	size_t n = 0;
	int rc = 0;

	if (!*pbf_str(req, "sort") && !*pbf_str(req, "order"))
		pbf_set_ptr(req, "order", "desc"); /* newest first */
	pbf_set_int(req, "limit", XDROP_LIST_MAX);
	for (uint32_t page = 1; !rc; page++) {
		pbf_set_int(req, "page", page);
		rc = one_page(op, rq, rp, req, &all, &n);
	}
	if (rc < 0) {
		cJSON_Delete(all);
		return 0;
	}
	if (op->kind == API_RULE)
		api_compat_stats_meta(rq, all); /* v2.7's stats_* fields; best effort */
	if (set_totals(all, n)) {
		cJSON_Delete(all);
		return http_error(rp, 500, NULL, "out of memory");
	}
	return http_json(rp, 200, all);
}
