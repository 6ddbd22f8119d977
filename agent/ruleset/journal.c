// SPDX-License-Identifier: MIT
/*
 * ruleset/journal.c: the state directory. Two files keep the applied set across restarts:
 * state.snapshot, the whole set in the model's packed form (snapfile.c; written to a
 * temporary file, synced and renamed into place; the SnapshotChunk form of older agents is
 * still read), and state.journal, the deltas applied since, each a 4-byte
 * length and the packed Delta, synced before the change's call returns. The journal is
 * folded into a new snapshot every RS_JOURNAL_COMPACT deltas (and whenever an append
 * fails). At start-up the snapshot is loaded and the journal replayed in memory only; a
 * torn last record (a crash mid-append) ends the replay.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "model.h"
#include "pbfield.h"

/* The set's snapshot file at path, written beside it and renamed over it; *len its size. */
static int write_snapshot_atomic(struct ruleset *rs, const char *path, uint64_t gen, size_t *len)
{
	char tmp[600];
	int fd, err;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = rs_snap_write(rs, gen, fd, len);
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static void path_of(struct ruleset *rs, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", rs->dir, name);
}

int rs_persist_snapshot(struct ruleset *rs)
{
	uint64_t gen = rs->dp ? dataplane_gen(rs->dp) : 0;
	char path[512];
	size_t len;
	int err;

	if (!rs->dir)
		return 0;
	path_of(rs, RS_SNAPSHOT_FILE, path, sizeof(path));
	err = write_snapshot_atomic(rs, path, gen, &len);
	if (err)
		goto out;
	rs->snapshot_bytes = len;
	rs->snap_gen = gen;
	if (rs->journal_fd >= 0 && ftruncate(rs->journal_fd, 0) == 0) {
		rs->journal_count = 0;
		rs->journal_bytes = 0;
	}
out:
	if (err)
		log_error("persist snapshot in %s failed: %s", rs->dir, strerror(-err));
	return err;
}

int ruleset_save(struct ruleset *rs)
{
	int err = 0;

	if (!rs)
		return 0;
	pthread_mutex_lock(&rs->lock);
	if (rs->dir && (rs->journal_bytes > 0 ||
			(rs->snapshot_bytes > 0 && rs->snap_gen != dataplane_gen(rs->dp))))
		err = rs_persist_snapshot(rs);
	pthread_mutex_unlock(&rs->lock);
	return err;
}

int rs_journal_append(struct ruleset *rs, const Xdrop__V1__Delta *d)
{
	size_t len = xdrop__v1__delta__get_packed_size(d);
	uint8_t *buf;
	uint32_t l32 = (uint32_t)len;
	int err = 0;

	if (!rs->dir)
		return 0;
	if (rs->journal_count >= RS_JOURNAL_COMPACT ||
	    rs->journal_bytes + len + 4 > rs->snapshot_bytes / 2 + RS_JOURNAL_MIN_BYTES)
		return rs_persist_snapshot(rs);
	buf = malloc(len + 4);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &l32, 4);
	xdrop__v1__delta__pack(d, buf + 4);
	if (write(rs->journal_fd, buf, len + 4) != (ssize_t)(len + 4) || fdatasync(rs->journal_fd))
		err = -errno ? -errno : -EIO;
	free(buf);
	if (err) {
		log_error("journal append in %s failed: %s; writing a snapshot instead", rs->dir,
			  strerror(-err));
		return rs_persist_snapshot(rs);
	}
	rs->journal_count++;
	rs->journal_bytes += len + 4;
	return 0;
}

/* ---- reading the snapshot file, one element at a time ---- */

/* A varint at *p (below end): 0 and *p advanced, or -EBADMSG. */
static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -EBADMSG;
}

/* What the file's SnapshotChunk says about itself, and the items read from it. */
struct loaded {
	uint64_t revision;
	char hash[RULEHASH_HEX];
	struct item **items;
	size_t n, cap;
};

/* Makes an item of kind k from one packed element. 0, -EBADMSG, -EINVAL or -ENOMEM. */
static int load_item(struct loaded *l, const struct ruleset_kind *k, const uint8_t *p, size_t len,
		     struct rpc_status *st)
{
	ProtobufCMessage *m;
	int err;

	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 1024;
		struct item **v = realloc(l->items, nc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->items = v;
		l->cap = nc;
	}
	m = protobuf_c_message_unpack(k->msg, NULL, len, p);
	if (!m)
		return -EBADMSG;
	err = rs_item_make(k, m, &l->items[l->n], st);
	protobuf_c_message_free_unpacked(m, NULL);
	if (!err)
		l->n++;
	return err;
}

/* One field of the chunk at *p: a kind's element, the revision or the hash (the rest is
 * skipped). 0 and *p advanced, or a negative errno. */
static int load_field(struct loaded *l, const uint8_t **p, const uint8_t *end,
		      struct rpc_status *st)
{
	const ProtobufCMessageDescriptor *d = &xdrop__v1__snapshot_chunk__descriptor;
	uint64_t tag, v;
	int err = get_varint(p, end, &tag);

	if (err)
		return err;
	switch (tag & 7) {
	case PROTOBUF_C_WIRE_TYPE_VARINT:
		err = get_varint(p, end, &v);
		if (!err && (tag >> 3) == pbf_field(d, "revision")->id)
			l->revision = v;
		return err;
	case PROTOBUF_C_WIRE_TYPE_64BIT:
	case PROTOBUF_C_WIRE_TYPE_32BIT: {
		size_t w = (tag & 7) == PROTOBUF_C_WIRE_TYPE_64BIT ? 8 : 4;

		if ((size_t)(end - *p) < w)
			return -EBADMSG;
		*p += w;
		return 0;
	}
	case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
		break;
	default:
		return -EBADMSG;
	}
	if (get_varint(p, end, &v) || v > (uint64_t)(end - *p))
		return -EBADMSG;
	for (unsigned k = 0; k < RULESET_NKINDS && !err; k++)
		if ((tag >> 3) == pbf_field(d, ruleset_kinds[k]->chunk_field)->id)
			err = load_item(l, ruleset_kinds[k], *p, (size_t)v, st);
	if ((tag >> 3) == pbf_field(d, "content_hash")->id)
		snprintf(l->hash, sizeof(l->hash), "%.*s", (int)v, (const char *)*p);
	*p += v;
	return err;
}

/* Installs the snapshot buf[0..len) in the SnapshotChunk form older agents wrote. 0, or a
 * negative errno with *st saying why (nothing installed). */
static int load_chunk(struct ruleset *rs, const uint8_t *buf, size_t len, struct rpc_status *st)
{
	struct loaded l = {0};
	const uint8_t *p = buf, *end = buf + len;
	int err = 0;

	while (p < end && !err)
		err = load_field(&l, &p, end, st);
	if (err == -EBADMSG || err == -ENOMEM)
		rs_status(st, RPC_DATA_LOSS, "", "%s", err == -ENOMEM ? "out of memory" : "torn");
	if (!err)
		err = rs_items_check(l.items, l.n, l.hash, st);
	if (!err)
		err = rs_install(rs, l.items, l.n, l.revision, st);
	if (err)
		for (size_t i = 0; i < l.n; i++)
			rs_item_free(l.items[i]);
	free(l.items);
	return err;
}

/* Moves the state file name aside as name.refused (kept for the operator). */
static void set_aside(struct ruleset *rs, const char *name)
{
	char from[512], to[530];

	path_of(rs, name, from, sizeof(from));
	snprintf(to, sizeof(to), "%s.refused", from);
	if (rename(from, to) && errno != ENOENT)
		log_error("cannot move %s aside: %s", from, strerror(errno));
}

/* Reads and installs the snapshot file, if there is one: the packed form (snapfile.c),
 * or the SnapshotChunk of older agents. A file that cannot be read whole is refused: it
 * and the journal go aside, and the set starts without saved state, so ruleset_open
 * keeps the data plane's adopted entries in force instead of emptying it. */
static void load_snapshot(struct ruleset *rs)
{
	struct rpc_status st = {0};
	char path[512];
	void *map = MAP_FAILED;
	struct stat sb;
	int fd, err = -EIO;

	path_of(rs, RS_SNAPSHOT_FILE, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	rs->had_state = true;
	if (fstat(fd, &sb) == 0 && sb.st_size > 0)
		map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (map != MAP_FAILED) {
		rs->snapshot_bytes = (uint64_t)sb.st_size;
		err = rs_snap_load(rs, map, (size_t)sb.st_size, &st);
		if (err == -ENOTSUP)
			err = load_chunk(rs, map, (size_t)sb.st_size, &st);
		munmap(map, (size_t)sb.st_size);
	} else {
		rs_status(&st, RPC_DATA_LOSS, "", "unreadable or empty");
	}
	if (!err)
		return;
	log_error("state file %s refused: %s; it and the journal are kept as *.refused, and the "
		  "data plane's entries stay in force until a snapshot or a write replaces them",
		  path, st.message);
	set_aside(rs, RS_SNAPSHOT_FILE);
	set_aside(rs, RS_JOURNAL_FILE);
	rs->had_state = false;
	rs->refused = true;
	rs->snapshot_bytes = 0;
}

/* Applies one journaled delta when it continues the set. Returns whether it did. */
static bool replay_one(struct ruleset *rs, const Xdrop__V1__Delta *d)
{
	struct op *ops = NULL;
	struct rpc_status st;
	size_t bad;
	bool done = false;

	if (d->base_revision != rs->revision)
		return false;
	if (rs_ops_from_delta(d, &ops, &st, &bad) == 0) {
		done = rs_apply_ops(rs, ops, d->n_ops, d->revision, false, &st, &bad) == 0;
		rs_ops_free(ops, d->n_ops);
	}
	return done;
}

/* Replays the journal's records j[0..size) in order. Returns how many were applied. */
static unsigned replay(struct ruleset *rs, const uint8_t *j, off_t size)
{
	unsigned replayed = 0;
	off_t off = 0;

	while (off + 4 <= size) {
		uint32_t len;
		Xdrop__V1__Delta *d;

		memcpy(&len, j + off, 4);
		if (off + 4 + (off_t)len > size)
			break; /* a torn last record */
		d = xdrop__v1__delta__unpack(NULL, len, j + off + 4);
		off += 4 + (off_t)len;
		if (!d)
			break;
		if (replay_one(rs, d))
			replayed++;
		xdrop__v1__delta__free_unpacked(d, NULL);
	}
	return replayed;
}

int rs_load_state(struct ruleset *rs)
{
	char path[512];
	struct stat sb;
	unsigned replayed = 0;
	uint8_t *j;

	load_snapshot(rs);
	path_of(rs, RS_JOURNAL_FILE, path, sizeof(path));
	rs->journal_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (rs->journal_fd < 0)
		return -errno;
	if (rs->refused || fstat(rs->journal_fd, &sb) || sb.st_size == 0)
		return 0;
	rs->had_state = true;
	j = malloc((size_t)sb.st_size);
	if (j && pread(rs->journal_fd, j, (size_t)sb.st_size, 0) == sb.st_size)
		replayed = replay(rs, j, sb.st_size);
	free(j);
	rs->journal_count = replayed;
	rs->journal_bytes = (uint64_t)sb.st_size;
	if (replayed)
		log_info("replayed %u journaled change(s) to revision %llu", replayed,
			 (unsigned long long)rs->revision);
	return 0;
}
