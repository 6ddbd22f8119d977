// SPDX-License-Identifier: MIT
/*
 * talkers: the top-talker engine; see talkers.h.
 *
 * A summary is Space-Saving (Metwally et al.) with weighted increments: a min-heap of its
 * counters by packets finds the one to evict, and an open-addressing hash (linear probing,
 * at most half full, seeded per engine so that chosen keys cannot pile up in one run of
 * slots) finds a key's counter. A new key that finds the summary full takes over the
 * smallest counter and inherits its count as its error.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <bpf/libbpf.h>

#include "clock.h"
#include "log.h"
#include "talkers.h"

struct ss_entry {
	struct xdrop_addr key; /* an address, a masked prefix, or a port in b[0..1] */
	uint64_t packets, bytes, err;
	uint32_t heap; /* position in the summary's heap */
	uint32_t pad;
};

struct summary {
	uint32_t n;	    /* counters in use */
	struct ss_entry *e; /* [capacity] */
	uint32_t *heap;	    /* [capacity] entry indexes, min-heap by packets */
	uint32_t *hash;	    /* [hsize] entry index + 1; 0 = free */
};

struct bucket {
	int64_t idx; /* start time / width; -1: never used */
	uint64_t packets[TALKERS_NVERDICT], bytes[TALKERS_NVERDICT], samples[TALKERS_NVERDICT];
	struct summary sum[TALKERS_NBY][TALKERS_NVERDICT];
};

static const struct level {
	uint32_t window_s;
	int64_t width_ms;
	unsigned n, first; /* buckets, index of the first in talkers.b */
} levels[TALKERS_LEVELS] = {
    {10, 1000, 10, 0},
    {60, 10000, 6, 10},
    {300, 60000, 5, 16},
};

struct talkers {
	pthread_mutex_t lock;
	uint32_t cap, hmask;
	_Atomic uint32_t every;
	uint64_t seed;
	int64_t start_ms, last_ms;
	struct bucket b[TALKERS_BUCKETS];
	void *mem; /* every summary's arrays, one allocation */
	size_t mem_bytes;
	uint64_t samples, bad;

	struct ring_buffer *rb;
	pthread_t thread;
	bool running;
	atomic_bool stop;
};

/* ---- one Space-Saving summary ---- */

static uint32_t key_hash(const struct talkers *t, const struct xdrop_addr *k)
{
	uint64_t a, b;

	memcpy(&a, k->b, 8);
	memcpy(&b, k->b + 8, 8);
	a = (a ^ t->seed) * 0x9e3779b97f4a7c15ull;
	b = (b + (a >> 29)) * 0xbf58476d1ce4e5b9ull;
	return (uint32_t)((a ^ b ^ (b >> 31)) >> 17);
}

static uint32_t *hash_slot(const struct talkers *t, struct summary *s, const struct xdrop_addr *k)
{
	uint32_t i = key_hash(t, k) & t->hmask;

	while (s->hash[i] && memcmp(&s->e[s->hash[i] - 1].key, k, sizeof(*k)))
		i = (i + 1) & t->hmask;
	return &s->hash[i];
}

/* Removes k's slot and moves later slots of its run back (no tombstones). */
static void hash_remove(const struct talkers *t, struct summary *s, const struct xdrop_addr *k)
{
	uint32_t i = (uint32_t)(hash_slot(t, s, k) - s->hash), j = i;

	s->hash[i] = 0;
	for (;;) {
		uint32_t home;

		j = (j + 1) & t->hmask;
		if (!s->hash[j])
			return;
		home = key_hash(t, &s->e[s->hash[j] - 1].key) & t->hmask;
		/* j's entry may fill the hole at i when its home is not in (i, j] */
		if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
			s->hash[i] = s->hash[j];
			s->hash[j] = 0;
			i = j;
		}
	}
}

static void heap_swap(struct summary *s, uint32_t a, uint32_t b)
{
	uint32_t x = s->heap[a];

	s->heap[a] = s->heap[b];
	s->heap[b] = x;
	s->e[s->heap[a]].heap = a;
	s->e[s->heap[b]].heap = b;
}

static void heap_down(struct summary *s, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < s->n && s->e[s->heap[l]].packets < s->e[s->heap[m]].packets)
			m = l;
		if (r < s->n && s->e[s->heap[r]].packets < s->e[s->heap[m]].packets)
			m = r;
		if (m == i)
			return;
		heap_swap(s, i, m);
		i = m;
	}
}

static void heap_up(struct summary *s, uint32_t i)
{
	while (i > 0 && s->e[s->heap[(i - 1) / 2]].packets > s->e[s->heap[i]].packets) {
		heap_swap(s, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void ss_add(const struct talkers *t, struct summary *s, const struct xdrop_addr *k,
		   uint64_t packets, uint64_t bytes)
{
	uint32_t *slot = hash_slot(t, s, k);
	struct ss_entry *e;

	if (*slot) {
		e = &s->e[*slot - 1];
		e->packets += packets;
		e->bytes += bytes;
		heap_down(s, e->heap);
		return;
	}
	if (s->n < t->cap) {
		e = &s->e[s->n];
		*e = (struct ss_entry){.key = *k, .packets = packets, .bytes = bytes, .heap = s->n};
		s->heap[s->n] = s->n;
		*slot = ++s->n;
		heap_up(s, e->heap);
		return;
	}
	/* full: the smallest counter is taken over; its count becomes the new key's error */
	e = &s->e[s->heap[0]];
	hash_remove(t, s, &e->key);
	e->key = *k;
	e->err = e->packets;
	e->packets += packets;
	e->bytes += bytes;
	*hash_slot(t, s, k) = s->heap[0] + 1;
	heap_down(s, 0);
}

/* The smallest count of a full summary (what an absent key may have had), else 0. */
static uint64_t ss_floor(const struct talkers *t, const struct summary *s)
{
	return s->n == t->cap ? s->e[s->heap[0]].packets : 0;
}

/* ---- the engine ---- */

static void bucket_clear(struct talkers *t, struct bucket *b, int64_t idx)
{
	b->idx = idx;
	memset(b->packets, 0, sizeof(b->packets));
	memset(b->bytes, 0, sizeof(b->bytes));
	memset(b->samples, 0, sizeof(b->samples));
	for (int d = 0; d < TALKERS_NBY; d++) {
		for (int v = 0; v < TALKERS_NVERDICT; v++) {
			b->sum[d][v].n = 0;
			memset(b->sum[d][v].hash, 0, ((size_t)t->hmask + 1) * sizeof(uint32_t));
		}
	}
}

/* Carves every summary's arrays out of one allocation. 0 or -ENOMEM. */
static int alloc_summaries(struct talkers *t)
{
	size_t hsize = (size_t)t->hmask + 1;
	size_t per =
	    t->cap * (sizeof(struct ss_entry) + sizeof(uint32_t)) + hsize * sizeof(uint32_t);
	char *p;

	t->mem_bytes = per * TALKERS_BUCKETS * TALKERS_NBY * TALKERS_NVERDICT;
	t->mem = p = calloc(1, t->mem_bytes);
	if (!p)
		return -ENOMEM;
	for (int i = 0; i < TALKERS_BUCKETS; i++) {
		for (int d = 0; d < TALKERS_NBY; d++) {
			for (int v = 0; v < TALKERS_NVERDICT; v++) {
				struct summary *s = &t->b[i].sum[d][v];

				s->e = (struct ss_entry *)p;
				p += t->cap * sizeof(struct ss_entry);
				s->heap = (uint32_t *)p;
				p += t->cap * sizeof(uint32_t);
				s->hash = (uint32_t *)p;
				p += hsize * sizeof(uint32_t);
			}
		}
		t->b[i].idx = -1;
	}
	return 0;
}

int talkers_start(struct talkers **out, const struct talkers_opts *o)
{
	struct talkers *t;
	uint32_t cap = o->capacity ? o->capacity : TALKERS_DEF_CAPACITY, hsize = 1;

	*out = NULL;
	if (cap < TALKERS_MIN_CAPACITY || cap > TALKERS_MAX_CAPACITY)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	while (hsize < 2 * cap)
		hsize <<= 1;
	t->cap = cap;
	t->hmask = hsize - 1;
	t->every = o->sample_every;
	t->start_ms = t->last_ms = o->start_ms ? o->start_ms : clock_mono_ms();
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != sizeof(t->seed))
		t->seed = (uint64_t)clock_mono_ns() * 0x2545f4914f6cdd1dull;
	pthread_mutex_init(&t->lock, NULL);
	if (alloc_summaries(t)) {
		talkers_stop(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void talkers_stop(struct talkers *t)
{
	if (!t)
		return;
	if (t->running) {
		atomic_store(&t->stop, true);
		pthread_join(t->thread, NULL);
	}
	ring_buffer__free(t->rb);
	pthread_mutex_destroy(&t->lock);
	free(t->mem);
	free(t);
}

static bool addr_zero(const struct xdrop_addr *a)
{
	static const struct xdrop_addr zero;

	return !memcmp(a, &zero, sizeof(*a));
}

/* The keys of one sample per dimension; false for a dimension it does not count in. */
static void sample_keys(const struct xdrop_sample *s, struct xdrop_addr k[TALKERS_NBY],
			bool has[TALKERS_NBY])
{
	bool ip = !addr_zero(&s->src) || !addr_zero(&s->dst);
	uint16_t port = ntohs(s->dport);

	memset(k, 0, TALKERS_NBY * sizeof(*k));
	k[TALKERS_SRC] = k[TALKERS_SRC_PREFIX] = s->src;
	k[TALKERS_DST] = s->dst;
	/* /24 of an IPv4-mapped address, /64 of an IPv6 one */
	memset(k[TALKERS_SRC_PREFIX].b + (addr_is_v4(&s->src) ? 15 : 8), 0,
	       addr_is_v4(&s->src) ? 1 : 8);
	memcpy(k[TALKERS_DST_PORT].b, &port, sizeof(port));
	has[TALKERS_SRC] = has[TALKERS_SRC_PREFIX] = has[TALKERS_DST] = ip;
	has[TALKERS_DST_PORT] = ip && port && (s->proto == IPPROTO_TCP || s->proto == IPPROTO_UDP);
}

void talkers_add(struct talkers *t, const struct xdrop_sample *s, int64_t now_ms)
{
	struct xdrop_addr k[TALKERS_NBY];
	bool has[TALKERS_NBY];
	uint64_t every = s->every ? s->every : 1, bytes = (uint64_t)s->len * every;
	int v = s->verdict == XDROP_SAMPLE_DROPPED ? TALKERS_DROPPED : TALKERS_PASSED;

	sample_keys(s, k, has);
	pthread_mutex_lock(&t->lock);
	if (now_ms < t->last_ms)
		now_ms = t->last_ms; /* a bucket is never reopened for an earlier time */
	t->last_ms = now_ms;
	t->samples++;
	for (int l = 0; l < TALKERS_LEVELS; l++) {
		const struct level *lv = &levels[l];
		int64_t idx = now_ms / lv->width_ms;
		struct bucket *b = &t->b[lv->first + (unsigned)(idx % lv->n)];

		if (b->idx != idx)
			bucket_clear(t, b, idx);
		b->packets[v] += every;
		b->bytes[v] += bytes;
		b->samples[v]++;
		for (int d = 0; d < TALKERS_NBY; d++) {
			if (has[d])
				ss_add(t, &b->sum[d][v], &k[d], every, bytes);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

/* ---- queries ---- */

/* A counter copied out of one bucket's summary. */
struct qent {
	struct xdrop_addr key;
	uint64_t packets, bytes, err, floor; /* floor: its bucket's ss_floor */
};

/* Copies out what q's window needs under the lock: totals into r, the counters of the
 * buckets inside it into e (*n of them), and the sum of the floors of full summaries. */
static void copy_window(struct talkers *t, const struct level *lv, const struct talkers_query *q,
			struct talkers_result *r, struct qent *e, size_t *n, uint64_t *floors)
{
	int64_t cur = q->now_ms / lv->width_ms;

	*n = 0;
	*floors = 0;
	for (unsigned i = 0; i < lv->n; i++) {
		const struct bucket *b = &t->b[lv->first + i];
		const struct summary *s = &b->sum[q->by][q->verdict];
		uint64_t floor = ss_floor(t, s);

		if (b->idx < 0 || b->idx > cur || b->idx <= cur - lv->n)
			continue;
		r->samples += b->samples[q->verdict];
		r->total_packets += b->packets[q->verdict];
		r->total_bytes += b->bytes[q->verdict];
		*floors += floor;
		for (uint32_t j = 0; j < s->n; j++) {
			e[*n] = (struct qent){.key = s->e[j].key,
					      .packets = s->e[j].packets,
					      .bytes = s->e[j].bytes,
					      .err = s->e[j].err,
					      .floor = floor};
			(*n)++;
		}
	}
}

static int by_key(const void *a, const void *b)
{
	return memcmp(&((const struct qent *)a)->key, &((const struct qent *)b)->key,
		      sizeof(struct xdrop_addr));
}

static int by_packets(const void *a, const void *b)
{
	const struct qent *x = a, *y = b;

	if (x->packets != y->packets)
		return x->packets > y->packets ? -1 : 1;
	return by_key(a, b);
}

/* Sums the counters of each key in place (e sorted by key); a key missing from a full
 * summary gets its floor. Returns the number of keys. */
static size_t merge_keys(struct qent *e, size_t n, uint64_t floors)
{
	size_t k = 0;

	for (size_t i = 0; i < n;) {
		struct qent m = e[i];
		uint64_t present = e[i].floor;

		while (++i < n && !by_key(&e[i], &m)) {
			m.packets += e[i].packets;
			m.bytes += e[i].bytes;
			m.err += e[i].err;
			present += e[i].floor;
		}
		m.packets += floors - present;
		m.err += floors - present;
		e[k++] = m;
	}
	return k;
}

static void key_format(enum talkers_by by, const struct xdrop_addr *k, char *buf, size_t len)
{
	struct addr_prefix p = {.addr = *k};
	uint16_t port;

	switch (by) {
	case TALKERS_SRC_PREFIX:
		p.plen = addr_is_v4(k) ? 120 : 64;
		addr_format_prefix(&p, buf, len);
		break;
	case TALKERS_DST_PORT:
		memcpy(&port, k->b, sizeof(port));
		snprintf(buf, len, "%u", port);
		break;
	default:
		addr_format(k, buf, len);
	}
}

static const struct level *level_of(uint32_t window_s)
{
	for (int l = 0; l < TALKERS_LEVELS; l++) {
		if (levels[l].window_s == window_s)
			return &levels[l];
	}
	return NULL;
}

/* The talkers of the merged keys, heaviest first, and the rates over the span. */
static void fill_result(const struct talkers_query *q, struct qent *e, size_t n,
			struct talkers_result *r)
{
	qsort(e, n, sizeof(*e), by_packets);
	for (size_t i = 0; i < n && i < q->limit; i++) {
		struct talker *tk = &r->talkers[r->n++];

		key_format(q->by, &e[i].key, tk->key, sizeof(tk->key));
		tk->packets = e[i].packets;
		tk->bytes = e[i].bytes;
		tk->error_packets = e[i].err;
		if (r->span_s > 0) {
			tk->pps = (double)tk->packets / r->span_s;
			tk->bps = (double)tk->bytes * 8 / r->span_s;
		}
		if (r->total_packets)
			tk->share = (double)tk->packets / (double)r->total_packets;
		if (tk->share > 1)
			tk->share = 1; /* an overestimate never claims more than everything */
	}
}

int talkers_query(struct talkers *t, const struct talkers_query *q, struct talkers_result *r)
{
	const struct level *lv = level_of(q->window_s);
	struct qent *e;
	size_t n;
	uint64_t floors;
	int64_t from;

	memset(r, 0, offsetof(struct talkers_result, talkers));
	if (!lv || !q->limit || q->limit > TALKERS_MAX_LIMIT || q->by >= TALKERS_NBY ||
	    q->verdict >= TALKERS_NVERDICT)
		return -EINVAL;
	e = malloc(lv->n * t->cap * sizeof(*e)); /* before the lock: the writer waits less */
	if (!e)
		return -ENOMEM;
	r->sample_rate = talkers_rate(t);
	/* the window starts with the oldest bucket still inside it, or when counting began */
	from = (q->now_ms / lv->width_ms - (int64_t)lv->n + 1) * lv->width_ms;
	pthread_mutex_lock(&t->lock);
	if (from < t->start_ms)
		from = t->start_ms;
	copy_window(t, lv, q, r, e, &n, &floors);
	pthread_mutex_unlock(&t->lock);
	r->span_s = q->now_ms > from ? (double)(q->now_ms - from) / 1000.0 : 0;
	qsort(e, n, sizeof(*e), by_key);
	n = merge_keys(e, n, floors);
	fill_result(q, e, n, r);
	free(e);
	return 0;
}

uint32_t talkers_rate(struct talkers *t)
{
	return atomic_load(&t->every);
}

void talkers_set_rate(struct talkers *t, uint32_t sample_every)
{
	atomic_store(&t->every, sample_every);
}

void talkers_memory(struct talkers *t, size_t *bytes, size_t *keys)
{
	*bytes = sizeof(*t) + t->mem_bytes;
	*keys = 0;
	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < TALKERS_BUCKETS; i++) {
		for (int d = 0; d < TALKERS_NBY; d++) {
			for (int v = 0; v < TALKERS_NVERDICT; v++)
				*keys += t->b[i].sum[d][v].n;
		}
	}
	pthread_mutex_unlock(&t->lock);
}

void talkers_counts(struct talkers *t, uint64_t *samples, uint64_t *bad)
{
	pthread_mutex_lock(&t->lock);
	*samples = t->samples;
	*bad = t->bad;
	pthread_mutex_unlock(&t->lock);
}

/* ---- the ring consumer ---- */

#define TALKERS_POLL_MS 100 /* how long talkers_stop may wait for the consumer */

static int on_sample(void *ctx, void *data, size_t size)
{
	struct talkers *t = ctx;
	struct xdrop_sample s;

	if (size != sizeof(s)) {
		pthread_mutex_lock(&t->lock);
		t->bad++;
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	memcpy(&s, data, sizeof(s));
	talkers_add(t, &s, clock_mono_ms());
	return 0;
}

static void *ring_main(void *arg)
{
	struct talkers *t = arg;

	while (!atomic_load(&t->stop)) {
		/* the program wakes a poller only once a quarter of the ring waits (a wake-up
		 * per sample would cost more than the sample): consume on the timeout too */
		int err = ring_buffer__poll(t->rb, TALKERS_POLL_MS);

		if (err >= 0)
			err = ring_buffer__consume(t->rb);
		if (err < 0 && err != -EINTR) {
			log_error(
			    "top talkers: reading the sample ring failed: %s; no more samples",
			    strerror(-err));
			break;
		}
	}
	return NULL;
}

int talkers_attach_ring(struct talkers *t, int ringbuf_fd)
{
	int err;

	if (t->running || t->rb)
		return -EBUSY;
	t->rb = ring_buffer__new(ringbuf_fd, on_sample, t, NULL);
	if (!t->rb) {
		err = -errno;
		return err ? err : -EINVAL;
	}
	err = -pthread_create(&t->thread, NULL, ring_main, t);
	if (err) {
		ring_buffer__free(t->rb);
		t->rb = NULL;
		return err;
	}
	pthread_setname_np(t->thread, "xdrop-talkers");
	t->running = true;
	return 0;
}

/* ---- names ---- */

const char *talkers_by_name(enum talkers_by by)
{
	return by < TALKERS_NBY ? talkreq_by_names[by] : "?";
}
