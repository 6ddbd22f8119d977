// SPDX-License-Identifier: MIT
/*
 * transfer: `rules|whitelist import` and `export`. An import reads a JSON or CSV file,
 * converts every row with lib/json (the REST API's conversion) before anything is sent.
 * To a controller a file larger than --batch-size goes staged as ONE change (stage.c); to
 * a node as atomic batches of at most --batch-size, and when a later batch is refused the
 * earlier ones are deleted again, so the import is all or nothing. An export
 * pages through List sorted by id and leaves out counters and timestamps, so that
 * export -> import -> export gives the same file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"

int ctl_read_file(const char *path, char **out, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	int rc = 0;

	*out = NULL;
	if (!f || !buf) {
		rc = ctl_fail(CTL_EXIT_FAIL, "%s: %s", path, strerror(f ? ENOMEM : errno));
		goto out;
	}
	for (;;) {
		size_t r;

		if (n + 1 >= cap) {
			char *nb;

			if (cap >= CTL_MAX_FILE) {
				rc = ctl_fail(CTL_EXIT_INVALID, "%s: larger than %u bytes", path,
					      CTL_MAX_FILE);
				goto out;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = ctl_fail(CTL_EXIT_FAIL, "out of memory");
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		rc = ctl_fail(CTL_EXIT_FAIL, "%s: read error", path);
		goto out;
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	if (f && f != stdin)
		fclose(f);
	return rc;
}

bool ctl_is_csv(const char *path, const char *format)
{
	size_t l = path ? strlen(path) : 0;

	if (format)
		return !strcmp(format, "csv");
	return l > 4 && !strcasecmp(path + l - 4, ".csv");
}

/*
 * Sends msgs as atomic batches of at most c->batch items (servers cap a batch: the
 * controller at 10,000). With more than one batch, a refused batch makes the ones already
 * applied be deleted again (by the ids they created), so that the import as a whole is
 * all or nothing. *out receives the last reply, with added summed over the batches.
 */
static int send_chunks(struct ctl *c, const struct kind *k, void **msgs, size_t n,
		       ProtobufCMessage **out)
{
	char **done = calloc(n + 1, sizeof(*done));
	size_t n_done = 0, added = 0;
	int rc = CTL_EXIT_OK;

	*out = NULL;
	if (!done)
		return ctl_fail(CTL_EXIT_FAIL, "out of memory");
	for (size_t at = 0; at < n && !rc; at += c->batch) {
		Xdrop__V1__BatchCreateRulesRequest rreq =
		    XDROP__V1__BATCH_CREATE_RULES_REQUEST__INIT;
		Xdrop__V1__BatchCreateWhitelistRequest wreq =
		    XDROP__V1__BATCH_CREATE_WHITELIST_REQUEST__INIT;
		size_t m = n - at < c->batch ? n - at : c->batch;
		ProtobufCMessage *resp = NULL;

		if (k == &kind_rules) {
			rreq.rules = (Xdrop__V1__Rule **)msgs + at;
			rreq.n_rules = m;
			rreq.atomic = true;
			rc = ctl_call(c, k->svc, "BatchCreate", &rreq.base, &resp,
				      CTL_BATCH_TIMEOUT_MS);
		} else {
			wreq.entries = (Xdrop__V1__WhitelistEntry **)msgs + at;
			wreq.n_entries = m;
			wreq.atomic = true;
			rc = ctl_call(c, k->svc, "BatchCreate", &wreq.base, &resp,
				      CTL_BATCH_TIMEOUT_MS);
		}
		if (!rc) {
			Xdrop__V1__BatchReply *b = (void *)resp;

			for (size_t i = 0; i < b->n_ids && n_done < n; i++)
				if (!(done[n_done++] = strdup(b->ids[i])))
					rc = ctl_fail(CTL_EXIT_FAIL, "out of memory");
			added += b->added;
			b->added = (uint32_t)added;
			ctl_msg_free(*out);
			*out = resp;
			ctl_progress(c, "sending", at + m, n);
		} else if (n > c->batch) {
			fprintf(stderr,
				"xdropctl: batch at item %zu refused: the import is "
				"rolled back\n",
				at);
		}
	}
	if (rc && n_done) {
		Xdrop__V1__BatchDeleteRequest dq = XDROP__V1__BATCH_DELETE_REQUEST__INIT;
		ProtobufCMessage *r = NULL;

		for (size_t at = 0; at < n_done; at += c->batch) {
			dq.ids = done + at;
			dq.n_ids = n_done - at < c->batch ? n_done - at : c->batch;
			if (ctl_call(c, k->svc, "BatchDelete", &dq.base, &r, CTL_BATCH_TIMEOUT_MS))
				fprintf(stderr, "xdropctl: rollback incomplete: %zu %s remain\n",
					n_done - at, k->list);
			ctl_msg_free(r);
			r = NULL;
		}
	}
	for (size_t i = 0; i < n_done; i++)
		free(done[i]);
	free(done);
	if (rc) {
		ctl_msg_free(*out);
		*out = NULL;
	}
	return rc;
}

/* A set larger than one batch goes staged (one change) to a controller; to a node, which
 * does not stage, as the sequence of batches of send_chunks. */
static int send_all(struct ctl *c, const struct kind *k, void **msgs, size_t n,
		    ProtobufCMessage **out)
{
	const struct ctl_stage g = {.kind = k, .msgs = msgs, .n = n};
	bool unsupported = false;
	int rc;

	if (n <= c->batch)
		return send_chunks(c, k, msgs, n, out);
	rc = ctl_stage_send(c, &g, out, &unsupported);
	return unsupported ? send_chunks(c, k, msgs, n, out) : rc;
}

int ctl_import(struct ctl *c, const struct kind *k, const char *path, const char *format)
{
	ProtobufCMessage *resp = NULL;
	struct json_error e = {0};
	cJSON *doc = NULL;
	const cJSON *items, *it;
	void **msgs = NULL;
	size_t n = 0, total, len = 0;
	char *text = NULL;
	int *lines = NULL; /* CSV: the file line of each item */
	int64_t t0;
	int rc;

	if (format && strcmp(format, "json") && strcmp(format, "csv"))
		return ctl_fail(CTL_EXIT_USAGE, "--format: json or csv");
	rc = ctl_read_file(path, &text, &len);
	if (rc)
		return rc;
	if (ctl_is_csv(path, format)) {
		rc = ctl_csv_read(c, k, path, text, &doc, &lines);
		if (rc)
			goto out;
	} else if (json_parse(text, len, &doc, &e)) {
		rc = ctl_json_fail(&e, path);
		goto out;
	}
	items = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, k->list) : doc;
	if (!cJSON_IsArray(items)) {
		rc = ctl_fail(CTL_EXIT_INVALID, "%s: expected {\"%s\": [...]} or an array", path,
			      k->list);
		goto out;
	}
	total = (size_t)cJSON_GetArraySize(items);
	if (!total) {
		rc = ctl_fail(CTL_EXIT_INVALID, "%s: nothing to import", path);
		goto out;
	}
	if (c->progress < 0)
		c->progress = isatty(2) && !c->quiet && total >= CTL_PROGRESS_MIN_ROWS;
	msgs = calloc(total, sizeof(*msgs));
	if (!msgs) {
		rc = ctl_fail(CTL_EXIT_FAIL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(it, items)
	{
		char prefix[48], where[PATH_WHERE_MAX];
		int err;

		ctl_item_where(path, lines, n, k->list, prefix, sizeof(prefix), where,
			       sizeof(where));
		err = k == &kind_rules
			  ? json_to_rule(it, prefix, (Xdrop__V1__Rule **)&msgs[n], NULL, NULL, &e)
			  : json_to_wl(it, prefix, (Xdrop__V1__WhitelistEntry **)&msgs[n], &e);
		if (!err)
			err = ctl_check_item(msgs[n], prefix, &e);
		if (err) {
			rc = err == -ENOMEM ? ctl_fail(CTL_EXIT_FAIL, "out of memory")
					    : ctl_json_fail(&e, where);
			n += msgs[n] != NULL;
			goto out;
		}
		if (k == &kind_rules && !*((Xdrop__V1__Rule *)msgs[n])->source)
			((Xdrop__V1__Rule *)msgs[n])->source = (char *)"import";
		n++;
		if ((n % (total / 50 + 1)) == 0 || n == total)
			ctl_progress(c, "checking", n, total);
	}
	t0 = clock_mono_ns();
	rc = send_all(c, k, msgs, n, &resp);
	if (c->progress > 0)
		fprintf(stderr, "%s in %.1f s\n", rc ? "refused" : "done",
			(double)(clock_mono_ns() - t0) / 1e9);
	if (rc)
		goto out;
	if (c->json) {
		ctl_print_msg(resp);
	} else if (!c->quiet) {
		const Xdrop__V1__BatchReply *b = (const void *)resp;

		printf("imported %u %s (revision %llu)\n", b->added, k->list,
		       (unsigned long long)(b->sync ? b->sync->revision : 0));
	}
out:
	for (size_t i = 0; msgs && i < n; i++) {
		if (k == &kind_rules && ((Xdrop__V1__Rule *)msgs[i])->source == (char *)"import")
			((Xdrop__V1__Rule *)msgs[i])->source = (char *)protobuf_c_empty_string;
		ctl_msg_free(msgs[i]);
	}
	free(msgs);
	free(lines);
	ctl_msg_free(resp);
	cJSON_Delete(doc);
	free(text);
	return rc;
}

/* Fetches every item, sorted by id, as JSON objects without counters and timestamps. */
static int fetch_all(struct ctl *c, const struct kind *k, cJSON *arr)
{
	static const char *const drop[] = {"stats", "created_at", "updated_at"};
	uint32_t page = 1, pages;

	do {
		Xdrop__V1__ListRulesRequest rq = XDROP__V1__LIST_RULES_REQUEST__INIT;
		Xdrop__V1__ListWhitelistRequest wq = XDROP__V1__LIST_WHITELIST_REQUEST__INIT;
		ProtobufCMessage *resp = NULL;
		cJSON *o, *list, *it;
		int rc;

		if (k == &kind_rules) {
			rq.page = page, rq.limit = CTL_PAGE, rq.sort = "id", rq.order = "asc";
			rc = ctl_call(c, k->svc, "List", &rq.base, &resp, 0);
		} else {
			wq.page = page, wq.limit = CTL_PAGE, wq.sort = "id", wq.order = "asc";
			rc = ctl_call(c, k->svc, "List", &wq.base, &resp, 0);
		}
		if (rc)
			return rc;
		o = json_from_msg(resp);
		pages = k == &kind_rules
			    ? (((Xdrop__V1__ListRulesResponse *)resp)->pagination
				   ? ((Xdrop__V1__ListRulesResponse *)resp)->pagination->pages
				   : 1)
			    : (((Xdrop__V1__ListWhitelistResponse *)resp)->pagination
				   ? ((Xdrop__V1__ListWhitelistResponse *)resp)->pagination->pages
				   : 1);
		ctl_msg_free(resp);
		if (!o)
			return ctl_fail(CTL_EXIT_FAIL, "out of memory");
		list = cJSON_DetachItemFromObjectCaseSensitive(o, k->list);
		cJSON_Delete(o);
		while (list && (it = cJSON_DetachItemFromArray(list, 0))) {
			for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
				cJSON_DeleteItemFromObjectCaseSensitive(it, drop[i]);
			cJSON_AddItemToArray(arr, it);
		}
		cJSON_Delete(list);
	} while (page++ < pages);
	return CTL_EXIT_OK;
}

int ctl_export(struct ctl *c, const struct kind *k, const char *path, const char *format)
{
	cJSON *arr = cJSON_CreateArray();
	FILE *f = NULL;
	int rc;

	if (format && strcmp(format, "json") && strcmp(format, "csv"))
		return ctl_fail(CTL_EXIT_USAGE, "--format: json or csv");
	if (!arr)
		return ctl_fail(CTL_EXIT_FAIL, "out of memory");
	rc = fetch_all(c, k, arr);
	if (rc)
		goto out;
	f = !path || !strcmp(path, "-") ? stdout : fopen(path, "w");
	if (!f) {
		rc = ctl_fail(CTL_EXIT_FAIL, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (ctl_is_csv(path, format)) {
		ctl_csv_write(f, k->columns, arr);
	} else {
		cJSON *doc = cJSON_CreateObject();
		char *s;
		int count = cJSON_GetArraySize(arr);

		if (!doc || !cJSON_AddItemToObject(doc, k->list, arr)) {
			cJSON_Delete(doc);
			rc = ctl_fail(CTL_EXIT_FAIL, "out of memory");
			goto out;
		}
		arr = NULL;
		cJSON_AddNumberToObject(doc, "count", count);
		s = cJSON_Print(doc);
		cJSON_Delete(doc);
		if (!s) {
			rc = ctl_fail(CTL_EXIT_FAIL, "out of memory");
			goto out;
		}
		fputs(s, f);
		fputc('\n', f);
		free(s);
	}
	if (f != stdout ? fclose(f) : fflush(f))
		rc = ctl_fail(CTL_EXIT_FAIL, "%s: write error", path ? path : "stdout");
	f = NULL;
out:
	if (f && f != stdout)
		fclose(f);
	cJSON_Delete(arr);
	return rc;
}
