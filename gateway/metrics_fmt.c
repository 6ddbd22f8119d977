// SPDX-License-Identifier: MIT
/*
 * metrics_fmt: the exposition writers of /metrics (metrics_int.h): every HELP, TYPE and
 * sample line is written here, so that escaping and number formatting are done once.
 */
#include <math.h>
#include <stdio.h>

#include "metrics_int.h"

/* A label value with \, " and newline escaped. */
static void label(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '\\' || *s == '"') {
			fputc('\\', f);
			fputc(*s, f);
		} else if (*s == '\n') {
			fputs("\\n", f);
		} else {
			fputc(*s, f);
		}
	}
	fputc('"', f);
}

void mx_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_start(FILE *f, const char *name, const struct mx_label *l)
{
	fputs(name, f);
	if (!l || !l->name)
		return;
	fputc('{', f);
	for (size_t i = 0; l[i].name; i++) {
		fprintf(f, "%s%s=", i ? "," : "", l[i].name);
		label(f, l[i].value);
	}
	fputc('}', f);
}

void mx_u64(FILE *f, const char *name, const struct mx_label *l, uint64_t v)
{
	sample_start(f, name, l);
	fprintf(f, " %llu\n", (unsigned long long)v);
}

void mx_f64(FILE *f, const char *name, const struct mx_label *l, double v)
{
	sample_start(f, name, l);
	if (isnan(v))
		fputs(" NaN\n", f);
	else if (isinf(v))
		fputs(v > 0 ? " +Inf\n" : " -Inf\n", f);
	else
		fprintf(f, " %.15g\n", v); /* Unix seconds with ms: 13 significant digits */
}
