/* SPDX-License-Identifier: MIT */
/*
 * talkers: the agent's top-talker engine. The XDP program writes one struct xdrop_sample
 * per sampled packet (1 in `every`) to the ring buffer xdrop_samples; this module turns
 * them into the heaviest sources, source prefixes (/24, /64), destinations and destination
 * ports of the last 10 s, 60 s and 300 s, separately for passed and dropped traffic.
 *
 * Design. Three levels of time buckets on the caller's monotonic clock, each a ring:
 * 10 x 1 s (10 s window), 6 x 10 s (60 s), 5 x 60 s (300 s). A bucket holds, per
 * dimension (src, src_prefix, dst, dst_port) and verdict, one Space-Saving summary of
 * `capacity` counters (estimated packets and bytes, each sample weighted by its `every`,
 * and the per-key overestimate), plus exact per-verdict totals (packets, bytes, samples).
 * Every sample updates the current bucket of each level. A query for window W merges the
 * buckets of W's level that are still inside it (the current one and the previous
 * W/width - 1): counts and errors are summed per key, and a key absent from a bucket whose
 * summary was full gets that bucket's minimum count added to both its estimate and its
 * error (it may have been evicted there with at most that many), so the estimate stays an
 * upper bound and estimate - error a lower bound. Time-bucketed summaries (rather than one
 * decaying summary) give windows that end exactly: what left the window is gone.
 *
 * Memory is fixed at start and independent of the traffic: 21 buckets x 8 summaries x
 * (capacity counters of 48 bytes + 4 bytes of heap + 2 x capacity rounded up to a power
 * of two, 4 bytes each, of hash index); talkers_memory() reports it. At the default
 * capacity 512 that is 168 x 30,720 bytes = 4.92 MiB (plus a few KiB of structure), and
 * at most 21 x 8 x 512 = 86,016 keys are held whatever the number of distinct keys seen.
 *
 * Non-IP samples (all-zero source and destination) count in the totals only; dst_port
 * counts TCP and UDP packets with a destination port, the totals every packet.
 *
 * Threads: one writer (the ring consumer, or a test calling talkers_add) and any number
 * of readers; a mutex guards the buckets, and a query copies the summaries it needs out
 * under it and merges them outside.
 */
#ifndef XDROP_TALKERS_H
#define XDROP_TALKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "talkreq.h"
#include "xdrop.h"

#define TALKERS_DEF_CAPACITY	 512
#define TALKERS_MIN_CAPACITY	 16
#define TALKERS_MAX_CAPACITY	 8192
#define TALKERS_MAX_SAMPLE_EVERY (1u << 20) /* 1 in ~1M: the sparsest useful rate */
#define TALKERS_MAX_LIMIT	 TALKREQ_LIMIT_MAX
#define TALKERS_LEVELS		 3	      /* the 10 s, 60 s and 300 s windows */
#define TALKERS_BUCKETS		 (10 + 6 + 5) /* buckets of every level together */
#define TALKERS_KEY_STRLEN	 XDROP_ADDR_STRLEN

/* The dimensions and verdicts of lib/talkreq.h, by their short names here. */
enum talkers_by {
	TALKERS_SRC = TALKREQ_SRC,
	TALKERS_SRC_PREFIX = TALKREQ_SRC_PREFIX,
	TALKERS_DST = TALKREQ_DST,
	TALKERS_DST_PORT = TALKREQ_DST_PORT,
	TALKERS_NBY = TALKREQ_NBY,
};
enum talkers_verdict {
	TALKERS_DROPPED = TALKREQ_DROPPED,
	TALKERS_PASSED = TALKREQ_PASSED,
	TALKERS_NVERDICT = TALKREQ_NVERDICT,
};

struct talkers;

struct talkers_opts {
	size_t sz;	       /* sizeof(struct talkers_opts) */
	uint32_t capacity;     /* counters per summary; 0 = TALKERS_DEF_CAPACITY */
	uint32_t sample_every; /* the configured rate, reported by queries; 0 = off */
	int64_t start_ms;      /* monotonic ms from which traffic is seen (0 = now): a
				  window's span never starts before it */
};

/* One query: by, verdict, window_s (10, 60 or 300), limit (1..TALKERS_MAX_LIMIT) and the
 * caller's monotonic time in ms. */
struct talkers_query {
	enum talkers_by by;
	enum talkers_verdict verdict;
	uint32_t window_s;
	uint32_t limit;
	int64_t now_ms;
};

struct talker {
	char key[TALKERS_KEY_STRLEN]; /* "192.0.2.7", "192.0.2.0/24", "2001:db8::/64", "443" */
	uint64_t packets, bytes;      /* estimated (upper bounds) */
	uint64_t error_packets;	      /* packets - error_packets <= the truth */
	double pps, bps, share;
};

struct talkers_result {
	uint32_t sample_rate;			      /* the configured rate (0: off) */
	double span_s;				      /* seconds the figures cover, <= window_s */
	uint64_t samples, total_packets, total_bytes; /* of the verdict, in the window */
	size_t n;				      /* talkers below, heaviest first */
	struct talker talkers[TALKERS_MAX_LIMIT];
};

/* Creates an engine (no thread yet). Returns 0 with *out set, -EINVAL for a capacity out
 * of [TALKERS_MIN_CAPACITY, TALKERS_MAX_CAPACITY], or -ENOMEM. */
int talkers_start(struct talkers **out, const struct talkers_opts *o);

/* Stops the ring consumer if one runs (wakes it within its poll timeout and joins it) and
 * frees t (NULL is fine). */
void talkers_stop(struct talkers *t);

/* Counts one sample that arrived at now_ms (monotonic; non-decreasing from one call to
 * the next, as the single writer sees them). */
void talkers_add(struct talkers *t, const struct xdrop_sample *s, int64_t now_ms);

/* Answers q into *r. Returns 0, or -EINVAL for a window other than 10, 60 or 300 or a
 * limit of 0 or above TALKERS_MAX_LIMIT, -ENOMEM. */
int talkers_query(struct talkers *t, const struct talkers_query *q, struct talkers_result *r);

/* The configured sampling rate (0: off), as set at start or by talkers_set_rate. */
uint32_t talkers_rate(struct talkers *t);
void talkers_set_rate(struct talkers *t, uint32_t sample_every);

/* Memory held (bytes, fixed at start) and keys currently counted, for tests and stats. */
void talkers_memory(struct talkers *t, size_t *bytes, size_t *keys);

/* Samples taken from the ring, and records refused for their size. */
void talkers_counts(struct talkers *t, uint64_t *samples, uint64_t *bad);

/* Starts the consumer thread on a BPF ring buffer fd (borrowed; it must stay open until
 * talkers_stop): it polls with a short timeout, consumes what waits after each poll (the
 * program need not wake it) and feeds every record to talkers_add at clock_mono_ms(), so
 * a sample is counted at most about 100 ms after the packet. Once per engine. Returns 0,
 * -EBUSY when one runs, or -errno. */
int talkers_attach_ring(struct talkers *t, int ringbuf_fd);

/* Names for the wire and back: "src", "src_prefix", "dst", "dst_port"; "passed",
 * "dropped". The parsers return 0 or -EINVAL. */
const char *talkers_by_name(enum talkers_by by);

#endif
