// SPDX-License-Identifier: MIT
/*
 * csv: CSV files of rules and whitelist entries (RFC 4180 quoting). Reading turns the rows
 * into the JSON objects a JSON import holds (fields.c types each cell), so both formats are
 * validated by the same code; writing prints the export columns of a kind.
 */
#include <stdio.h>
#include <stdlib.h>
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

/* "PATH:LINE" when the file is named, else "CSV line LINE": where a row's error is. */
static void where_of(char *buf, size_t len, const char *path, int line)
{
	if (path)
		snprintf(buf, len, "%s:%d", path, line);
	else
		snprintf(buf, len, "CSV line %d", line);
}

/* Appends line to *lines (room doubled as needed). 0 or -1 when out of memory. */
static int add_line(int **lines, size_t *n, size_t *cap, int line)
{
	if (!lines)
		return 0;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		int *nl = realloc(*lines, nc * sizeof(**lines));

		if (!nl)
			return -1;
		*lines = nl;
		*cap = nc;
	}
	(*lines)[(*n)++] = line;
	return 0;
}

/* One row's cells into a new object of arr. Returns CTL_EXIT_OK or an exit code. */
static int csv_row(const struct kind *k, char **head, char **cells, int n, cJSON *arr,
		   const char *where)
{
	struct json_error e = {0};
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		return ctl_fail(CTL_EXIT_FAIL, "out of memory");
	}
	for (int i = 0; i < n; i++)
		if (cells[i][0] && ctl_field_add(o, k->item, head[i], cells[i], &e))
			return ctl_json_fail(&e, where);
	return CTL_EXIT_OK;
}

int ctl_csv_read(struct ctl *c, const struct kind *k, const char *path, char *text, cJSON **out,
		 int **lines)
{
	char *p = text, *head[64], *cells[64], where[PATH_WHERE_MAX];
	int nh = csv_record(&p, head, 64), line = 1, rc = CTL_EXIT_OK;
	cJSON *arr = cJSON_CreateArray();
	size_t total = 0, n_lines = 0, cap = 0;

	*out = NULL;
	if (lines)
		*lines = NULL;
	if (!arr)
		return ctl_fail(CTL_EXIT_FAIL, "out of memory");
	if (nh <= 0) {
		cJSON_Delete(arr);
		return ctl_fail(CTL_EXIT_INVALID, "%s%sa header row naming the columns is required",
				path ? path : "CSV", ": ");
	}
	for (char *q = p; *q; q++)
		total += *q == '\n';
	while (*p && !rc) {
		int n = csv_record(&p, cells, 64);

		line++;
		where_of(where, sizeof(where), path, line);
		if (n < 0)
			rc = ctl_fail(CTL_EXIT_INVALID, "%s: unterminated quote", where);
		else if (n == 1 && !cells[0][0])
			continue; /* blank line */
		else if (n != nh)
			rc = ctl_fail(CTL_EXIT_INVALID, "%s: %d cells, the header has %d", where, n,
				      nh);
		else if (add_line(lines, &n_lines, &cap, line))
			rc = ctl_fail(CTL_EXIT_FAIL, "out of memory");
		else
			rc = csv_row(k, head, cells, n, arr, where);
		if ((line & 1023) == 0)
			ctl_progress(c, "reading", (size_t)line, total + 1);
	}
	if (rc) {
		cJSON_Delete(arr);
		if (lines) {
			free(*lines);
			*lines = NULL;
		}
		return rc;
	}
	*out = arr;
	return CTL_EXIT_OK;
}

int ctl_csv_to_json(struct ctl *c, const struct kind *k, char *text, cJSON **out)
{
	return ctl_csv_read(c, k, NULL, text, out, NULL);
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
