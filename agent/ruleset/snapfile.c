// SPDX-License-Identifier: MIT
/*
 * ruleset/snapfile.c: the state snapshot file in the model's own packed form, so a
 * restart reads it back in one pass without rebuilding anything: per item the fields the
 * engine keeps (spec, content digest, times, enabled), then its packed message and id,
 * exactly as struct item holds them. Loading is one allocation and two copies per item:
 * no protobuf unpack, no re-validation, no SHA-256 per rule (the file was written from
 * items that had passed them, and a checksum over the whole file covers its bytes).
 *
 *   header   "XDRSNAP1", version, record size, revision, item count, the data plane's
 *            generation it was written at, content hash
 *   records  struct snaprec, the packed message, the id, padded to 8 bytes
 *   trailer  the checksum of everything before it, "XDRSEND1"
 *
 * A file in another format (the SnapshotChunk of older agents) is left to the caller's
 * legacy reader; a file in this format that is cut short, fails the checksum, or
 * disagrees with its own header is refused whole with the reason: installing part of a
 * set would take rules out of the data plane.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"

#define SNAP_MAGIC "XDRSNAP1"
#define SNAP_END   "XDRSEND1"
/* 2: the packed messages leave out the fields the record holds (model.c); an agent that
 * reads only version 1 refuses such a file instead of reading those fields as unset.
 * Version 1 files (the packed messages hold them too, with the same values) still load. */
#define SNAP_VERSION 2

struct snaphdr {
	char magic[8];
	uint32_t version;
	uint32_t rec_size; /* sizeof(struct snaprec): refuses a file of another build's layout */
	uint64_t revision;
	uint64_t count;
	uint64_t dp_gen; /* the data plane's generation when it was written (0: unknown) */
	char hash[RULEHASH_HEX];
	uint8_t pad[7];
};

struct snaprec {
	struct rule_spec spec;
	uint8_t digest[RULEHASH_LEN];
	int64_t expires_at, created_at, updated_at;
	uint32_t pblen;
	uint16_t idlen;
	uint8_t kind; /* index in ruleset_kinds */
	uint8_t enabled;
};

struct snaptrl {
	uint64_t sum;
	char magic[8];
};

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

#define SUM_SEED 0x9e3779b97f4a7c15ULL

/* The checksum's state h after the whole 8-byte words of p[0..n). */
static uint64_t sum_words(uint64_t h, const uint8_t *p, size_t n)
{
	uint64_t w;

	for (size_t i = 0; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 31;
	}
	return h;
}

uint64_t rs_snap_checksum(const uint8_t *p, size_t n)
{
	uint64_t h = sum_words(SUM_SEED, p, n);
	size_t i = n & ~(size_t)7;

	for (; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h ^ n;
}

static size_t rec_bytes(const struct item *it)
{
	return pad8(sizeof(struct snaprec) + it->pblen + strlen(rs_id(it)));
}

static size_t put_rec(uint8_t *p, const struct item *it)
{
	struct snaprec r;
	size_t idlen = strlen(rs_id(it)), n = rec_bytes(it);

	memset(&r, 0, sizeof(r));
	r.spec = it->spec;
	memcpy(r.digest, it->digest, sizeof(r.digest));
	r.expires_at = it->expires_at;
	r.created_at = it->created_at;
	r.updated_at = it->updated_at;
	r.pblen = it->pblen;
	r.idlen = (uint16_t)idlen;
	r.kind = (uint8_t)rs_kind(it)->index;
	r.enabled = it->enabled;
	memset(p, 0, n);
	memcpy(p, &r, sizeof(r));
	memcpy(p + sizeof(r), it->data, it->pblen);
	memcpy(p + sizeof(r) + it->pblen, rs_id(it), idlen);
	return n;
}

/*
 * The file as it is made: into memory whole (fd < 0), or to fd through a buffer of
 * SNAP_WBUF bytes, so that writing a million rules does not first hold all of their 260
 * MB again. Everything put is a whole number of 8-byte words (the header, the padded
 * records), so the checksum is taken as the buffer is emptied.
 */
#define SNAP_WBUF (1 << 20)

struct snapw {
	int fd;
	uint8_t *buf;
	size_t len, cap;
	size_t summed;	/* bytes of buf already in the checksum */
	uint64_t h;	/* the checksum's state */
	uint64_t total; /* bytes in the checksum */
	size_t out;	/* bytes written to fd */
	int err;
};

/* Room for n more bytes at the end of the buffer, or NULL (w->err set). */
static uint8_t *sw_room(struct snapw *w, size_t n)
{
	if (w->err)
		return NULL;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : SNAP_WBUF;
		uint8_t *p;

		while (cap < w->len + n)
			cap *= 2;
		if (!(p = realloc(w->buf, cap))) {
			w->err = -ENOMEM;
			return NULL;
		}
		w->buf = p;
		w->cap = cap;
	}
	return w->buf + w->len;
}

static void sw_sum(struct snapw *w)
{
	w->h = sum_words(w->h, w->buf + w->summed, w->len - w->summed);
	w->total += w->len - w->summed;
	w->summed = w->len;
}

/* Writes the buffer out (fd only; in memory it stays). */
static void sw_flush(struct snapw *w)
{
	sw_sum(w);
	for (size_t off = 0; w->fd >= 0 && !w->err && off < w->len;) {
		ssize_t n = write(w->fd, w->buf + off, w->len - off);

		if (n < 0)
			w->err = -errno;
		else
			off += (size_t)n;
		w->out += n > 0 ? (size_t)n : 0;
	}
	if (w->fd >= 0)
		w->len = w->summed = 0;
}

static void sw_put(struct snapw *w, const void *p, size_t n)
{
	uint8_t *at = sw_room(w, n);

	if (at) {
		memcpy(at, p, n);
		w->len += n;
	}
}

/* The whole set as a snapshot file into w. */
static void snap_emit(struct ruleset *rs, uint64_t dp_gen, struct snapw *w)
{
	struct snaphdr h;
	struct snaptrl t;
	struct item *it;
	uint8_t *at;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, SNAP_MAGIC, 8);
	h.version = SNAP_VERSION;
	h.rec_size = sizeof(struct snaprec);
	h.revision = rs->revision;
	h.dp_gen = dp_gen;
	for (unsigned k = 0; k < RULESET_NKINDS; k++)
		h.count += rs->count[k];
	rulehash_hex(&rs->hash, h.hash);
	w->h = SUM_SEED;
	sw_put(w, &h, sizeof(h));
	for (unsigned k = 0; k < RULESET_NKINDS; k++)
		for (size_t pos = 0; (it = rs_next(rs, k, &pos));) {
			if (!(at = sw_room(w, rec_bytes(it))))
				return;
			w->len += put_rec(at, it);
			if (w->fd >= 0 && w->len >= SNAP_WBUF)
				sw_flush(w);
		}
	sw_sum(w);
	t.sum = w->h ^ w->total;
	memcpy(t.magic, SNAP_END, 8);
	sw_put(w, &t, sizeof(t));
	sw_flush(w);
}

int rs_snap_pack(struct ruleset *rs, uint64_t dp_gen, uint8_t **buf, size_t *len)
{
	struct snapw w = {.fd = -1};

	snap_emit(rs, dp_gen, &w);
	if (w.err) {
		free(w.buf);
		return w.err;
	}
	*buf = w.buf;
	*len = w.len;
	return 0;
}

int rs_snap_write(struct ruleset *rs, uint64_t dp_gen, int fd, size_t *len)
{
	struct snapw w = {.fd = fd};

	snap_emit(rs, dp_gen, &w);
	free(w.buf);
	*len = w.out;
	return w.err;
}

/* The item of the record at p (n bytes left), its size in *used. */
static int get_rec(const uint8_t *p, size_t n, struct item **out, size_t *used,
		   struct rpc_status *st)
{
	struct snaprec r;
	struct item *it;

	if (n < sizeof(r))
		goto cut;
	memcpy(&r, p, sizeof(r));
	*used = pad8(sizeof(r) + r.pblen + r.idlen);
	if (*used > n)
		goto cut;
	if (r.kind >= RULESET_NKINDS || !r.idlen || r.idlen >= RS_ID_MAX) {
		rs_status(st, RPC_DATA_LOSS, "", "a record names kind %u and an id of %u bytes",
			  r.kind, r.idlen);
		return -EBADMSG;
	}
	it = malloc(sizeof(*it) + r.pblen + r.idlen + 1);
	if (!it)
		return -ENOMEM;
	memset(it, 0, sizeof(*it));
	it->kind = r.kind;
	it->spec = r.spec;
	memcpy(it->digest, r.digest, sizeof(it->digest));
	it->enabled = r.enabled;
	it->expires_at = r.expires_at;
	it->created_at = r.created_at;
	it->updated_at = r.updated_at;
	it->pblen = r.pblen;
	memcpy(it->data, p + sizeof(r), r.pblen + (size_t)r.idlen);
	it->data[r.pblen + r.idlen] = 0; /* the id's NUL */
	*out = it;
	return 0;
cut:
	rs_status(st, RPC_DATA_LOSS, "", "cut short inside a record");
	return -EBADMSG;
}

/* Checks the header and trailer of buf[0..len): 0 (*h filled), -ENOTSUP (not this
 * format) or -EBADMSG. */
static int check_frame(const uint8_t *buf, size_t len, struct snaphdr *h, struct rpc_status *st)
{
	struct snaptrl t;

	if (len < 8 || memcmp(buf, SNAP_MAGIC, 8))
		return -ENOTSUP;
	if (len < sizeof(*h) + sizeof(t)) {
		rs_status(st, RPC_DATA_LOSS, "", "cut short (%zu bytes) before its first record",
			  len);
		return -EBADMSG;
	}
	memcpy(h, buf, sizeof(*h));
	memcpy(&t, buf + len - sizeof(t), sizeof(t));
	if ((h->version != 1 && h->version != SNAP_VERSION) ||
	    h->rec_size != sizeof(struct snaprec)) {
		rs_status(st, RPC_DATA_LOSS, "", "version %u, record size %u: not this agent's",
			  h->version, h->rec_size);
		return -EBADMSG;
	}
	if (memcmp(t.magic, SNAP_END, 8)) {
		rs_status(st, RPC_DATA_LOSS, "", "cut short: no end mark (%zu bytes)", len);
		return -EBADMSG;
	}
	if (t.sum != rs_snap_checksum(buf, len - sizeof(t))) {
		rs_status(st, RPC_DATA_LOSS, "", "checksum mismatch: the file is damaged");
		return -EBADMSG;
	}
	h->hash[RULEHASH_HEX - 1] = 0;
	return 0;
}

/* The items of the records of buf[0..len), count of them, into *out. */
static int get_items(const uint8_t *buf, size_t len, size_t count, struct item ***out,
		     struct rpc_status *st)
{
	struct item **v = calloc(count + 1, sizeof(*v));
	size_t off = sizeof(struct snaphdr), end = len - sizeof(struct snaptrl), used, n = 0;
	int err = v ? 0 : -ENOMEM;

	while (!err && off < end && n < count) {
		err = get_rec(buf + off, end - off, &v[n], &used, st);
		if (!err) {
			n++;
			off += used;
		}
	}
	if (!err && (n != count || off != end)) {
		rs_status(st, RPC_DATA_LOSS, "", "%zu records where the header says %zu", n, count);
		err = -EBADMSG;
	}
	if (err) {
		for (size_t i = 0; v && i < n; i++)
			rs_item_free(v[i]);
		free(v);
		return err;
	}
	*out = v;
	return 0;
}

int rs_snap_load(struct ruleset *rs, const uint8_t *buf, size_t len, struct rpc_status *st)
{
	struct rulehash sum;
	struct snaphdr h;
	struct item **items = NULL;
	char hex[RULEHASH_HEX];
	int err = check_frame(buf, len, &h, st);

	if (!err && h.count > len / sizeof(struct snaprec)) {
		rs_status(st, RPC_DATA_LOSS, "", "the header's count (%llu) exceeds the file",
			  (unsigned long long)h.count);
		err = -EBADMSG;
	}
	if (!err)
		err = get_items(buf, len, (size_t)h.count, &items, st);
	if (err)
		return err;
	rulehash_init(&sum);
	for (size_t i = 0; i < h.count; i++)
		rulehash_add(&sum, items[i]->digest);
	if (strcmp(rulehash_hex(&sum, hex), h.hash)) {
		rs_status(st, RPC_DATA_LOSS, "", "content hash %s, the header says %s", hex,
			  h.hash);
		err = -EBADMSG;
	}
	if (!err)
		err = rs_install(rs, items, (size_t)h.count, h.revision, st);
	if (!err)
		rs->snap_gen = h.dp_gen;
	if (err)
		for (size_t i = 0; i < h.count; i++)
			rs_item_free(items[i]);
	free(items);
	return err;
}
