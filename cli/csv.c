// SPDX-License-Identifier: MIT
/*
 * csv: CSV files of rules and whitelist entries (RFC 4180 quoting). Reading turns the rows
 * into the JSON objects a JSON import holds (fields.c types each cell), so both formats are
 * validated by the same code; writing prints the export columns of a kind.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* Splits one CSV record (RFC 4180) starting at *p into cells; advances *p. Returns the
 * cell count, or -1 for an unterminated quote. cells[i] point into buf (modified). */
static int csv_record(char **p, char **cells, int max)
{
	char *s = *p, *w;
	int n = 0;

	if (!*s)
		return 0;
	for (;;) {
		char *cell = s;

		w = s;
		if (*s == '"') {
			s++;
			for (;;) {
				if (!*s)
					return -1;
				if (*s == '"' && s[1] == '"') {
					*w++ = '"';
					s += 2;
				} else if (*s == '"') {
					s++;
					break;
				} else {
					*w++ = *s++;
				}
			}
		} else {
			while (*s && *s != ',' && *s != '\n' && *s != '\r')
				*w++ = *s++;
		}
		if (n < max)
			cells[n++] = cell;
		if (*s == ',') {
			*w = 0;
			s++;
			continue;
		}
		if (*s && *s != '\n' && *s != '\r')
			return -1;
		if (*s == '\r')
			s++;
		if (*s == '\n')
			s++;
		*w = 0;
		break;
	}
	*p = s;
	return n;
}

static bool csv_needs_quotes(const char *s)
{
	return *s == ' ' || (*s && s[strlen(s) - 1] == ' ') || strpbrk(s, ",\"\r\n") != NULL;
}

static void csv_cell(FILE *f, const cJSON *v)
{
	if (!v || cJSON_IsNull(v))
		return;
	if (cJSON_IsBool(v)) {
		fputs(cJSON_IsTrue(v) ? "true" : "false", f);
	} else if (cJSON_IsRaw(v)) {
		fputs(v->valuestring, f);
	} else if (cJSON_IsNumber(v)) {
		fprintf(f, "%.17g", v->valuedouble);
	} else if (cJSON_IsString(v)) {
		if (!csv_needs_quotes(v->valuestring)) {
			fputs(v->valuestring, f);
			return;
		}
		fputc('"', f);
		for (const char *s = v->valuestring; *s; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	}
}

int ctl_csv_to_json(struct ctl *c, const struct kind *k, char *text, cJSON **out)
{
	char *p = text, *head[64], *cells[64];
	int nh = csv_record(&p, head, 64), line = 1;
	cJSON *arr = cJSON_CreateArray();
	struct json_error e = {0};
	size_t total = 0;

	*out = NULL;
	if (!arr)
		return ctl_fail(CTL_EXIT_FAIL, "out of memory");
	if (nh <= 0) {
		cJSON_Delete(arr);
		return ctl_fail(CTL_EXIT_INVALID,
				"CSV: a header row naming the columns is required");
	}
	for (char *q = p; *q; q++)
		total += *q == '\n';
	while (*p) {
		char where[64];
		int n = csv_record(&p, cells, 64);
		cJSON *o;

		line++;
		if (n < 0) {
			cJSON_Delete(arr);
			return ctl_fail(CTL_EXIT_INVALID, "CSV line %d: unterminated quote", line);
		}
		if (n == 1 && !cells[0][0])
			continue; /* blank line */
		if (n != nh) {
			cJSON_Delete(arr);
			return ctl_fail(CTL_EXIT_INVALID,
					"CSV line %d: %d cells, the header has %d", line, n, nh);
		}
		o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			cJSON_Delete(arr);
			return ctl_fail(CTL_EXIT_FAIL, "out of memory");
		}
		for (int i = 0; i < n; i++) {
			if (!cells[i][0])
				continue;
			if (ctl_field_add(o, k->item, head[i], cells[i], &e)) {
				cJSON_Delete(arr);
				snprintf(where, sizeof(where), "CSV line %d", line);
				return ctl_json_fail(&e, where);
			}
		}
		if ((line & 1023) == 0)
			ctl_progress(c, "reading", (size_t)line, total + 1);
	}
	*out = arr;
	return CTL_EXIT_OK;
}

void ctl_csv_write(FILE *f, const char *const *columns, const cJSON *arr)
{
	const cJSON *it;

	for (size_t i = 0; columns[i]; i++)
		fprintf(f, "%s%s", i ? "," : "", columns[i]);
	fputc('\n', f);
	cJSON_ArrayForEach(it, arr)
	{
		for (size_t i = 0; columns[i]; i++) {
			if (i)
				fputc(',', f);
			csv_cell(f, cJSON_GetObjectItemCaseSensitive(it, columns[i]));
		}
		fputc('\n', f);
	}
}
