// SPDX-License-Identifier: MIT
/*
 * talkreq: see talkreq.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "talkreq.h"

const char *const talkreq_by_names[TALKREQ_NBY + 1] = {"src", "src_prefix", "dst", "dst_port",
						       NULL};
const char *const talkreq_verdict_names[TALKREQ_NVERDICT + 1] = {"dropped", "passed", NULL};
const uint32_t talkreq_windows[TALKREQ_NWINDOWS] = {10, 60, 300};

int talkreq_index(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

int talkreq_check(const Xdrop__V1__TopTalkersRequest *req, struct talkreq *out, const char **field,
		  char *msg, size_t len)
{
	int by = req->by && *req->by ? talkreq_index(talkreq_by_names, req->by) : 0;
	int verdict =
	    req->verdict && *req->verdict ? talkreq_index(talkreq_verdict_names, req->verdict) : 0;
	uint32_t w = req->window_s ? req->window_s : TALKREQ_WINDOW_DEFAULT;
	int wi = 0;

	while (wi < TALKREQ_NWINDOWS && talkreq_windows[wi] != w)
		wi++;
	*field = NULL;
	if (by < 0) {
		*field = "by";
		snprintf(msg, len, "by must be src, src_prefix, dst or dst_port, not \"%.64s\"",
			 req->by);
	} else if (verdict < 0) {
		*field = "verdict";
		snprintf(msg, len, "verdict must be dropped or passed, not \"%.64s\"",
			 req->verdict);
	} else if (wi == TALKREQ_NWINDOWS) {
		*field = "window_s";
		snprintf(msg, len, "window_s must be 10, 60 or 300 seconds, not %u", w);
	} else if (req->limit > TALKREQ_LIMIT_MAX) {
		*field = "limit";
		snprintf(msg, len, "limit must be 1..%d (0 = %d), not %u", TALKREQ_LIMIT_MAX,
			 TALKREQ_LIMIT_DEFAULT, req->limit);
	}
	if (*field)
		return -EINVAL;
	*out = (struct talkreq){.by = (enum talkreq_by)by,
				.verdict = (enum talkreq_verdict)verdict,
				.window_s = w,
				.limit = req->limit ? req->limit : TALKREQ_LIMIT_DEFAULT};
	return 0;
}
