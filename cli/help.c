// SPDX-License-Identifier: MIT
/*
 * help: everything xdropctl says about itself, printed from the command table (ctl_cmds,
 * ctl_groups in xdropctl.c) and the option table (ctl_opts in options.c): the overview
 * (--help), one command's or one group's usage (`help rules add`, `rules add --help`),
 * the bash and zsh completion scripts (`completion bash|zsh`) and the man page (the
 * hidden `man`, run by the build). Nothing here lists a command or an option by hand, so
 * that none of them can disagree with what the command line accepts.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

#define OPT_COL	     29 /* where an option's help starts */
#define LINE_MAX_COL 79 /* help lines end before */

/* ---- the text of options ---- */

/* "-u, --url URL", "--watch [SECONDS]", "--json". */
static void opt_words(const struct ctl_opt *p, char *buf, size_t len)
{
	int n = 0;

	if (p->short_name)
		n = snprintf(buf, len, "-%c, ", p->short_name);
	if (n < 0 || (size_t)n >= len)
		return;
	if (!p->arg)
		snprintf(buf + n, len - (size_t)n, "--%s", p->name);
	else if (p->has_arg == optional_argument)
		snprintf(buf + n, len - (size_t)n, "--%s [%s]", p->name, p->arg);
	else
		snprintf(buf + n, len - (size_t)n, "--%s %s", p->name, p->arg);
}

/* Prints text as a paragraph filled to LINE_MAX_COL, from column col, the first line after
 * lead (on a line of its own when lead reaches col). */
static void print_at(FILE *f, const char *lead, const char *text, int col)
{
	int used = fprintf(f, "%s", lead);

	if (used >= col - 1) {
		fputc('\n', f);
		used = 0;
	}
	fprintf(f, "%*s", col - used, "");
	used = col;
	while (*text) {
		size_t sp = strspn(text, " \n"), l;

		text += sp;
		l = strcspn(text, " \n");
		if (!l)
			break;
		if (used > col && used + 1 + (int)l > LINE_MAX_COL) {
			fprintf(f, "\n%*s", col, "");
			used = col;
		}
		if (used > col)
			fputc(' ', f);
		used += (used > col) + fprintf(f, "%.*s", (int)l, text);
		text += l;
	}
	fputc('\n', f);
}

static void print_opt(FILE *f, const struct ctl_opt *p)
{
	char w[80], lead[96];

	opt_words(p, w, sizeof(w));
	snprintf(lead, sizeof(lead), "    %s", w);
	print_at(f, lead, p->help, OPT_COL);
}

/* The option of SUB() bit b. */
static const struct ctl_opt *sub_opt(unsigned b)
{
	for (const struct ctl_opt *p = ctl_opts; p->name; p++)
		if (p->val == CTL_SUB_OPT_VAL + (int)b)
			return p;
	return NULL;
}

/* ---- usage of a command ---- */

/* True when the arguments of row k name option p already (a required option, such as
 * migrate's --from-xdrop2): the synopsis does not repeat it. */
static bool option_in_args(const struct ctl_cmd *k, const struct ctl_opt *p)
{
	const char *at = k->args;
	size_t n = strlen(p->name);

	while ((at = strstr(at, "--"))) {
		at += 2;
		if (!strncmp(at, p->name, n) && (at[n] == ' ' || at[n] == ']' || !at[n]))
			return true;
	}
	return false;
}

/* "xdropctl rules list [--page N] ...", wrapped before LINE_MAX_COL, from column lead. */
static void synopsis(FILE *f, const struct ctl_cmd *k, int lead)
{
	int col = lead + fprintf(f, "xdropctl %s%s%s%s%s", k->group, k->name ? " " : "",
				 k->name ? k->name : "", *k->args ? " " : "", k->args);

	for (unsigned b = 0; b < 32; b++) {
		const struct ctl_opt *p = (k->opts & SUB(b)) ? sub_opt(b) : NULL;
		char w[96];
		int l;

		if (!p || option_in_args(k, p))
			continue;
		if (!p->arg)
			l = snprintf(w, sizeof(w), "[--%s]", p->name);
		else
			l = snprintf(w, sizeof(w),
				     p->has_arg == optional_argument ? "[--%s [%s]]" : "[--%s %s]",
				     p->name, p->arg);
		if (col + 1 + l > LINE_MAX_COL)
			col = fprintf(f, "\n%*s", lead + 8, "") - 1;
		col += fprintf(f, " %s", w);
	}
	fputc('\n', f);
}

/* The options of row k, each with its help. */
static void row_opts(FILE *f, const struct ctl_cmd *k)
{
	for (unsigned b = 0; b < 32; b++)
		if ((k->opts & SUB(b)) && sub_opt(b))
			print_opt(f, sub_opt(b));
}

static void row_help(FILE *f, const struct ctl_cmd *k)
{
	fputs("usage: ", f);
	synopsis(f, k, 7);
	fprintf(f, "\n%s\n", k->summary);
	if (k->desc)
		fprintf(f, "\n%s", k->desc);
	if (k->opts) {
		fputs("\noptions:\n", f);
		row_opts(f, k);
	}
	fputs("\nand the global options (xdropctl --help).\n", f);
}

static void group_help(FILE *f, const struct ctl_group *g)
{
	fprintf(f, "usage: xdropctl %s SUBCOMMAND [ARGS...] [OPTIONS]   (default: %s)\n\n%s\n",
		g->name, ctl_default_sub(g->name), g->summary);
	if (g->alias)
		fprintf(f, "(also: xdropctl %s)\n", g->alias);
	fputs("\nsubcommands:\n", f);
	for (const struct ctl_cmd *k = ctl_cmds; k->group; k++) {
		if (strcmp(k->group, g->name))
			continue;
		fputs("  ", f);
		synopsis(f, k, 2);
		fprintf(f, "      %s\n", k->summary);
		row_opts(f, k);
	}
	fprintf(f,
		"\nand the global options (xdropctl --help). Details: xdropctl help %s "
		"SUBCOMMAND\n",
		g->name);
}

static const struct ctl_group *group_of(const char *name)
{
	for (const struct ctl_group *g = ctl_groups; g->name; g++)
		if (g->summary && (!strcmp(name, g->name) || (g->alias && !strcmp(name, g->alias))))
			return g;
	return NULL;
}

int ctl_help(int argc, char **argv)
{
	const struct ctl_group *g = argc > 0 ? group_of(argv[0]) : NULL;
	const struct ctl_cmd *k;

	if (!argc) {
		ctl_help_overview(stdout);
		return CTL_EXIT_OK;
	}
	if (!g)
		return ctl_fail(CTL_EXIT_USAGE, "unknown command %s (see xdropctl --help)",
				argv[0]);
	k = ctl_cmd_find(g->name, NULL);
	if (!k && argc == 1) {
		group_help(stdout, g);
		return CTL_EXIT_OK;
	}
	if (!k)
		k = ctl_cmd_find(g->name, argv[1]);
	if (argc > (ctl_cmd_find(g->name, NULL) ? 1 : 2))
		return ctl_fail(CTL_EXIT_USAGE, "usage: xdropctl help [COMMAND [SUBCOMMAND]]");
	if (!k)
		return ctl_fail(CTL_EXIT_USAGE, "unknown command: %s %s (see xdropctl help %s)",
				g->name, argv[1], g->name);
	row_help(stdout, k);
	return CTL_EXIT_OK;
}

int cmd_help(struct ctl *c, const struct listopts *o, int argc, char **argv)
{
	return ctl_help(argc, argv);
}

/* ---- the overview ---- */

static const char exit_text[] =
    "EXIT STATUS: 0 success, 1 other failure, 2 usage, 3 invalid input (the message\n"
    "names the field), 4 not found, 5 not authenticated or not allowed (a read-only\n"
    "key), 6 conflict, 7 upstream unavailable or timed out.\n";

void ctl_help_overview(FILE *f)
{
	fputs("usage: xdropctl [OPTIONS] COMMAND [SUBCOMMAND] [ARGS...] [OPTIONS]\n\n"
	      "Manages XDrop over RPC: an xdrop-controller, or one xdrop-agent.\n\n"
	      "COMMANDS\n",
	      f);
	for (const struct ctl_group *g = ctl_groups; g->name; g++) {
		char lead[64];

		if (!g->summary)
			continue;
		snprintf(lead, sizeof(lead), "    %s%s%s", g->name, g->alias ? ", " : "",
			 g->alias ? g->alias : "");
		print_at(f, lead, g->summary, 20);
	}
	fputs("\nGLOBAL OPTIONS (anywhere on the line; \"--\" ends them)\n", f);
	for (const struct ctl_opt *p = ctl_opts; p->name; p++)
		if (p->val < CTL_SUB_OPT_VAL)
			print_opt(f, p);
	fprintf(f,
		"\n%s"
		"ENVIRONMENT: XDROP_URL, XDROP_KEY, XDROP_CA, XDROP_CERT, XDROP_CERT_KEY and\n"
		"XDROP_SERVER_NAME are the defaults of the options of those names.\n\n"
		"xdropctl help COMMAND (or COMMAND --help) says more; man xdropctl says all.\n",
		exit_text);
}

/* ---- completion ---- */

/* The words of the options that take a value, "-u|--url|..." for a case pattern. */
static void value_opts_pattern(FILE *f)
{
	const char *sep = "";

	for (const struct ctl_opt *p = ctl_opts; p->name; p++) {
		if (p->has_arg != required_argument)
			continue;
		if (p->short_name)
			fprintf(f, "%s-%c", sep, p->short_name);
		fprintf(f, "%s--%s", p->short_name ? "|" : sep, p->name);
		sep = "|";
	}
}

/* The options of row k (with the global ones when global) as words. */
static void opt_list(FILE *f, unsigned bits, bool global)
{
	for (const struct ctl_opt *p = ctl_opts; p->name; p++) {
		bool is_sub = p->val >= CTL_SUB_OPT_VAL;

		if ((is_sub ? !(bits & SUB(p->val - CTL_SUB_OPT_VAL)) : !global))
			continue;
		fprintf(f, " --%s", p->name);
		if (p->short_name)
			fprintf(f, " -%c", p->short_name);
	}
}

/* Prints s inside single quotes for a shell, escaping ' (and, for zsh's _describe, the
 * first ':' that separates the word from its description is the caller's). */
static void sh_words(FILE *f, const char *s, bool colon)
{
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else if (*s == ':' && colon)
			fputs("\\:", f);
		else
			fputc(*s, f);
	}
}

/* The case arms that complete the values of options with choices ("a|b|c"). */
static void value_arms(FILE *f, const char *pre, const char *post)
{
	for (const struct ctl_opt *p = ctl_opts; p->name; p++) {
		char words[128];

		if (!p->arg || !strchr(p->arg, '|') || strlen(p->arg) >= sizeof(words))
			continue;
		snprintf(words, sizeof(words), "%s", p->arg);
		for (char *q = words; *q; q++)
			if (*q == '|')
				*q = ' ';
		fputs("\t", f);
		if (p->short_name)
			fprintf(f, "-%c|", p->short_name);
		fprintf(f, "--%s)\n\t\t", p->name);
		fprintf(f, "%s%s%s", pre, words, post);
		fputs("\n\t\treturn ;;\n", f);
	}
}

/* The shared part: finds group and sub among the words before the cursor. */
static void scan_words(FILE *f, const char *words, const char *first)
{
	fprintf(f,
		"\tfor ((i = %s; i < cword; i++)); do\n"
		"\t\tw=${%s[i]}\n"
		"\t\tcase $w in\n\t\t",
		first, words);
	value_opts_pattern(f);
	fputs(") ((i++)) ;;\n"
	      "\t\t-*) ;;\n"
	      "\t\t*) if [[ -z $group ]]; then group=$w; elif [[ -z $sub ]]; then sub=$w; fi ;;\n"
	      "\t\tesac\n\tdone\n",
	      f);
}

/* The case arms giving each command's option words ("rules list" or "stats "). */
static void opts_arms(FILE *f)
{
	for (const struct ctl_cmd *k = ctl_cmds; k->group; k++) {
		const struct ctl_group *g = group_of(k->group);

		if (!g || !k->opts)
			continue;
		fprintf(f, "\t\"%s %s\"", k->group, k->name ? k->name : "");
		if (g->alias)
			fprintf(f, "|\"%s %s\"", g->alias, k->name ? k->name : "");
		/* no subcommand yet: the group's default, list */
		if (k->name && !strcmp(k->name, "list"))
			fprintf(f, "|\"%s \"%s%s%s", k->group, g->alias ? "|\"" : "",
				g->alias ? g->alias : "", g->alias ? " \"" : "");
		fputs(") opts=\"", f);
		opt_list(f, k->opts, false);
		fputs("\" ;;\n", f);
	}
}

/* A group's subcommands as words, or with their summaries for zsh ('name:summary'). */
static void sub_words(FILE *f, const struct ctl_group *g, bool described)
{
	for (const struct ctl_cmd *k = ctl_cmds; k->group; k++) {
		if (strcmp(k->group, g->name) || !k->name)
			continue;
		if (!described) {
			fprintf(f, " %s", k->name);
			continue;
		}
		fprintf(f, " '%s:", k->name);
		sh_words(f, k->summary, true);
		fputc('\'', f);
	}
}

static void completion_bash(FILE *f)
{
	fputs("# bash completion for xdropctl: generated by `xdropctl completion bash`\n"
	      "_xdropctl() {\n"
	      "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	      "\tlocal cword=$COMP_CWORD group='' sub='' w i opts='' g\n"
	      "\tCOMPREPLY=()\n"
	      "\tcase $prev in\n",
	      f);
	value_arms(f, "COMPREPLY=($(compgen -W \"", "\" -- \"$cur\"))");
	fputs("\tesac\n", f);
	scan_words(f, "COMP_WORDS", "1");
	fputs("\tg=\"", f);
	opt_list(f, 0, true);
	fputs("\"\n\tcase \"$group $sub\" in\n", f);
	opts_arms(f);
	fputs("\tesac\n"
	      "\tif [[ $cur == -* ]]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W \"$g $opts\" -- \"$cur\"))\n"
	      "\t\treturn\n\tfi\n"
	      "\tif [[ -z $group || ( $group == help && -z $sub ) ]]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W \"",
	      f);
	for (const struct ctl_group *g = ctl_groups; g->name; g++)
		if (g->summary)
			fprintf(f, "%s%s%s%s", g == ctl_groups ? "" : " ", g->name,
				g->alias ? " " : "", g->alias ? g->alias : "");
	fputs("\" -- \"$cur\"))\n\t\treturn\n\tfi\n\tcase $group in\n", f);
	for (const struct ctl_group *g = ctl_groups; g->name; g++) {
		if (!g->summary || ctl_cmd_find(g->name, NULL))
			continue;
		fprintf(f, "\t%s%s%s) [[ -z $sub ]] && COMPREPLY=($(compgen -W \"", g->name,
			g->alias ? "|" : "", g->alias ? g->alias : "");
		sub_words(f, g, false);
		fputs("\" -- \"$cur\")) && return ;;\n", f);
	}
	fputs("\tcompletion) [[ -z $sub ]] && COMPREPLY=($(compgen -W \"bash zsh\" -- \"$cur\"))"
	      " && return ;;\n"
	      "\tesac\n"
	      "\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n"
	      "}\n"
	      "complete -F _xdropctl xdropctl\n",
	      f);
}

static void completion_zsh(FILE *f)
{
	fputs("#compdef xdropctl\n"
	      "# zsh completion for xdropctl: generated by `xdropctl completion zsh`\n"
	      "_xdropctl() {\n"
	      "\tlocal cword=$CURRENT group='' sub='' w i opts='' g\n"
	      "\tlocal -a cmds subs\n"
	      "\tcase ${words[CURRENT-1]} in\n",
	      f);
	value_arms(f, "compadd -- ", "");
	fputs("\tesac\n", f);
	scan_words(f, "words", "2");
	fputs("\tg=\"", f);
	opt_list(f, 0, true);
	fputs("\"\n\tcase \"$group $sub\" in\n", f);
	opts_arms(f);
	fputs("\tesac\n"
	      "\tif [[ $PREFIX == -* ]]; then\n"
	      "\t\tcompadd -- ${=g} ${=opts}\n"
	      "\t\treturn\n\tfi\n"
	      "\tif [[ -z $group || ( $group == help && -z $sub ) ]]; then\n"
	      "\t\tcmds=(",
	      f);
	for (const struct ctl_group *g = ctl_groups; g->name; g++) {
		if (!g->summary)
			continue;
		fprintf(f, " '%s:", g->name);
		sh_words(f, g->summary, true);
		fputc('\'', f);
	}
	fputs(")\n\t\t_describe command cmds\n\t\treturn\n\tfi\n\tcase $group in\n", f);
	for (const struct ctl_group *g = ctl_groups; g->name; g++) {
		if (!g->summary || ctl_cmd_find(g->name, NULL))
			continue;
		fprintf(f, "\t%s%s%s)\n\t\tif [[ -z $sub ]]; then\n\t\t\tsubs=(", g->name,
			g->alias ? "|" : "", g->alias ? g->alias : "");
		sub_words(f, g, true);
		fputs(")\n\t\t\t_describe subcommand subs\n\t\t\treturn\n\t\tfi ;;\n", f);
	}
	fputs("\tcompletion) [[ -z $sub ]] && compadd -- bash zsh && return ;;\n"
	      "\tesac\n"
	      "\t_files\n"
	      "}\n"
	      "_xdropctl \"$@\"\n",
	      f);
}

int cmd_completion(struct ctl *c, const struct listopts *o, int argc, char **argv)
{
	if (argc == 1 && !strcmp(argv[0], "bash"))
		completion_bash(stdout);
	else if (argc == 1 && !strcmp(argv[0], "zsh"))
		completion_zsh(stdout);
	else if (argc == 1 && !strcmp(argv[0], "commands"))
		/* for scripts and tests: every command, one per line */
		for (const struct ctl_cmd *k = ctl_cmds; k->group; k++) {
			if (k->summary)
				printf("%s%s%s\n", k->group, k->name ? " " : "",
				       k->name ? k->name : "");
		}
	else
		return ctl_fail(CTL_EXIT_USAGE, "usage: xdropctl completion bash|zsh (see "
						"xdropctl help completion)");
	return CTL_EXIT_OK;
}
