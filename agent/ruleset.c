// SPDX-License-Identifier: MIT
/*
 * ruleset: the agent's rule store; see ruleset.h.
 *
 * Every change is a list of operations (upsert a message, delete an id). apply_ops turns it
 * into data-plane changes by match key: an old key that no longer holds an active entry is
 * deleted, a new or changed key is put; a key touched twice ends as its last state, so one
 * switch carries the whole change. Only after the switch succeeds is the model updated and
 * the change journaled.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#include <uthash.h>

#include "log.h"
#include "rulepb.h"
#include "ruleset.h"

#define RS_KEY_LEN	   160
#define RS_JOURNAL_COMPACT 4096 /* deltas in the journal before it is folded in */
#define RS_LIST_DEFAULT	   50
#define RS_LIST_MAX	   10000
#define RS_MAX_OPS	   1000000

struct item {
	UT_hash_handle hh;
	char *id;	       /* points into msg */
	ProtobufCMessage *msg; /* Rule or WhitelistEntry, unpacked by protobuf-c */
	struct rule_spec spec;
	uint8_t digest[RULEHASH_LEN];
	bool is_wl;
	bool active;	      /* in the data plane */
	char key[RS_KEY_LEN]; /* match key text */
};

/* match key -> the item holding it in the data plane */
struct keyent {
	UT_hash_handle hh;
	char key[RS_KEY_LEN];
	struct item *item;
};

struct ruleset {
	pthread_mutex_t lock;
	struct dataplane *dp;
	char *dir;
	struct item *rules, *wl;
	struct keyent *keys;
	uint64_t revision;
	struct rulehash hash;
	/* what packets see, for readers that must not wait on lock: set right after the
	 * data-plane switch of each change, before its grace period and cleanup */
	pthread_mutex_t pub_lock;
	uint64_t pub_revision;
	struct rulehash pub_hash;
	size_t nrules, nwl;
	int journal_fd;
	unsigned journal_count;
	/* load_state at start-up: the snapshot and the journal rebuild the set in memory
	 * only; ruleset_open then switches the data plane once, to the final set */
	bool loading;
	bool had_state; /* load_state found a snapshot or journal to start from */
	/* snapshot staging */
	struct {
		bool on;
		uint64_t revision;
		uint64_t base; /* the applied revision when staging began */
		char hash[RULEHASH_HEX];
		uint32_t count, next;
		ProtobufCMessage **msgs;
		bool *is_wl;
		size_t n, cap;
	} stage;
};

/* Publishes revision and hash (lock held). */
static void publish(struct ruleset *rs)
{
	pthread_mutex_lock(&rs->pub_lock);
	rs->pub_revision = rs->revision;
	rs->pub_hash = rs->hash;
	pthread_mutex_unlock(&rs->pub_lock);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void set_status(struct rpc_status *st, enum rpc_code code, const char *field,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void set_status(struct rpc_status *st, enum rpc_code code, const char *field,
		       const char *fmt, ...)
{
	va_list ap;

	if (!st)
		return;
	st->code = code;
	snprintf(st->field, sizeof(st->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
}

/* A deep copy through the wire format: the copy is one protobuf-c allocation tree. */
static ProtobufCMessage *msg_copy(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	ProtobufCMessage *c;

	if (!buf)
		return NULL;
	protobuf_c_message_pack(m, buf);
	c = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
	free(buf);
	return c;
}

static bool rule_active(const Xdrop__V1__Rule *r, int64_t now)
{
	return r->enabled && (r->expires_at == 0 || r->expires_at > now);
}

static void item_free(struct item *it)
{
	if (!it)
		return;
	if (it->msg)
		protobuf_c_message_free_unpacked(it->msg, NULL);
	free(it);
}

/* Builds an item from a message (copied); validates it. */
static int item_make(const ProtobufCMessage *m, bool is_wl, struct item **out,
		     struct rpc_status *st)
{
	struct rule_error re = {0};
	struct item *it = calloc(1, sizeof(*it));
	int err;

	if (!it)
		return -ENOMEM;
	it->is_wl = is_wl;
	it->msg = msg_copy(m);
	if (!it->msg) {
		free(it);
		return -ENOMEM;
	}
	if (is_wl) {
		Xdrop__V1__WhitelistEntry *w = (Xdrop__V1__WhitelistEntry *)it->msg;

		it->id = w->id;
		err = rulepb_wl_to_spec(w, &it->spec, &re);
		if (!err)
			err = rulehash_wl_digest(w, it->digest);
	} else {
		Xdrop__V1__Rule *r = (Xdrop__V1__Rule *)it->msg;

		it->id = r->id;
		err = rulepb_rule_to_spec(r, &it->spec, &re);
		if (!err)
			err = rulehash_rule_digest(r, it->digest);
	}
	if (!err && (!it->id || !*it->id)) {
		re.field = "id";
		re.reason = "id is required";
		err = -EINVAL;
	}
	if (err) {
		set_status(st, RPC_INVALID_ARGUMENT, re.field, "%s",
			   re.reason ? re.reason : "invalid");
		item_free(it);
		return err;
	}
	rulepb_match_key(&it->spec, it->key, sizeof(it->key));
	*out = it;
	return 0;
}

static struct item **table(struct ruleset *rs, bool is_wl)
{
	return is_wl ? &rs->wl : &rs->rules;
}

/* ---- persistence ---- */

static int write_file_atomic(const char *path, const uint8_t *buf, size_t len)
{
	char tmp[600];
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, buf + off, len - off);

		if (w < 0) {
			err = -errno;
			break;
		}
		off += (size_t)w;
	}
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

/* Writes the whole set as one SnapshotChunk and empties the journal. Caller holds lock. */
static int persist_snapshot(struct ruleset *rs)
{
	Xdrop__V1__SnapshotChunk c = XDROP__V1__SNAPSHOT_CHUNK__INIT;
	char path[512], hex[RULEHASH_HEX];
	struct item *it, *tmp;
	uint8_t *buf;
	size_t len, i = 0;
	int err;

	if (!rs->dir)
		return 0;
	c.revision = rs->revision;
	c.content_hash = rulehash_hex(&rs->hash, hex);
	c.chunk_count = 1;
	c.n_rules = rs->nrules;
	c.n_whitelist = rs->nwl;
	c.rules = calloc(rs->nrules + 1, sizeof(*c.rules));
	c.whitelist = calloc(rs->nwl + 1, sizeof(*c.whitelist));
	if (!c.rules || !c.whitelist) {
		free(c.rules);
		free(c.whitelist);
		return -ENOMEM;
	}
	HASH_ITER(hh, rs->rules, it, tmp)
	{
		c.rules[i++] = (Xdrop__V1__Rule *)it->msg;
	}
	i = 0;
	HASH_ITER(hh, rs->wl, it, tmp)
	{
		c.whitelist[i++] = (Xdrop__V1__WhitelistEntry *)it->msg;
	}
	c.total_rules = rs->nrules;
	c.total_whitelist = rs->nwl;
	len = xdrop__v1__snapshot_chunk__get_packed_size(&c);
	buf = malloc(len ? len : 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	xdrop__v1__snapshot_chunk__pack(&c, buf);
	path_of(rs, "state.snapshot", path, sizeof(path));
	err = write_file_atomic(path, buf, len);
	free(buf);
	if (err)
		goto out;
	if (rs->journal_fd >= 0 && ftruncate(rs->journal_fd, 0) == 0)
		rs->journal_count = 0;
out:
	free(c.rules);
	free(c.whitelist);
	if (err)
		log_error("persist snapshot in %s failed: %s", rs->dir, strerror(-err));
	return err;
}

/* Appends one delta to the journal: a 4-byte length, then the packed Delta. */
static int journal_append(struct ruleset *rs, const Xdrop__V1__Delta *d)
{
	size_t len = xdrop__v1__delta__get_packed_size(d);
	uint8_t *buf;
	uint32_t l32 = (uint32_t)len;
	int err = 0;

	if (!rs->dir)
		return 0;
	if (rs->journal_count >= RS_JOURNAL_COMPACT)
		return persist_snapshot(rs);
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
		return persist_snapshot(rs);
	}
	rs->journal_count++;
	return 0;
}

/* ---- the change engine ---- */

struct op {
	bool is_wl;
	bool del;
	const char *id;	   /* delete */
	struct item *item; /* upsert: the new item (owned until committed) */
};

static const char *op_id(const struct op *o)
{
	return o->del ? o->id : o->item->id;
}

struct lastop {
	UT_hash_handle hh;
	size_t idx;
	char key[]; /* 'R' or 'W', then the id */
};

/* For each op, whether it is the last one on its (kind, id): earlier ones are superseded.
 * One pass with a hash, so a batch of a million ops stays linear. *out is malloc'ed. */
static int last_ops(const struct op *ops, size_t n, bool **out)
{
	struct lastop *map = NULL, *e, *tmp;
	bool *last = calloc(n + 1, sizeof(*last));
	int err = 0;

	if (!last)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		const char *id = op_id(&ops[i]);
		size_t len = strlen(id) + 1;
		char buf[300];

		if (len + 1 > sizeof(buf)) {
			err = -EINVAL;
			break;
		}
		buf[0] = ops[i].is_wl ? 'W' : 'R';
		memcpy(buf + 1, id, len);
		HASH_FIND_STR(map, buf, e);
		if (e) {
			last[e->idx] = false;
		} else {
			e = malloc(sizeof(*e) + len + 1);
			if (!e) {
				err = -ENOMEM;
				break;
			}
			memcpy(e->key, buf, len + 1);
			HASH_ADD_STR(map, key, e);
		}
		e->idx = i;
		last[i] = true;
	}
	HASH_ITER(hh, map, e, tmp)
	{
		HASH_DEL(map, e);
		free(e);
	}
	if (err) {
		free(last);
		return err;
	}
	*out = last;
	return 0;
}

struct kchange {
	UT_hash_handle hh;
	char key[RS_KEY_LEN];
	struct rule_spec spec;
	bool put;	    /* final state: put spec; else delete */
	bool was_active;    /* the key is in the data plane now */
	struct item *owner; /* the new owner when put */
};

static int kchange_get(struct kchange **map, const char *key, struct kchange **out)
{
	struct kchange *k;

	HASH_FIND_STR(*map, key, k);
	if (!k) {
		k = calloc(1, sizeof(*k));
		if (!k)
			return -ENOMEM;
		snprintf(k->key, sizeof(k->key), "%s", key);
		HASH_ADD_STR(*map, key, k);
	}
	*out = k;
	return 0;
}

static struct item *find(struct ruleset *rs, bool is_wl, const char *id)
{
	struct item *it;

	HASH_FIND_STR(*table(rs, is_wl), id, it);
	return it;
}

/*
 * Applies ops in one data-plane switch and commits them. local: refuse duplicate keys held
 * by other entries (standalone writes); controller deltas are trusted to be consistent.
 * On success the ops' items are owned by the set; on failure they stay the caller's.
 */
static int apply_ops(struct ruleset *rs, struct op *ops, size_t n, uint64_t new_revision,
		     bool local, struct rpc_status *st, size_t *bad_index)
{
	struct kchange *map = NULL, *k, *ktmp;
	struct dp_change *ch = NULL;
	struct dp_result res;
	size_t nch = 0, i;
	int64_t now = now_ns();
	bool *last = NULL;
	int err = 0;

	/* final state per touched id: the last op on an id wins */
	err = last_ops(ops, n, &last);
	if (err)
		goto out;
	for (i = 0; i < n; i++) {
		struct item *old = last[i] ? find(rs, ops[i].is_wl, op_id(&ops[i])) : NULL;

		if (!old && ops[i].del) {
			if (last[i] && local && !find(rs, ops[i].is_wl, ops[i].id)) {
				*bad_index = i;
				set_status(st, RPC_NOT_FOUND, "id", "no %s with id %s",
					   ops[i].is_wl ? "whitelist entry" : "rule", ops[i].id);
				err = -ENOENT;
				goto out;
			}
		}
		if (old && old->active) {
			err = kchange_get(&map, old->key, &k);
			if (err)
				goto out;
			k->was_active = true;
		}
	}
	for (i = 0; i < n; i++) {
		struct item *it = ops[i].item;

		if (ops[i].del || !last[i])
			continue; /* a deletion, or superseded by a later op on the same id */
		it->active = it->is_wl || rule_active((Xdrop__V1__Rule *)it->msg, now);
		if (!it->active)
			continue;
		err = kchange_get(&map, it->key, &k);
		if (err)
			goto out;
		if (k->put) {
			*bad_index = i;
			set_status(st, RPC_ALREADY_EXISTS, "rule", "%s has the same match as %s",
				   it->id, k->owner->id);
			err = -EEXIST;
			goto out;
		}
		if (local) {
			struct keyent *ke;

			HASH_FIND_STR(rs->keys, it->key, ke);
			/* held by an entry this change does not touch, or touches but keeps */
			if (ke && !k->was_active) {
				*bad_index = i;
				set_status(st, RPC_ALREADY_EXISTS, "rule",
					   "the same match exists already: %s", ke->item->id);
				err = -EEXIST;
				goto out;
			}
		}
		k->put = true;
		k->spec = it->spec;
		k->owner = it;
	}
	ch = calloc(HASH_COUNT(map) + 1, sizeof(*ch));
	if (!ch) {
		err = -ENOMEM;
		goto out;
	}
	HASH_ITER(hh, map, k, ktmp)
	{
		if (k->put) {
			ch[nch].op = DP_PUT;
			ch[nch++].spec = k->spec;
		} else if (k->was_active) {
			struct keyent *ke;

			HASH_FIND_STR(rs->keys, k->key, ke);
			if (!ke)
				continue;
			ch[nch].op = DP_DEL;
			ch[nch++].spec = ke->item->spec;
		}
	}
	/* the switch; its grace period and cleanup run after the new revision is published */
	err = rs->loading ? 0 : dataplane_apply_begin(rs->dp, ch, nch, &res);
	if (err) {
		*bad_index = 0;
		set_status(st,
			   err == -ENOSPC   ? RPC_RESOURCE_EXHAUSTED
			   : err == -EINVAL ? RPC_INVALID_ARGUMENT
			   : err == -EEXIST ? RPC_ALREADY_EXISTS
					    : RPC_INTERNAL,
			   res.err.field, "data plane refused the change: %s",
			   res.err.reason ? res.err.reason : strerror(-err));
		goto out;
	}

	/* commit: the switch happened */
	HASH_ITER(hh, map, k, ktmp)
	{
		struct keyent *ke;

		HASH_FIND_STR(rs->keys, k->key, ke);
		if (k->put) {
			if (!ke) {
				ke = calloc(1, sizeof(*ke));
				if (!ke) {
					err = -ENOMEM; /* the data plane is right; the index lags */
					continue;
				}
				snprintf(ke->key, sizeof(ke->key), "%s", k->key);
				HASH_ADD_STR(rs->keys, key, ke);
			}
			ke->item = k->owner;
		} else if (ke) {
			HASH_DEL(rs->keys, ke);
			free(ke);
		}
	}
	for (i = 0; i < n; i++) {
		bool is_wl = ops[i].is_wl;
		const char *id = ops[i].del ? ops[i].id : ops[i].item->id;
		struct item *old = find(rs, is_wl, id);

		if (old) {
			HASH_DEL(*table(rs, is_wl), old);
			rulehash_sub(&rs->hash, old->digest);
			if (is_wl)
				rs->nwl--;
			else
				rs->nrules--;
			item_free(old);
		}
		if (!ops[i].del) {
			struct item *it = ops[i].item;

			HASH_ADD_KEYPTR(hh, *table(rs, is_wl), it->id, strlen(it->id), it);
			rulehash_add(&rs->hash, it->digest);
			if (is_wl)
				rs->nwl++;
			else
				rs->nrules++;
			ops[i].item = NULL; /* owned by the set now */
		}
	}
	rs->revision = new_revision;
	publish(rs);
out:
	if (!rs->loading && rs->dp)
		dataplane_apply_finish(rs->dp);
	free(last);
	HASH_ITER(hh, map, k, ktmp)
	{
		HASH_DEL(map, k);
		free(k);
	}
	free(ch);
	return err;
}

static void ops_free(struct op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		item_free(ops[i].item);
	free(ops);
}

/* Builds ops from a delta (items copied). */
static int ops_from_delta(const Xdrop__V1__Delta *d, struct op **out, struct rpc_status *st,
			  size_t *bad)
{
	struct op *ops = calloc(d->n_ops + 1, sizeof(*ops));
	int err = 0;

	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_ops; i++) {
		const Xdrop__V1__DeltaOp *o = d->ops[i];

		switch (o->op_case) {
		case XDROP__V1__DELTA_OP__OP_UPSERT_RULE:
			err = item_make(&o->upsert_rule->base, false, &ops[i].item, st);
			break;
		case XDROP__V1__DELTA_OP__OP_UPSERT_WHITELIST:
			ops[i].is_wl = true;
			err = item_make(&o->upsert_whitelist->base, true, &ops[i].item, st);
			break;
		case XDROP__V1__DELTA_OP__OP_DELETE_RULE:
			ops[i].del = true;
			ops[i].id = o->delete_rule;
			break;
		case XDROP__V1__DELTA_OP__OP_DELETE_WHITELIST:
			ops[i].del = true;
			ops[i].is_wl = true;
			ops[i].id = o->delete_whitelist;
			break;
		default:
			set_status(st, RPC_INVALID_ARGUMENT, "ops", "empty delta op");
			err = -EINVAL;
		}
		if (err) {
			*bad = i;
			ops_free(ops, i);
			return err;
		}
	}
	*out = ops;
	return 0;
}

int ruleset_apply_delta(struct ruleset *rs, const Xdrop__V1__Delta *d, struct rpc_status *st)
{
	char hex[RULEHASH_HEX];
	struct op *ops = NULL;
	size_t bad = 0;
	int err;

	pthread_mutex_lock(&rs->lock);
	if (d->base_revision != rs->revision) {
		set_status(st, RPC_FAILED_PRECONDITION, "base_revision",
			   "delta base %llu, applied revision %llu",
			   (unsigned long long)d->base_revision, (unsigned long long)rs->revision);
		err = -ESTALE;
		goto out;
	}
	if (d->revision == d->base_revision) { /* heartbeat */
		err = d->content_hash && strcmp(d->content_hash, rulehash_hex(&rs->hash, hex))
			  ? -EBADMSG
			  : 0;
		goto out;
	}
	err = ops_from_delta(d, &ops, st, &bad);
	if (err)
		goto out;
	err = apply_ops(rs, ops, d->n_ops, d->revision, false, st, &bad);
	ops_free(ops, d->n_ops);
	if (err)
		goto out;
	journal_append(rs, d);
	if (d->content_hash && *d->content_hash &&
	    strcmp(d->content_hash, rulehash_hex(&rs->hash, hex)) != 0) {
		log_warn("after revision %llu the content hash is %s, the controller says %s",
			 (unsigned long long)rs->revision, hex, d->content_hash);
		err = -EBADMSG;
	}
out:
	pthread_mutex_unlock(&rs->lock);
	return err;
}

/* Local writes: ops -> a new revision, journaled as a delta. Caller holds the lock. */
static int commit_local(struct ruleset *rs, struct op *ops, size_t n, struct rpc_status *st,
			size_t *bad)
{
	Xdrop__V1__Delta d = XDROP__V1__DELTA__INIT;
	Xdrop__V1__DeltaOp *dops = NULL, **dptrs = NULL;
	char hex[RULEHASH_HEX];
	int err;

	/* the journal entry is built before apply_ops takes the items */
	dops = calloc(n + 1, sizeof(*dops));
	dptrs = calloc(n + 1, sizeof(*dptrs));
	if (!dops || !dptrs) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		xdrop__v1__delta_op__init(&dops[i]);
		if (ops[i].del) {
			dops[i].op_case = ops[i].is_wl ? XDROP__V1__DELTA_OP__OP_DELETE_WHITELIST
						       : XDROP__V1__DELTA_OP__OP_DELETE_RULE;
			if (ops[i].is_wl)
				dops[i].delete_whitelist = (char *)ops[i].id;
			else
				dops[i].delete_rule = (char *)ops[i].id;
		} else if (ops[i].is_wl) {
			dops[i].op_case = XDROP__V1__DELTA_OP__OP_UPSERT_WHITELIST;
			dops[i].upsert_whitelist = (Xdrop__V1__WhitelistEntry *)ops[i].item->msg;
		} else {
			dops[i].op_case = XDROP__V1__DELTA_OP__OP_UPSERT_RULE;
			dops[i].upsert_rule = (Xdrop__V1__Rule *)ops[i].item->msg;
		}
		dptrs[i] = &dops[i];
	}
	d.base_revision = rs->revision;
	d.revision = rs->revision + 1;
	d.n_ops = n;
	d.ops = dptrs;
	d.created_at = now_ns();
	/* pack before apply: afterwards the items belong to the set and may be freed later */
	{
		size_t len = xdrop__v1__delta__get_packed_size(&d);
		uint8_t *buf = malloc(len ? len : 1);
		Xdrop__V1__Delta *copy;

		if (!buf) {
			err = -ENOMEM;
			goto out;
		}
		xdrop__v1__delta__pack(&d, buf);
		err = apply_ops(rs, ops, n, rs->revision + 1, true, st, bad);
		if (!err) {
			copy = xdrop__v1__delta__unpack(NULL, len, buf);
			if (copy) {
				copy->content_hash = NULL; /* not part of the packed copy anyway */
				journal_append(rs, copy);
				xdrop__v1__delta__free_unpacked(copy, NULL);
			}
			log_debug("local change: revision %llu, hash %s",
				  (unsigned long long)rs->revision, rulehash_hex(&rs->hash, hex));
		}
		free(buf);
	}
out:
	free(dops);
	free(dptrs);
	return err;
}

static void uuid_v4(char out[37])
{
	uint8_t b[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b)) {
		/* never expected; fall back to time and address entropy */
		uint64_t t = (uint64_t)now_ns() ^ (uint64_t)(uintptr_t)out;

		memcpy(b, &t, 8);
		memcpy(b + 8, &t, 8);
	}
	if (fd >= 0)
		close(fd);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

/* Makes a new stored rule from a request: id and times assigned here. */
/* A local write may not match every address (lib/rule.h, rule_refuse_match_all); what
 * comes from the controller or the saved state was checked when it was written. */
static int local_item(const ProtobufCMessage *m, bool is_wl, struct item **out,
		      struct rpc_status *st)
{
	struct rule_error re = {0};
	int err = item_make(m, is_wl, out, st);

	if (!err && rule_refuse_match_all(&(*out)->spec, &re)) {
		set_status(st, RPC_INVALID_ARGUMENT, re.field, "%s", re.reason);
		item_free(*out);
		*out = NULL;
		err = -EINVAL;
	}
	return err;
}

static int new_rule_item(const Xdrop__V1__Rule *r, const char *keep_id, int64_t created,
			 struct item **out, struct rpc_status *st)
{
	Xdrop__V1__Rule copy = *r;
	struct rulepb_canon_buf cb;
	char id[37];
	int64_t now = now_ns();

	if (keep_id) {
		copy.id = (char *)keep_id;
	} else {
		uuid_v4(id);
		copy.id = id;
	}
	copy.created_at = created ? created : now;
	copy.updated_at = now;
	copy.stats = NULL;
	if (!copy.source || !*copy.source)
		copy.source = "api";
	rulepb_rule_canon(&copy, &cb); /* an invalid rule stays as written: item_make refuses */
	return local_item(&copy.base, false, out, st);
}

static struct item *find_copy_src(struct ruleset *rs, bool is_wl, const char *id)
{
	return find(rs, is_wl, id);
}

Xdrop__V1__Rule *ruleset_get_rule(struct ruleset *rs, const char *id)
{
	struct item *it;
	ProtobufCMessage *c = NULL;

	pthread_mutex_lock(&rs->lock);
	it = find_copy_src(rs, false, id);
	if (it)
		c = msg_copy(it->msg);
	pthread_mutex_unlock(&rs->lock);
	return (Xdrop__V1__Rule *)c;
}

Xdrop__V1__WhitelistEntry *ruleset_get_wl(struct ruleset *rs, const char *id)
{
	struct item *it;
	ProtobufCMessage *c = NULL;

	pthread_mutex_lock(&rs->lock);
	it = find_copy_src(rs, true, id);
	if (it)
		c = msg_copy(it->msg);
	pthread_mutex_unlock(&rs->lock);
	return (Xdrop__V1__WhitelistEntry *)c;
}

void ruleset_free_rule(Xdrop__V1__Rule *r)
{
	if (r)
		xdrop__v1__rule__free_unpacked(r, NULL);
}

void ruleset_free_wl(Xdrop__V1__WhitelistEntry *w)
{
	if (w)
		xdrop__v1__whitelist_entry__free_unpacked(w, NULL);
}

/* Commits ops built by the local write functions and returns copies of the new items. */
static int local_write(struct ruleset *rs, struct op *ops, size_t n, char ***ids_out,
		       ProtobufCMessage **first_out, struct rpc_status *st, size_t *bad)
{
	char **ids = NULL;
	size_t i;
	int err;

	if (ids_out) {
		ids = calloc(n + 1, sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		for (i = 0; i < n; i++)
			ids[i] = strdup(ops[i].del ? ops[i].id : ops[i].item->id);
	}
	pthread_mutex_lock(&rs->lock);
	{
		char first_id[256] = "";
		bool first_wl = n ? ops[0].is_wl : false;

		if (n && !ops[0].del)
			snprintf(first_id, sizeof(first_id), "%s", ops[0].item->id);
		err = commit_local(rs, ops, n, st, bad);
		if (!err && first_out && first_id[0]) {
			struct item *it = find(rs, first_wl, first_id);

			*first_out = it ? msg_copy(it->msg) : NULL;
		}
	}
	pthread_mutex_unlock(&rs->lock);
	if (ids_out && !err) {
		*ids_out = ids;
	} else if (ids) {
		for (i = 0; i < n; i++)
			free(ids[i]);
		free(ids);
	}
	return err;
}

int ruleset_create_rule(struct ruleset *rs, const Xdrop__V1__Rule *r, Xdrop__V1__Rule **out,
			struct rpc_status *st)
{
	struct op op = {0};
	size_t bad;
	int err;

	err = new_rule_item(r, NULL, 0, &op.item, st);
	if (err)
		return err;
	err = local_write(rs, &op, 1, NULL, (ProtobufCMessage **)out, st, &bad);
	item_free(op.item);
	return err;
}

/* The Rule fields an update may change, by name: offset and size in the message. */
#define RULE_FIELD(f)                                                                              \
	{                                                                                          \
#f, offsetof(Xdrop__V1__Rule, f), sizeof(((Xdrop__V1__Rule *)0)->f)                \
	}
static const struct {
	const char *name;
	size_t off, size;
} rule_fields[] = {
    RULE_FIELD(name),	     RULE_FIELD(src_ip),     RULE_FIELD(dst_ip),   RULE_FIELD(src_cidr),
    RULE_FIELD(dst_cidr),    RULE_FIELD(src_port),   RULE_FIELD(dst_port), RULE_FIELD(protocol),
    RULE_FIELD(action),	     RULE_FIELD(rate_limit), RULE_FIELD(burst),	   RULE_FIELD(pkt_len_min),
    RULE_FIELD(pkt_len_max), RULE_FIELD(tcp_flags),  RULE_FIELD(enabled),  RULE_FIELD(expires_at),
    RULE_FIELD(comment),     RULE_FIELD(source),
};

/* Copies the fields named in mask (all when nmask is 0) from src onto dst. */
static int apply_mask(Xdrop__V1__Rule *dst, const Xdrop__V1__Rule *src, char **mask, size_t nmask,
		      struct rpc_status *st)
{
	size_t nf = sizeof(rule_fields) / sizeof(rule_fields[0]);

	for (size_t i = 0; i < (nmask ? nmask : nf); i++) {
		size_t f = i;

		if (nmask) {
			for (f = 0; f < nf && strcmp(mask[i], rule_fields[f].name); f++)
				;
			if (f == nf) {
				set_status(st, RPC_INVALID_ARGUMENT, "update_mask",
					   "unknown or read-only field %s", mask[i]);
				return -EINVAL;
			}
		}
		memcpy((char *)dst + rule_fields[f].off, (const char *)src + rule_fields[f].off,
		       rule_fields[f].size);
	}
	return 0;
}

int ruleset_update_rule(struct ruleset *rs, const char *id, const Xdrop__V1__Rule *r, char **mask,
			size_t nmask, Xdrop__V1__Rule **out, struct rpc_status *st)
{
	Xdrop__V1__Rule *cur = ruleset_get_rule(rs, id), merged;
	struct op op = {0};
	size_t bad;
	int err;

	if (!cur) {
		set_status(st, RPC_NOT_FOUND, "id", "no rule with id %s", id);
		return -ENOENT;
	}
	merged = *cur;
	err = apply_mask(&merged, r, mask, nmask, st);
	if (!err)
		err = new_rule_item(&merged, cur->id, cur->created_at, &op.item, st);
	ruleset_free_rule(cur);
	if (err)
		return err;
	err = local_write(rs, &op, 1, NULL, (ProtobufCMessage **)out, st, &bad);
	item_free(op.item);
	return err;
}

static int new_wl_item(const Xdrop__V1__WhitelistEntry *w, struct item **out, struct rpc_status *st)
{
	Xdrop__V1__WhitelistEntry copy = *w;
	struct rulepb_canon_buf cb;
	char id[37];

	uuid_v4(id);
	copy.id = id;
	copy.created_at = now_ns();
	rulepb_wl_canon(&copy, &cb);
	return local_item(&copy.base, true, out, st);
}

int ruleset_create_wl(struct ruleset *rs, const Xdrop__V1__WhitelistEntry *w,
		      Xdrop__V1__WhitelistEntry **out, struct rpc_status *st)
{
	struct op op = {.is_wl = true};
	size_t bad;
	int err;

	err = new_wl_item(w, &op.item, st);
	if (err)
		return err;
	err = local_write(rs, &op, 1, NULL, (ProtobufCMessage **)out, st, &bad);
	item_free(op.item);
	return err;
}

int ruleset_delete(struct ruleset *rs, bool is_wl, char **ids, size_t n, struct rpc_status *st)
{
	struct op *ops = calloc(n + 1, sizeof(*ops));
	size_t bad;
	int err;

	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ops[i].del = true;
		ops[i].is_wl = is_wl;
		ops[i].id = ids[i];
	}
	err = local_write(rs, ops, n, NULL, NULL, st, &bad);
	free(ops);
	return err;
}

static int create_many(struct ruleset *rs, bool is_wl, const ProtobufCMessage *const *msgs,
		       size_t n, char ***ids_out, struct rpc_status *st, size_t *bad_index)
{
	struct op *ops;
	int err = 0;

	if (n > RS_MAX_OPS) {
		set_status(st, RPC_RESOURCE_EXHAUSTED, is_wl ? "entries" : "rules",
			   "at most %u entries per batch", RS_MAX_OPS);
		return -ENOSPC;
	}
	ops = calloc(n + 1, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		ops[i].is_wl = is_wl;
		err = is_wl ? new_wl_item((const Xdrop__V1__WhitelistEntry *)msgs[i], &ops[i].item,
					  st)
			    : new_rule_item((const Xdrop__V1__Rule *)msgs[i], NULL, 0, &ops[i].item,
					    st);
		if (err)
			*bad_index = i;
	}
	if (!err)
		err = local_write(rs, ops, n, ids_out, NULL, st, bad_index);
	ops_free(ops, n);
	return err;
}

int ruleset_create_rules(struct ruleset *rs, Xdrop__V1__Rule **rules, size_t n, char ***ids_out,
			 struct rpc_status *st, size_t *bad_index)
{
	return create_many(rs, false, (const ProtobufCMessage *const *)rules, n, ids_out, st,
			   bad_index);
}

int ruleset_create_wls(struct ruleset *rs, Xdrop__V1__WhitelistEntry **wl, size_t n,
		       char ***ids_out, struct rpc_status *st, size_t *bad_index)
{
	return create_many(rs, true, (const ProtobufCMessage *const *)wl, n, ids_out, st,
			   bad_index);
}

/* ---- lists ---- */

struct sortctx {
	const char *field;
	bool desc;
};

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static int cmp_rules(const void *a, const void *b, void *arg)
{
	const Xdrop__V1__Rule *x = *(Xdrop__V1__Rule *const *)a, *y = *(Xdrop__V1__Rule *const *)b;
	const struct sortctx *sc = arg;
	int c;

	if (!strcmp(sc->field, "name"))
		c = strcmp(str_or_empty(x->name), str_or_empty(y->name));
	else if (!strcmp(sc->field, "action"))
		c = strcmp(str_or_empty(x->action), str_or_empty(y->action));
	else if (!strcmp(sc->field, "updated_at"))
		c = (x->updated_at > y->updated_at) - (x->updated_at < y->updated_at);
	else if (!strcmp(sc->field, "id"))
		c = strcmp(x->id, y->id);
	else
		c = (x->created_at > y->created_at) - (x->created_at < y->created_at);
	if (!c)
		c = strcmp(x->id, y->id);
	return sc->desc ? -c : c;
}

static bool contains(const char *hay, const char *needle)
{
	return hay && strcasestr(hay, needle) != NULL;
}

static void page_of(uint32_t page, uint32_t limit, size_t total, size_t *from, size_t *to,
		    Xdrop__V1__Pagination *pg)
{
	if (limit == 0)
		limit = RS_LIST_DEFAULT;
	if (limit > RS_LIST_MAX)
		limit = RS_LIST_MAX;
	if (page == 0)
		page = 1;
	*from = (size_t)(page - 1) * limit;
	if (*from > total)
		*from = total;
	*to = *from + limit < total ? *from + limit : total;
	pg->page = page;
	pg->limit = limit;
	pg->total = total;
	pg->pages = (uint32_t)((total + limit - 1) / limit);
}

int ruleset_list_rules(struct ruleset *rs, const Xdrop__V1__ListRulesRequest *q,
		       Xdrop__V1__ListRulesResponse *resp)
{
	struct sortctx sc = {.field = q->sort && *q->sort ? q->sort : "created_at",
			     .desc = q->order && !strcmp(q->order, "desc")};
	Xdrop__V1__Rule **v;
	struct item *it, *tmp;
	size_t n = 0, from, to;

	pthread_mutex_lock(&rs->lock);
	v = calloc(rs->nrules + 1, sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&rs->lock);
		return -ENOMEM;
	}
	HASH_ITER(hh, rs->rules, it, tmp)
	{
		Xdrop__V1__Rule *r = (Xdrop__V1__Rule *)it->msg;
		const char *s = q->search;

		if (q->enabled && *q->enabled && r->enabled != !strcmp(q->enabled, "true"))
			continue;
		if (q->action && *q->action && strcmp(str_or_empty(r->action), q->action))
			continue;
		if (s && *s && !contains(r->name, s) && !contains(r->comment, s) &&
		    !contains(r->src_ip, s) && !contains(r->dst_ip, s) &&
		    !contains(r->src_cidr, s) && !contains(r->dst_cidr, s) && !contains(r->id, s))
			continue;
		v[n++] = r;
	}
	qsort_r(v, n, sizeof(*v), cmp_rules, &sc);
	resp->pagination = calloc(1, sizeof(*resp->pagination));
	if (!resp->pagination) {
		pthread_mutex_unlock(&rs->lock);
		free(v);
		return -ENOMEM;
	}
	xdrop__v1__pagination__init(resp->pagination);
	page_of(q->page, q->limit, n, &from, &to, resp->pagination);
	resp->rules = calloc(to - from + 1, sizeof(*resp->rules));
	for (size_t i = from; resp->rules && i < to; i++)
		resp->rules[resp->n_rules++] = (Xdrop__V1__Rule *)msg_copy(&v[i]->base);
	resp->count = (uint32_t)resp->n_rules;
	pthread_mutex_unlock(&rs->lock);
	free(v);
	return resp->rules ? 0 : -ENOMEM;
}

static int cmp_wl(const void *a, const void *b, void *arg)
{
	const Xdrop__V1__WhitelistEntry *x = *(Xdrop__V1__WhitelistEntry *const *)a;
	const Xdrop__V1__WhitelistEntry *y = *(Xdrop__V1__WhitelistEntry *const *)b;
	const struct sortctx *sc = arg;
	int c = !strcmp(sc->field, "name")
		    ? strcmp(str_or_empty(x->name), str_or_empty(y->name))
		    : (x->created_at > y->created_at) - (x->created_at < y->created_at);

	if (!c)
		c = strcmp(x->id, y->id);
	return sc->desc ? -c : c;
}

int ruleset_list_wl(struct ruleset *rs, const Xdrop__V1__ListWhitelistRequest *q,
		    Xdrop__V1__ListWhitelistResponse *resp)
{
	struct sortctx sc = {.field = q->sort && *q->sort ? q->sort : "created_at",
			     .desc = q->order && !strcmp(q->order, "desc")};
	Xdrop__V1__WhitelistEntry **v;
	struct item *it, *tmp;
	size_t n = 0, from, to;

	pthread_mutex_lock(&rs->lock);
	v = calloc(rs->nwl + 1, sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&rs->lock);
		return -ENOMEM;
	}
	HASH_ITER(hh, rs->wl, it, tmp)
	{
		Xdrop__V1__WhitelistEntry *w = (Xdrop__V1__WhitelistEntry *)it->msg;
		const char *s = q->search;

		if (s && *s && !contains(w->name, s) && !contains(w->comment, s) &&
		    !contains(w->src_ip, s) && !contains(w->dst_ip, s) &&
		    !contains(w->src_cidr, s) && !contains(w->dst_cidr, s) && !contains(w->id, s))
			continue;
		v[n++] = w;
	}
	qsort_r(v, n, sizeof(*v), cmp_wl, &sc);
	resp->pagination = calloc(1, sizeof(*resp->pagination));
	if (!resp->pagination) {
		pthread_mutex_unlock(&rs->lock);
		free(v);
		return -ENOMEM;
	}
	xdrop__v1__pagination__init(resp->pagination);
	page_of(q->page, q->limit, n, &from, &to, resp->pagination);
	resp->entries = calloc(to - from + 1, sizeof(*resp->entries));
	for (size_t i = from; resp->entries && i < to; i++)
		resp->entries[resp->n_entries++] =
		    (Xdrop__V1__WhitelistEntry *)msg_copy(&v[i]->base);
	resp->count = (uint32_t)resp->n_entries;
	pthread_mutex_unlock(&rs->lock);
	free(v);
	return resp->entries ? 0 : -ENOMEM;
}

/* ---- expiry, iteration, accessors ---- */

int ruleset_expire(struct ruleset *rs, int64_t now)
{
	struct dp_change *ch = NULL;
	struct item *it, *tmp, **gone = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	pthread_mutex_lock(&rs->lock);
	HASH_ITER(hh, rs->rules, it, tmp)
	{
		const Xdrop__V1__Rule *r = (const Xdrop__V1__Rule *)it->msg;

		if (!it->active || r->expires_at == 0 || r->expires_at > now)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct dp_change *c2 = realloc(ch, nc * sizeof(*c2));
			struct item **g2 = realloc(gone, nc * sizeof(*g2));

			if (c2)
				ch = c2;
			if (g2)
				gone = g2;
			if (!c2 || !g2) {
				err = -ENOMEM;
				goto out;
			}
			cap = nc;
		}
		ch[n].op = DP_DEL;
		ch[n].spec = it->spec;
		gone[n++] = it;
	}
	if (n) {
		err = dataplane_apply(rs->dp, ch, n, NULL);
		if (!err) {
			for (size_t i = 0; i < n; i++) {
				struct keyent *ke;

				gone[i]->active = false;
				HASH_FIND_STR(rs->keys, gone[i]->key, ke);
				if (ke) {
					HASH_DEL(rs->keys, ke);
					free(ke);
				}
			}
			log_info("expired %zu rule(s) removed from the data plane", n);
		}
	}
out:
	pthread_mutex_unlock(&rs->lock);
	free(ch);
	free(gone);
	return err ? err : (int)n;
}

void ruleset_foreach_rule(struct ruleset *rs,
			  void (*fn)(void *arg, const Xdrop__V1__Rule *r, const struct rule_spec *s,
				     bool active),
			  void *arg)
{
	struct item *it, *tmp;

	pthread_mutex_lock(&rs->lock);
	HASH_ITER(hh, rs->rules, it, tmp)
	{
		fn(arg, (const Xdrop__V1__Rule *)it->msg, &it->spec, it->active);
	}
	pthread_mutex_unlock(&rs->lock);
}

uint64_t ruleset_revision(struct ruleset *rs)
{
	uint64_t r;

	ruleset_published(rs, &r, NULL);
	return r;
}

void ruleset_hash(struct ruleset *rs, char out[RULEHASH_HEX])
{
	uint64_t r;

	ruleset_published(rs, &r, out);
}

void ruleset_published(struct ruleset *rs, uint64_t *revision, char hash[RULEHASH_HEX])
{
	pthread_mutex_lock(&rs->pub_lock);
	*revision = rs->pub_revision;
	if (hash)
		rulehash_hex(&rs->pub_hash, hash);
	pthread_mutex_unlock(&rs->pub_lock);
}

void ruleset_counts(struct ruleset *rs, uint64_t *rules, uint64_t *whitelist)
{
	pthread_mutex_lock(&rs->lock);
	*rules = rs->nrules;
	*whitelist = rs->nwl;
	pthread_mutex_unlock(&rs->lock);
}

/* ---- snapshots ---- */

static void stage_clear(struct ruleset *rs)
{
	for (size_t i = 0; i < rs->stage.n; i++)
		protobuf_c_message_free_unpacked(rs->stage.msgs[i], NULL);
	free(rs->stage.msgs);
	free(rs->stage.is_wl);
	memset(&rs->stage, 0, sizeof(rs->stage));
}

int ruleset_stage_begin(struct ruleset *rs, uint64_t revision, const char *hash,
			uint32_t chunk_count)
{
	pthread_mutex_lock(&rs->lock);
	stage_clear(rs);
	rs->stage.on = true;
	rs->stage.revision = revision;
	rs->stage.base = rs->revision;
	snprintf(rs->stage.hash, sizeof(rs->stage.hash), "%s", hash ? hash : "");
	rs->stage.count = chunk_count;
	pthread_mutex_unlock(&rs->lock);
	return 0;
}

int ruleset_stage_next(struct ruleset *rs)
{
	int n;

	pthread_mutex_lock(&rs->lock);
	n = rs->stage.on ? (int)rs->stage.next : -1;
	pthread_mutex_unlock(&rs->lock);
	return n;
}

static int stage_push(struct ruleset *rs, const ProtobufCMessage *m, bool is_wl)
{
	if (rs->stage.n == rs->stage.cap) {
		size_t nc = rs->stage.cap ? rs->stage.cap * 2 : 1024;
		ProtobufCMessage **m2 = realloc(rs->stage.msgs, nc * sizeof(*m2));
		bool *w2 = realloc(rs->stage.is_wl, nc * sizeof(*w2));

		if (m2)
			rs->stage.msgs = m2;
		if (w2)
			rs->stage.is_wl = w2;
		if (!m2 || !w2)
			return -ENOMEM;
		rs->stage.cap = nc;
	}
	rs->stage.msgs[rs->stage.n] = msg_copy(m);
	if (!rs->stage.msgs[rs->stage.n])
		return -ENOMEM;
	rs->stage.is_wl[rs->stage.n++] = is_wl;
	return 0;
}

int ruleset_stage_chunk(struct ruleset *rs, const Xdrop__V1__SnapshotChunk *c,
			struct rpc_status *st)
{
	int err = 0;

	pthread_mutex_lock(&rs->lock);
	if (!rs->stage.on || c->revision != rs->stage.revision ||
	    c->chunk_index != rs->stage.next || c->chunk_count != rs->stage.count) {
		set_status(st, RPC_FAILED_PRECONDITION, "chunk_index",
			   "chunk %u/%u of revision %llu does not continue the staged snapshot",
			   c->chunk_index, c->chunk_count, (unsigned long long)c->revision);
		err = -ESTALE;
		goto out;
	}
	for (size_t i = 0; i < c->n_rules && !err; i++)
		err = stage_push(rs, &c->rules[i]->base, false);
	for (size_t i = 0; i < c->n_whitelist && !err; i++)
		err = stage_push(rs, &c->whitelist[i]->base, true);
	if (err)
		set_status(st, RPC_RESOURCE_EXHAUSTED, "", "out of memory staging the snapshot");
	else
		rs->stage.next++;
out:
	pthread_mutex_unlock(&rs->lock);
	return err;
}

/* Frees every stored item and the key index (lock held or not yet shared). */
static void model_clear(struct ruleset *rs)
{
	struct item *it, *tmp;
	struct keyent *ke, *ktmp;

	HASH_ITER(hh, rs->rules, it, tmp)
	{
		HASH_DEL(rs->rules, it);
		item_free(it);
	}
	HASH_ITER(hh, rs->wl, it, tmp)
	{
		HASH_DEL(rs->wl, it);
		item_free(it);
	}
	HASH_ITER(hh, rs->keys, ke, ktmp)
	{
		HASH_DEL(rs->keys, ke);
		free(ke);
	}
}

/* Replaces the whole set with items[0..n) at revision (lock held). */
static int install(struct ruleset *rs, struct item **items, size_t n, uint64_t revision,
		   struct rpc_status *st)
{
	struct rule_spec *specs = calloc(n + 1, sizeof(*specs));
	struct keyent *ke;
	struct item *it;
	struct dp_result res;
	size_t ns = 0;
	int64_t now = now_ns();
	int err;

	if (!specs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		items[i]->active =
		    items[i]->is_wl || rule_active((Xdrop__V1__Rule *)items[i]->msg, now);
		if (items[i]->active)
			specs[ns++] = items[i]->spec;
	}
	err = rs->loading ? 0
			  : dataplane_replace(rs->dp, 1u << XDROP_KIND_RULE | 1u << XDROP_KIND_WL,
					      specs, ns, &res);
	free(specs);
	if (err) {
		set_status(st,
			   err == -ENOSPC   ? RPC_RESOURCE_EXHAUSTED
			   : err == -EEXIST ? RPC_ALREADY_EXISTS
					    : RPC_INVALID_ARGUMENT,
			   res.err.field, "data plane refused the snapshot: %s",
			   res.err.reason ? res.err.reason : strerror(-err));
		return err;
	}
	model_clear(rs);
	rulehash_init(&rs->hash);
	rs->nrules = rs->nwl = 0;
	for (size_t i = 0; i < n; i++) {
		it = items[i];
		HASH_ADD_KEYPTR(hh, *table(rs, it->is_wl), it->id, strlen(it->id), it);
		rulehash_add(&rs->hash, it->digest);
		if (it->is_wl)
			rs->nwl++;
		else
			rs->nrules++;
		if (it->active) {
			ke = calloc(1, sizeof(*ke));
			if (ke) {
				snprintf(ke->key, sizeof(ke->key), "%s", it->key);
				ke->item = it;
				HASH_ADD_STR(rs->keys, key, ke);
			}
		}
	}
	rs->revision = revision;
	publish(rs);
	return 0;
}

/* Builds items from messages; checks ids are unique and the hash matches (if given). */
static int items_from(struct ruleset *rs, ProtobufCMessage **msgs, const bool *is_wl, size_t n,
		      const char *want_hash, struct item ***out, struct rpc_status *st)
{
	struct item **items = calloc(n + 1, sizeof(*items)), *seen = NULL, *dup, *dtmp;
	struct rulehash h;
	char hex[RULEHASH_HEX];
	size_t i;
	int err = 0;

	(void)rs;
	if (!items)
		return -ENOMEM;
	rulehash_init(&h);
	for (i = 0; i < n && !err; i++) {
		err = item_make(msgs[i], is_wl[i], &items[i], st);
		if (err)
			break;
		rulehash_add(&h, items[i]->digest);
	}
	/* duplicate ids within a kind would make the hash lie about the set */
	for (size_t j = 0; j < i && !err; j++) {
		char k[300];

		snprintf(k, sizeof(k), "%c%s", items[j]->is_wl ? 'W' : 'R', items[j]->id);
		HASH_FIND_STR(seen, k, dup);
		if (dup) {
			set_status(st, RPC_INVALID_ARGUMENT, "id", "id %s appears twice",
				   items[j]->id);
			err = -EINVAL;
			break;
		}
		dup = calloc(1, sizeof(*dup));
		if (!dup) {
			err = -ENOMEM;
			break;
		}
		dup->id = strdup(k);
		HASH_ADD_KEYPTR(hh, seen, dup->id, strlen(dup->id), dup);
	}
	HASH_ITER(hh, seen, dup, dtmp)
	{
		HASH_DEL(seen, dup);
		free(dup->id);
		free(dup);
	}
	if (!err && want_hash && *want_hash && strcmp(rulehash_hex(&h, hex), want_hash) != 0) {
		set_status(st, RPC_DATA_LOSS, "content_hash",
			   "snapshot content hashes to %s, expected %s", hex, want_hash);
		err = -EBADMSG;
	}
	if (err) {
		for (size_t j = 0; j < n; j++)
			item_free(items[j]);
		free(items);
		return err;
	}
	*out = items;
	return 0;
}

int ruleset_stage_commit(struct ruleset *rs, struct rpc_status *st)
{
	struct item **items = NULL;
	int err;

	pthread_mutex_lock(&rs->lock);
	if (!rs->stage.on || rs->stage.next != rs->stage.count) {
		set_status(st, RPC_FAILED_PRECONDITION, "chunk_index",
			   "snapshot incomplete: %u of %u chunks", rs->stage.next, rs->stage.count);
		err = -EAGAIN;
		goto out;
	}
	if (rs->revision != rs->stage.base && rs->stage.revision < rs->revision) {
		/* deltas were applied while this snapshot was fetched (a large set takes
		 * seconds): it is older than what packets see now, and installing it would take
		 * those rules back out. (Without deltas in between, an older snapshot is the
		 * controller's truth, e.g. after its database was restored, and is installed.) */
		log_info("snapshot of revision %llu dropped: revision %llu was applied while it "
			 "was fetched",
			 (unsigned long long)rs->stage.revision, (unsigned long long)rs->revision);
		err = 0;
		goto out;
	}
	err = items_from(rs, rs->stage.msgs, rs->stage.is_wl, rs->stage.n, rs->stage.hash, &items,
			 st);
	if (err)
		goto out;
	err = install(rs, items, rs->stage.n, rs->stage.revision, st);
	if (err) {
		for (size_t i = 0; i < rs->stage.n; i++)
			item_free(items[i]);
		goto out;
	}
	persist_snapshot(rs);
	log_info("snapshot installed: revision %llu, %zu rules, %zu whitelist entries",
		 (unsigned long long)rs->revision, rs->nrules, rs->nwl);
out:
	free(items);
	stage_clear(rs);
	pthread_mutex_unlock(&rs->lock);
	return err;
}

/* ---- open and close ---- */

static int load_state(struct ruleset *rs)
{
	char path[512];
	uint8_t *buf = NULL;
	struct stat sb;
	int fd, err = 0;

	path_of(rs, "state.snapshot", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		Xdrop__V1__SnapshotChunk *c = NULL;

		rs->had_state = true;
		if (fstat(fd, &sb) == 0 && (buf = malloc((size_t)sb.st_size + 1)) &&
		    read(fd, buf, (size_t)sb.st_size) == sb.st_size)
			c = xdrop__v1__snapshot_chunk__unpack(NULL, (size_t)sb.st_size, buf);
		close(fd);
		free(buf);
		if (!c) {
			log_error("state file %s is unreadable; starting empty", path);
		} else {
			struct rpc_status st = {0};
			size_t n = c->n_rules + c->n_whitelist;
			ProtobufCMessage **msgs = calloc(n + 1, sizeof(*msgs));
			bool *wl = calloc(n + 1, sizeof(*wl));
			struct item **items = NULL;

			for (size_t i = 0; msgs && wl && i < c->n_rules; i++)
				msgs[i] = &c->rules[i]->base;
			for (size_t i = 0; msgs && wl && i < c->n_whitelist; i++) {
				msgs[c->n_rules + i] = &c->whitelist[i]->base;
				wl[c->n_rules + i] = true;
			}
			err = msgs && wl ? items_from(rs, msgs, wl, n, c->content_hash, &items, &st)
					 : -ENOMEM;
			if (!err) {
				err = install(rs, items, n, c->revision, &st);
				if (err)
					for (size_t i = 0; i < n; i++)
						item_free(items[i]);
			}
			if (err)
				log_error("state file %s: %s", path, st.message);
			free(items);
			free(msgs);
			free(wl);
			xdrop__v1__snapshot_chunk__free_unpacked(c, NULL);
		}
	}
	/* replay the journal */
	path_of(rs, "state.journal", path, sizeof(path));
	rs->journal_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (rs->journal_fd < 0)
		return -errno;
	if (fstat(rs->journal_fd, &sb) == 0 && sb.st_size > 0) {
		rs->had_state = true;
		uint8_t *j = malloc((size_t)sb.st_size);
		off_t off = 0;
		unsigned replayed = 0;

		if (j && pread(rs->journal_fd, j, (size_t)sb.st_size, 0) == sb.st_size) {
			while (off + 4 <= sb.st_size) {
				uint32_t len;
				Xdrop__V1__Delta *d;

				memcpy(&len, j + off, 4);
				if (off + 4 + (off_t)len > sb.st_size)
					break; /* a torn last record */
				d = xdrop__v1__delta__unpack(NULL, len, j + off + 4);
				off += 4 + (off_t)len;
				if (!d)
					break;
				if (d->base_revision == rs->revision) {
					struct op *ops = NULL;
					struct rpc_status st;
					size_t bad;

					if (ops_from_delta(d, &ops, &st, &bad) == 0) {
						if (apply_ops(rs, ops, d->n_ops, d->revision, false,
							      &st, &bad) == 0)
							replayed++;
						ops_free(ops, d->n_ops);
					}
				}
				xdrop__v1__delta__free_unpacked(d, NULL);
			}
		}
		free(j);
		rs->journal_count = replayed;
		if (replayed)
			log_info("replayed %u journaled change(s) to revision %llu", replayed,
				 (unsigned long long)rs->revision);
	}
	return 0;
}

int ruleset_open(struct ruleset **out, struct dataplane *dp, const char *state_dir)
{
	struct ruleset *rs = calloc(1, sizeof(*rs));
	int err = 0;

	*out = NULL;
	if (!rs)
		return -ENOMEM;
	pthread_mutex_init(&rs->lock, NULL);
	pthread_mutex_init(&rs->pub_lock, NULL);
	rs->dp = dp;
	rs->journal_fd = -1;
	rulehash_init(&rs->hash);
	if (state_dir) {
		rs->dir = strdup(state_dir);
		if (!rs->dir || (mkdir(state_dir, 0700) && errno != EEXIST)) {
			err = -errno ? -errno : -ENOMEM;
			goto fail;
		}
		pthread_mutex_lock(&rs->lock);
		rs->loading = true;
		err = load_state(rs);
		rs->loading = false;
		pthread_mutex_unlock(&rs->lock);
		if (err)
			goto fail;
	}
	/* No saved set at all, yet the adopted data plane holds entries (the state directory
	 * was lost or moved): keep filtering with them rather than wipe them at start-up; the
	 * controller's snapshot, or a local write, takes over from there. */
	if (!rs->had_state &&
	    dataplane_count(dp, XDROP_KIND_RULE) + dataplane_count(dp, XDROP_KIND_WL)) {
		log_warn("no saved rule set in %s, but the data plane holds %zu rules and %zu "
			 "whitelist entries: keeping them in force until a snapshot replaces them",
			 state_dir ? state_dir : "(none)", dataplane_count(dp, XDROP_KIND_RULE),
			 dataplane_count(dp, XDROP_KIND_WL));
		*out = rs;
		return 0;
	}
	/* the data plane holds exactly the active part (a no-op after an adoption) */
	pthread_mutex_lock(&rs->lock);
	{
		struct item **all = calloc(rs->nrules + rs->nwl + 1, sizeof(*all)), *it, *tmp;
		size_t n = 0;

		if (!all) {
			err = -ENOMEM;
		} else {
			HASH_ITER(hh, rs->rules, it, tmp)
			{
				HASH_DEL(rs->rules, it);
				all[n++] = it;
			}
			HASH_ITER(hh, rs->wl, it, tmp)
			{
				HASH_DEL(rs->wl, it);
				all[n++] = it;
			}
			err = install(rs, all, n, rs->revision, NULL);
			if (err) {
				for (size_t i = 0; i < n; i++)
					item_free(all[i]);
			}
			free(all);
		}
	}
	pthread_mutex_unlock(&rs->lock);
	if (err)
		goto fail;
	*out = rs;
	return 0;
fail:
	ruleset_close(rs);
	return err;
}

void ruleset_close(struct ruleset *rs)
{
	if (!rs)
		return;
	model_clear(rs);
	stage_clear(rs);
	if (rs->journal_fd >= 0)
		close(rs->journal_fd);
	free(rs->dir);
	pthread_mutex_destroy(&rs->lock);
	pthread_mutex_destroy(&rs->pub_lock);
	free(rs);
}
