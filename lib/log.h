/* SPDX-License-Identifier: MIT */
/*
 * log: the one logging sink of every XDrop process.
 *
 * Four levels, printf-checked formats, one line per message on stderr: a UTC timestamp
 * with milliseconds, the level, then the message ("2026-05-07T12:00:00.123Z warn  ...").
 * Lines carry no component or process name; each daemon logs to its own stderr, and the
 * service manager (journald) records which unit wrote a line. libbpf's print callback is
 * routed here too (log_route_libbpf, lines prefixed "libbpf: ") so that kernel verifier
 * and loader messages share the format and the level filter.
 */
#ifndef XDROP_LOG_H
#define XDROP_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* Sets the most verbose level that is printed (default LOG_LEVEL_INFO). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "error", "warn", "info" or "debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Installs log_msg as libbpf's print function (warnings at WARN, debug at DEBUG). */
void log_route_libbpf(void);

#endif
