/* SPDX-License-Identifier: MIT */
/*
 * talkreq: what a TopTalkersRequest may ask, defined once for the agent that answers it
 * (agent/talkers_rpc.c), the controller that fans it out (controller/talkers.c) and the
 * gateway that builds it from a URL (gateway/api_top.c): the dimensions, the verdicts,
 * the windows the agents keep, the limit and the defaults of each, and the check of a
 * request with an error naming the field.
 */
#ifndef XDROP_TALKREQ_H
#define XDROP_TALKREQ_H

#include <stddef.h>
#include <stdint.h>

#include "xdrop.pb-c.h"

#define TALKREQ_LIMIT_DEFAULT  10
#define TALKREQ_LIMIT_MAX      100
#define TALKREQ_NWINDOWS       3
#define TALKREQ_WINDOW_DEFAULT 10 /* seconds: talkreq_windows[0] */

/* Names in the order of the enums; the first is the default. NULL-terminated. */
enum talkreq_by { TALKREQ_SRC, TALKREQ_SRC_PREFIX, TALKREQ_DST, TALKREQ_DST_PORT, TALKREQ_NBY };
enum talkreq_verdict { TALKREQ_DROPPED, TALKREQ_PASSED, TALKREQ_NVERDICT };
extern const char *const talkreq_by_names[TALKREQ_NBY + 1];
extern const char *const talkreq_verdict_names[TALKREQ_NVERDICT + 1];
/* The windows every agent keeps, in seconds, shortest (the default) first. */
extern const uint32_t talkreq_windows[TALKREQ_NWINDOWS];

/* A checked request with the defaults filled in. */
struct talkreq {
	enum talkreq_by by;
	enum talkreq_verdict verdict;
	uint32_t window_s;
	uint32_t limit;
};

/* The index of s in names (NULL-terminated), or -1. */
int talkreq_index(const char *const *names, const char *s);

/*
 * Checks req field by field (empty or 0 = the default) into *out. Returns 0, or -EINVAL
 * with *field set to the proto name of the field at fault ("by", "verdict", "window_s",
 * "limit") and msg to a sentence naming it and what it may be.
 */
int talkreq_check(const Xdrop__V1__TopTalkersRequest *req, struct talkreq *out, const char **field,
		  char *msg, size_t len);

#endif
