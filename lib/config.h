/* SPDX-License-Identifier: MIT */
/*
 * config: the YAML configuration loader shared by every XDrop daemon.
 *
 * A file is parsed once (libyaml) into a flat table of dotted keys: a mapping nests with
 * '.', a sequence item with its index ("nodes.0.id"). Every key also remembers its line, so
 * that every error names the file, the line and the key, in one format:
 *
 *     config.yaml:12: beacon_interval: expected a duration like 1s
 *
 * Daemons first call config_check_keys() with the keys they know ('*' in a pattern stands
 * for one sequence index or one mapping key, "nodes.*.id"), which refuses anything else
 * (a typo must not be ignored silently), then read values with typed getters that fall
 * back to a default when the key is absent. Getters return 0 or -EINVAL; after an error,
 * config_error() holds the message. The first error is kept.
 *
 * Values returned by getters (strings, string lists) are owned by the config and live until
 * config_free(). A config is not thread-safe; daemons load it once at start-up.
 */
#ifndef XDROP_CONFIG_H
#define XDROP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XDROP_CONFIG_MAX_BYTES (4u * 1024 * 1024) /* largest config file accepted */
#define XDROP_CONFIG_MAX_DEPTH 16		  /* nesting of mappings and sequences */
#define XDROP_CONFIG_MAX_KEY   256		  /* dotted key, bytes with NUL */
#define XDROP_CONFIG_MAX_ERROR 512		  /* config_error() text, bytes with NUL */

struct config;

/*
 * Loads and parses path. Returns 0 and *out (config_free), or a negative errno: -ENOENT
 * and friends when the file cannot be read, -EINVAL for bad YAML (anchors, aliases and
 * tags are refused too), -E2BIG above XDROP_CONFIG_MAX_BYTES. On failure *out is still set
 * (when memory allows) so that config_error() can say why; free it with config_free().
 */
int config_load(struct config **out, const char *path);

/* Like config_load for a buffer; name is used in messages (e.g. "test.yaml"). */
int config_load_string(struct config **out, const char *name, const char *text, size_t len);

/* Frees c. NULL is fine. */
void config_free(struct config *c);

/* The first error's message, "" when none. Valid until config_free(). */
const char *config_error(const struct config *c);

/*
 * Refuses keys not matched by any pattern of allowed (NULL-terminated). Patterns are
 * dotted keys where '*' matches exactly one segment ("nodes.*.key"). Scalars are checked
 * by their own key, items of a sequence of scalars by the sequence's key ("interfaces"
 * allows "interfaces.0"), empty mappings and sequences by theirs. Returns 0 or -EINVAL
 * ("config.yaml:7: tsl.ca_file: unknown key").
 */
int config_check_keys(struct config *c, const char *const *allowed);

/* True when key is present (a scalar, a sequence or a mapping). */
bool config_has(const struct config *c, const char *key);

/* The line of key (1-based), 0 when absent. */
unsigned config_line(const struct config *c, const char *key);

/* Number of items in the sequence at key; 0 when absent, -EINVAL if not a sequence. */
int config_seq_len(struct config *c, const char *key);

/*
 * Typed getters. Absent key: *out = def and 0. Present but wrong type or out of range:
 * -EINVAL with config_error() naming the line and key. *out is untouched on error.
 */
int config_get_str(struct config *c, const char *key, const char *def, const char **out);
/* true/false, yes/no, on/off (any case). */
int config_get_bool(struct config *c, const char *key, bool def, bool *out);
/* Decimal (or 0x hex) integer within [min, max]. */
int config_get_u64(struct config *c, const char *key, uint64_t def, uint64_t min, uint64_t max,
		   uint64_t *out);
/*
 * A duration: a number followed by ns, us, ms, s, m or h ("500ms", "1s", "1.5s", "2m"),
 * in milliseconds, within [min_ms, max_ms]. A bare number is refused (units matter).
 */
int config_get_duration_ms(struct config *c, const char *key, uint64_t def_ms, uint64_t min_ms,
			   uint64_t max_ms, uint64_t *out);
/*
 * A sequence of scalars (or one scalar, taken as a list of one). *out is a NULL-terminated
 * array owned by c; *n its length. Absent: *out = an empty list, *n = 0.
 */
int config_get_strlist(struct config *c, const char *key, const char *const **out, size_t *n);

/*
 * Addresses: one string ("tcp://a:1", or several joined by commas) or a sequence of them,
 * which is joined by commas (owned by c). Absent: *out = NULL and 0.
 */
int config_get_addrs(struct config *c, const char *key, const char **out);

/* Records an error at key's line ("file:line: key: <fmt>"); returns -EINVAL. For checks
 * the caller makes on values it read (e.g. an address it could not parse). */
int config_fail(struct config *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
