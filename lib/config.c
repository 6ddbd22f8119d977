// SPDX-License-Identifier: MIT
/*
 * config: YAML (libyaml event parser) into a flat table of dotted keys; see config.h.
 *
 * The parser walks events with a stack of open mappings and sequences. Each frame knows
 * its own dotted path; a mapping frame also holds the key whose value comes next, a
 * sequence frame the index of its next item. Every scalar, mapping and sequence becomes
 * one entry (key, value or NULL, kind, line). Configs are small (a few hundred keys), so
 * lookups are linear.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "config.h"

enum entry_kind { ENTRY_SCALAR, ENTRY_MAP, ENTRY_SEQ };

struct entry {
	char *key;
	char *value; /* scalars only; NULL for null ("", "~", "null" unquoted) */
	enum entry_kind kind;
	unsigned line;
	unsigned count;	   /* sequences: items */
	const char **list; /* sequences of scalars, built by config_get_strlist */
	char *joined;	   /* sequences: the items joined by commas (config_get_addrs) */
};

struct config {
	char *name;
	struct entry *entries;
	size_t n, cap;
	const char *empty_list[1];
	char error[XDROP_CONFIG_MAX_ERROR];
};

struct frame {
	enum entry_kind kind;
	char path[XDROP_CONFIG_MAX_KEY];
	char key[XDROP_CONFIG_MAX_KEY]; /* map: the pending key */
	bool have_key;
	unsigned key_line; /* map: line of the pending key, where its value's errors point */
	unsigned index;	   /* seq: next item */
	size_t entry_idx;  /* index + 1 of its entry (entries may move), 0 at top level */
};

static int set_error(struct config *c, unsigned line, const char *key, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int set_error(struct config *c, unsigned line, const char *key, const char *fmt, va_list ap)
{
	char msg[XDROP_CONFIG_MAX_ERROR], where[32] = "";
	int n;

	if (c->error[0])
		return -EINVAL;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line)
		snprintf(where, sizeof(where), "%u:", line);
	n = snprintf(c->error, sizeof(c->error), "%s:%s %s%s%s", c->name, where, key ? key : "",
		     key && key[0] ? ": " : "", msg);
	if (n < 0)
		snprintf(c->error, sizeof(c->error), "%s: bad message", c->name);
	return -EINVAL;
}

static int fail_at(struct config *c, unsigned line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(struct config *c, unsigned line, const char *key, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = set_error(c, line, key, fmt, ap);
	va_end(ap);
	return err;
}

static struct entry *find(const struct config *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->entries[i].key, key) == 0)
			return &c->entries[i];
	return NULL;
}

int config_fail(struct config *c, const char *key, const char *fmt, ...)
{
	const struct entry *e = find(c, key);
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = set_error(c, e ? e->line : 0, key, fmt, ap);
	va_end(ap);
	return err;
}

static struct entry *add_entry(struct config *c, const char *key, enum entry_kind kind,
			       const char *value, unsigned line)
{
	struct entry *e;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct entry *ne = realloc(c->entries, cap * sizeof(*ne));

		if (!ne)
			return NULL;
		c->entries = ne;
		c->cap = cap;
	}
	e = &c->entries[c->n];
	memset(e, 0, sizeof(*e));
	e->key = strdup(key);
	e->value = value ? strdup(value) : NULL;
	if (!e->key || (value && !e->value)) {
		free(e->key);
		free(e->value);
		return NULL;
	}
	e->kind = kind;
	e->line = line;
	c->n++;
	return e;
}

/* The dotted key of the next value inside frame f; -EINVAL when too long. */
static int child_path(struct config *c, struct frame *f, char *out, unsigned line)
{
	int n;

	if (f->kind == ENTRY_MAP)
		n = snprintf(out, XDROP_CONFIG_MAX_KEY, "%s%s%s", f->path, f->path[0] ? "." : "",
			     f->key);
	else
		n = snprintf(out, XDROP_CONFIG_MAX_KEY, "%s.%u", f->path, f->index++);
	if (n < 0 || n >= XDROP_CONFIG_MAX_KEY)
		return fail_at(c, line, f->path, "key too long");
	return 0;
}

static bool is_null_scalar(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !v[0] || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0;
}

/* Anchors and tags on a scalar, mapping or sequence are refused: every value is read as
 * its text, so a tag ("!!binary", "!!int") would be ignored silently, and an anchor is of
 * no use without aliases. */
static int refuse_props(struct config *c, unsigned line, const yaml_char_t *anchor,
			const yaml_char_t *tag)
{
	if (anchor)
		return fail_at(c, line, NULL, "anchors are not supported");
	if (tag)
		return fail_at(c, line, NULL, "tags are not supported");
	return 0;
}

static int parse(struct config *c, yaml_parser_t *p)
{
	struct frame *stack = NULL;
	int depth = 0, err = 0;
	bool done = false;
	char path[XDROP_CONFIG_MAX_KEY];

	stack = calloc(XDROP_CONFIG_MAX_DEPTH, sizeof(*stack));
	if (!stack)
		return -ENOMEM;
	while (!done && !err) {
		yaml_event_t ev;
		unsigned line;
		struct frame *top = depth ? &stack[depth - 1] : NULL;

		if (!yaml_parser_parse(p, &ev)) {
			err = fail_at(c, (unsigned)p->problem_mark.line + 1, NULL, "%s",
				      p->problem ? p->problem : "YAML syntax error");
			break;
		}
		line = (unsigned)ev.start_mark.line + 1;
		if (top && top->kind == ENTRY_MAP && top->have_key)
			line = top->key_line;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_ALIAS_EVENT:
			err = fail_at(c, line, NULL, "aliases are not supported");
			break;
		case YAML_SCALAR_EVENT:
			err = refuse_props(c, line, ev.data.scalar.anchor, ev.data.scalar.tag);
			if (err)
				break;
			if (!top) {
				if (!is_null_scalar(&ev))
					err = fail_at(c, line, NULL,
						      "expected a mapping at top level");
				break;
			}
			if (top->kind == ENTRY_MAP && !top->have_key) {
				const char *k = (const char *)ev.data.scalar.value;

				if (!k[0] || strchr(k, '.') || strlen(k) >= XDROP_CONFIG_MAX_KEY) {
					err = fail_at(
					    c, line, top->path,
					    "bad key \"%.64s\" (empty, too long or has '.')", k);
					break;
				}
				strcpy(top->key, k);
				top->have_key = true;
				top->key_line = line;
				break;
			}
			err = child_path(c, top, path, line);
			if (err)
				break;
			if (find(c, path)) {
				err = fail_at(c, line, path, "duplicate key");
				break;
			}
			if (!add_entry(c, path, ENTRY_SCALAR,
				       is_null_scalar(&ev) ? NULL
							   : (const char *)ev.data.scalar.value,
				       line))
				err = -ENOMEM;
			if (top->kind == ENTRY_MAP)
				top->have_key = false;
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT: {
			enum entry_kind kind =
			    ev.type == YAML_MAPPING_START_EVENT ? ENTRY_MAP : ENTRY_SEQ;
			struct entry *e = NULL;

			err = kind == ENTRY_MAP
				  ? refuse_props(c, line, ev.data.mapping_start.anchor,
						 ev.data.mapping_start.tag)
				  : refuse_props(c, line, ev.data.sequence_start.anchor,
						 ev.data.sequence_start.tag);
			if (err)
				break;
			if (depth == XDROP_CONFIG_MAX_DEPTH) {
				err = fail_at(c, line, NULL, "nested too deeply");
				break;
			}
			if (!top) {
				if (kind != ENTRY_MAP) {
					err = fail_at(c, line, NULL,
						      "expected a mapping at top level");
					break;
				}
				path[0] = '\0';
			} else {
				err = child_path(c, top, path, line);
				if (err)
					break;
				if (find(c, path)) {
					err = fail_at(c, line, path, "duplicate key");
					break;
				}
				e = add_entry(c, path, kind, NULL, line);
				if (!e) {
					err = -ENOMEM;
					break;
				}
			}
			memset(&stack[depth], 0, sizeof(stack[depth]));
			stack[depth].kind = kind;
			strcpy(stack[depth].path, path);
			stack[depth].entry_idx = e ? (size_t)(e - c->entries) + 1 : 0;
			depth++;
			break;
		}
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (top->entry_idx && top->kind == ENTRY_SEQ)
				c->entries[top->entry_idx - 1].count = top->index;
			depth--;
			if (depth && stack[depth - 1].kind == ENTRY_MAP)
				stack[depth - 1].have_key = false;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	free(stack);
	return err;
}

int config_load_string(struct config **out, const char *name, const char *text, size_t len)
{
	yaml_parser_t parser;
	struct config *c;
	int err;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->name = strdup(name ? name : "config");
	if (!c->name) {
		free(c);
		return -ENOMEM;
	}
	*out = c;
	if (len > XDROP_CONFIG_MAX_BYTES) {
		fail_at(c, 0, NULL, "larger than %u bytes", XDROP_CONFIG_MAX_BYTES);
		return -E2BIG;
	}
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	err = parse(c, &parser);
	yaml_parser_delete(&parser);
	return err;
}

int config_load(struct config **out, const char *path)
{
	struct config *c = NULL;
	char *buf = NULL;
	struct stat st;
	ssize_t got = 0;
	int fd, err;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		if (config_load_string(&c, path, "", 0) == 0) {
			fail_at(c, 0, NULL, "cannot open: %s", strerror(-err));
			*out = c;
		}
		return err;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if ((uint64_t)st.st_size > XDROP_CONFIG_MAX_BYTES) {
		err = config_load_string(&c, path, "", 0);
		if (!err)
			fail_at(c, 0, NULL, "larger than %u bytes", XDROP_CONFIG_MAX_BYTES);
		err = -E2BIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	while (got < st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)(st.st_size - got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += n;
	}
	err = config_load_string(&c, path, buf, (size_t)got);
out:
	*out = c;
	free(buf);
	close(fd);
	return err;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->entries[i].key);
		free(c->entries[i].value);
		free(c->entries[i].list);
		free(c->entries[i].joined);
	}
	free(c->entries);
	free(c->name);
	free(c);
}

const char *config_error(const struct config *c)
{
	return c ? c->error : "out of memory";
}

/* Does the dotted key match the pattern, '*' standing for one segment? */
static bool key_matches(const char *key, const char *pat)
{
	while (*key && *pat) {
		const char *ke = strchr(key, '.'), *pe = strchr(pat, '.');
		size_t kl = ke ? (size_t)(ke - key) : strlen(key);
		size_t pl = pe ? (size_t)(pe - pat) : strlen(pat);

		if (!(pl == 1 && pat[0] == '*') && (kl != pl || memcmp(key, pat, kl) != 0))
			return false;
		key += kl;
		pat += pl;
		if (*key != *pat)
			return false; /* one has more segments */
		if (*key) {
			key++;
			pat++;
		}
	}
	return !*key && !*pat;
}

/* The entry of key's parent, or NULL at top level. */
static const struct entry *parent_of(const struct config *c, const char *key)
{
	char buf[XDROP_CONFIG_MAX_KEY];
	char *dot;

	snprintf(buf, sizeof(buf), "%s", key);
	dot = strrchr(buf, '.');
	if (!dot)
		return NULL;
	*dot = '\0';
	return find(c, buf);
}

int config_check_keys(struct config *c, const char *const *allowed)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct entry *e = &c->entries[i];
		const char *key = e->key;
		bool ok = false;

		if (e->kind != ENTRY_SCALAR) {
			/* a non-empty mapping or sequence is checked through its children */
			bool has_child = false;

			for (size_t j = 0; j < c->n && !has_child; j++) {
				const struct entry *p = parent_of(c, c->entries[j].key);

				has_child = p == e;
			}
			if (has_child)
				continue;
		} else {
			const struct entry *p = parent_of(c, key);

			if (p && p->kind == ENTRY_SEQ)
				key = p->key;
		}
		for (size_t k = 0; allowed[k] && !ok; k++)
			ok = key_matches(key, allowed[k]);
		if (!ok)
			return fail_at(c, e->line, e->key, "unknown key");
	}
	return 0;
}

bool config_has(const struct config *c, const char *key)
{
	return find(c, key) != NULL;
}

unsigned config_line(const struct config *c, const char *key)
{
	const struct entry *e = find(c, key);

	return e ? e->line : 0;
}

int config_seq_len(struct config *c, const char *key)
{
	const struct entry *e = find(c, key);

	if (!e || (e->kind == ENTRY_SCALAR && !e->value))
		return 0;
	if (e->kind != ENTRY_SEQ)
		return fail_at(c, e->line, key, "expected a list");
	return (int)e->count;
}

/* The scalar at key: 1 and *v when present, 0 when absent or null, -EINVAL otherwise. */
static int scalar(struct config *c, const char *key, const char *what, const char **v)
{
	const struct entry *e = find(c, key);

	if (!e || (e->kind == ENTRY_SCALAR && !e->value))
		return 0;
	if (e->kind != ENTRY_SCALAR)
		return fail_at(c, e->line, key, "expected %s", what);
	*v = e->value;
	return 1;
}

int config_get_str(struct config *c, const char *key, const char *def, const char **out)
{
	const char *v = NULL;
	int rc = scalar(c, key, "a string", &v);

	if (rc < 0)
		return rc;
	*out = rc ? v : def;
	return 0;
}

int config_get_bool(struct config *c, const char *key, bool def, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	const char *v;
	int rc = scalar(c, key, "true or false", &v);

	if (rc <= 0) {
		if (rc == 0)
			*out = def;
		return rc;
	}
	for (unsigned i = 0; i < 3; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return config_fail(c, key, "expected true or false, not \"%.64s\"", v);
}

int config_get_u64(struct config *c, const char *key, uint64_t def, uint64_t min, uint64_t max,
		   uint64_t *out)
{
	unsigned long long n;
	const char *v;
	char *end;
	int rc = scalar(c, key, "a number", &v);

	if (rc <= 0) {
		if (rc == 0)
			*out = def;
		return rc;
	}
	errno = 0;
	n = strtoull(v, &end, 0);
	if (v[0] == '-' || v[0] == '+' || !v[0] || *end || errno)
		return config_fail(c, key, "expected a number, not \"%.64s\"", v);
	if (n < min || n > max)
		return config_fail(c, key, "%llu is out of range %llu..%llu", n,
				   (unsigned long long)min, (unsigned long long)max);
	*out = n;
	return 0;
}

int config_get_duration_ms(struct config *c, const char *key, uint64_t def_ms, uint64_t min_ms,
			   uint64_t max_ms, uint64_t *out)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}};
	const char *v;
	char *end;
	double num, ms = -1;
	int rc = scalar(c, key, "a duration like 1s", &v);

	if (rc <= 0) {
		if (rc == 0)
			*out = def_ms;
		return rc;
	}
	errno = 0;
	num = strtod(v, &end);
	if (end != v && !errno && num >= 0 && v[0] != '-' && v[0] != '+') {
		for (unsigned i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(end, units[i].unit) == 0)
				ms = num * units[i].ms;
	}
	if (ms < 0 || ms > 1e15)
		return config_fail(c, key, "expected a duration like 1s, not \"%.64s\"", v);
	if ((uint64_t)ms < min_ms || (uint64_t)ms > max_ms)
		return config_fail(c, key, "%s is out of range %llums..%llums", v,
				   (unsigned long long)min_ms, (unsigned long long)max_ms);
	*out = (uint64_t)ms;
	return 0;
}

int config_get_strlist(struct config *c, const char *key, const char *const **out, size_t *n)
{
	struct entry *e = find(c, key);
	char item[XDROP_CONFIG_MAX_KEY];

	if (!e || (e->kind == ENTRY_SCALAR && !e->value)) {
		c->empty_list[0] = NULL;
		*out = c->empty_list;
		*n = 0;
		return 0;
	}
	if (e->kind == ENTRY_MAP)
		return fail_at(c, e->line, key, "expected a list of strings");
	if (!e->list) {
		size_t count = e->kind == ENTRY_SEQ ? e->count : 1;
		const char **list = calloc(count + 1, sizeof(*list));

		if (!list)
			return -ENOMEM;
		if (e->kind == ENTRY_SCALAR) {
			list[0] = e->value;
		} else {
			for (size_t i = 0; i < count; i++) {
				const struct entry *it;

				snprintf(item, sizeof(item), "%s.%zu", key, i);
				it = find(c, item);
				if (!it || it->kind != ENTRY_SCALAR || !it->value) {
					free(list);
					return fail_at(c, it ? it->line : e->line, item,
						       "expected a string");
				}
				list[i] = it->value;
			}
		}
		e->list = list;
		e->count = (unsigned)count;
	}
	*out = e->list;
	*n = e->kind == ENTRY_SEQ ? e->count : 1;
	return 0;
}

int config_get_addrs(struct config *c, const char *key, const char **out)
{
	const char *const *list;
	struct entry *e = find(c, key);
	size_t n, len = 0;
	char *s;
	int err;

	if (!e || e->kind != ENTRY_SEQ)
		return config_get_str(c, key, NULL, out);
	if ((err = config_get_strlist(c, key, &list, &n)))
		return err;
	if (!n) {
		*out = NULL;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (!list[i][0] || strchr(list[i], ','))
			return config_fail(c, key, "item %zu: an address without commas", i);
		len += strlen(list[i]) + 1;
	}
	if (!e->joined) {
		s = malloc(len);
		if (!s)
			return -ENOMEM;
		s[0] = 0;
		for (size_t i = 0; i < n; i++)
			strcat(strcat(s, i ? "," : ""), list[i]);
		e->joined = s;
	}
	*out = e->joined;
	return 0;
}
