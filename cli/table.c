// SPDX-License-Identifier: MIT
/*
 * table: how list commands print their rows in every -o format. The rows are kept until
 * the end so that each column is as wide as its longest cell; the table format caps some
 * columns and cuts a longer cell with "…" (so that a cut name never passes for a whole
 * one), -o wide cuts nothing, -o csv quotes as RFC 4180 says, --no-headers drops the
 * header row.
 * Widths count UTF-8 code points, not bytes. Also the detail views' "field: value" lines
 * and the times they show.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ctl.h"

#define ELLIPSIS   "\xe2\x80\xa6" /* U+2026 */
#define DETAIL_COL 14		  /* where a detail view's values start */

static int out_format = CTL_FMT_TABLE;
static bool out_no_headers;

void ctl_output_set(int format, bool no_headers)
{
	out_format = format;
	out_no_headers = no_headers;
}

struct ctl_table {
	const struct ctl_col *cols;
	size_t n_cols, n_cells, cap;
	char **cells; /* row after row, n_cols each */
	bool oom;
};

struct ctl_table *ctl_table_new(const struct ctl_col *cols, size_t n)
{
	struct ctl_table *t = calloc(1, sizeof(*t));

	if (t) {
		t->cols = cols;
		t->n_cols = n;
	}
	return t;
}

void ctl_table_row(struct ctl_table *t, const char *const *cells)
{
	if (!t || t->oom)
		return;
	if (t->n_cells + t->n_cols > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64 * t->n_cols;
		char **nc = realloc(t->cells, cap * sizeof(*nc));

		if (!nc) {
			t->oom = true;
			return;
		}
		t->cells = nc;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->n_cols; i++) {
		t->cells[t->n_cells + i] = strdup(cells[i] ? cells[i] : "");
		t->oom |= !t->cells[t->n_cells + i];
	}
	t->n_cells += t->n_cols;
}

size_t ctl_text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* The bytes of the first n code points of s. */
static size_t prefix_bytes(const char *s, size_t n)
{
	size_t i = 0;

	for (; s[i] && n; n--)
		for (i++; ((unsigned char)s[i] & 0xc0) == 0x80; i++)
			;
	return i;
}

/* One cell padded (or cut) to width w; the last cell of a line is not padded. */
static void cell(const char *s, size_t w, bool cut, bool right, bool last)
{
	size_t have = ctl_text_width(s);

	if (cut && have > w && w > 0) {
		printf("%.*s" ELLIPSIS, (int)prefix_bytes(s, w - 1), s);
		return;
	}
	if (right && have < w)
		printf("%*s", (int)(w - have), "");
	fputs(s, stdout);
	if (!right && !last && have < w)
		printf("%*s", (int)(w - have), "");
}

/* A CSV field: quoted when it holds a comma, a quote, a line break or edge spaces. */
static void csv_cell(const char *s)
{
	size_t l = strlen(s);

	if (!strpbrk(s, ",\"\r\n") && (!l || (s[0] != ' ' && s[l - 1] != ' '))) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

/* CSV header: the titles in lower case with "_" for spaces and "-" (rx_bps, last_used). */
static void csv_title(const char *s)
{
	for (; *s; s++)
		putchar(*s == ' ' || *s == '-'	   ? '_'
			: (*s >= 'A' && *s <= 'Z') ? *s - 'A' + 'a'
						   : *s);
}

static void print_csv(const struct ctl_table *t)
{
	if (!out_no_headers)
		for (size_t i = 0; i < t->n_cols; i++) {
			if (i)
				putchar(',');
			csv_title(t->cols[i].title);
			if (i + 1 == t->n_cols)
				putchar('\n');
		}
	for (size_t r = 0; r < t->n_cells; r += t->n_cols)
		for (size_t i = 0; i < t->n_cols; i++) {
			if (i)
				putchar(',');
			csv_cell(t->cells[r + i]);
			if (i + 1 == t->n_cols)
				putchar('\n');
		}
}

/* The last column shown (the wide-only ones are left out of the table format). */
static size_t last_shown(const struct ctl_table *t, bool wide)
{
	size_t last = 0;

	for (size_t i = 0; i < t->n_cols; i++)
		if (wide || !t->cols[i].wide)
			last = i;
	return last;
}

/* One line: the header (row NULL) or a row; empty cells at the end print nothing, not
 * even their separator, so that no line ends in spaces. */
static void line(const struct ctl_table *t, const char *const *row, const size_t *w, bool wide)
{
	size_t last = last_shown(t, wide);
	bool first = true;

	while (row && last > 0 && !*row[last])
		last--;
	for (size_t i = 0; i <= last; i++) {
		const struct ctl_col *c = &t->cols[i];

		if (c->wide && !wide)
			continue;
		if (!first)
			fputs("  ", stdout);
		first = false;
		cell(row ? row[i] : c->title, w[i], !wide && c->width, c->right, i == last);
	}
	putchar('\n');
}

void ctl_table_print(struct ctl_table *t)
{
	bool wide = out_format == CTL_FMT_WIDE;
	size_t *w = t ? calloc(t->n_cols, sizeof(*w)) : NULL;

	if (!w || t->oom) {
		ctl_fail(CTL_EXIT_FAIL, "out of memory");
	} else if (out_format == CTL_FMT_CSV) {
		print_csv(t);
	} else {
		/* as wide as the longest cell (or title); in the table format no wider than
		 * the column's width, a longer cell cut */
		for (size_t i = 0; i < t->n_cols; i++) {
			size_t cap = wide ? 0 : (size_t)t->cols[i].width;

			w[i] = ctl_text_width(t->cols[i].title);
			for (size_t r = 0; r < t->n_cells; r += t->n_cols) {
				size_t cw = ctl_text_width(t->cells[r + i]);

				w[i] = cw > w[i] ? cw : w[i];
			}
			if (cap && w[i] > cap)
				w[i] = cap;
		}
		if (!out_no_headers)
			line(t, NULL, w, wide);
		for (size_t r = 0; r < t->n_cells; r += t->n_cols)
			line(t, (const char *const *)t->cells + r, w, wide);
	}
	for (size_t i = 0; t && i < t->n_cells; i++)
		free(t->cells[i]);
	if (t)
		free(t->cells);
	free(t);
	free(w);
}

void ctl_detail(const char *field, const char *fmt, ...)
{
	va_list ap;

	printf("%s:%*s", field, (int)(DETAIL_COL - 1 - strlen(field)), "");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

const char *ctl_time(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	buf[0] = 0;
	if (ns && localtime_r(&t, &tm))
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

/* "1h 2m", "3m 4s", "5s", "2d 3h" for s seconds. */
static void span(int64_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%lldd %lldh", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lldh %lldm", (long long)(s / 3600),
			 (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%lldm %llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, len, "%llds", (long long)s);
}

const char *ctl_ago(int64_t ns, char *buf, size_t len)
{
	int64_t d = (ns - clock_wall_ns()) / 1000000000;
	char s[32];

	span(d < 0 ? -d : d, s, sizeof(s));
	snprintf(buf, len, d > 0 ? "in %s" : "%s ago", s);
	return buf;
}
