// SPDX-License-Identifier: MIT
/*
 * ruleset/model.c: the in-memory model (see model.h): items made from messages, the
 * per-kind tables and the key index, and the published revision and hash with the
 * accessors that read them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "model.h"
#include "pbfield.h"

void rs_status(struct rpc_status *st, enum rpc_code code, const char *field, const char *fmt, ...)
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

void rs_item_free(struct item *it)
{
	free(it);
}

/* The integer fields an item keeps decoded beside its packed message (enabled, expiry,
 * creation and update times), by the kind's field names: the packed bytes leave them at
 * their defaults, which proto3 does not write, and rs_item_msg puts them back (about 25
 * bytes a rule kept once instead of twice). NULL past the end or for a field the kind has
 * not. */
static const char *kept_field(const struct ruleset_kind *k, unsigned i)
{
	const char *f[] = {k->enabled_field, k->expires_field, k->created_field, k->updated_field};

	return i < 4 ? f[i] : NULL;
}

static int64_t kept_value(const struct item *it, unsigned i)
{
	const int64_t v[] = {it->enabled, it->expires_at, it->created_at, it->updated_at};

	return v[i];
}

ProtobufCMessage *rs_item_msg(const struct item *it)
{
	ProtobufCMessage *m =
	    protobuf_c_message_unpack(rs_kind(it)->msg, NULL, it->pblen, it->data);
	char *id = m ? strdup(rs_id(it)) : NULL;

	/* the packed bytes leave the id out (it is kept once, beside them): put it back, where
	 * protobuf_c_message_free_unpacked frees it with the other strings */
	if (!id || pbf_set_ptr(m, rs_kind(it)->id_field, id)) {
		free(id);
		ruleset_free(m);
		return NULL;
	}
	for (unsigned i = 0; i < 4; i++)
		if (kept_field(rs_kind(it), i))
			pbf_set_int(m, kept_field(rs_kind(it), i), kept_value(it, i));
	return m;
}

/* m packed without its id and the kept fields into buf (NULL: only the size); the bytes
 * written, or SIZE_MAX for a message larger than any kind's. */
static size_t pack_without_id(const struct ruleset_kind *k, const ProtobufCMessage *m, uint8_t *buf)
{
	uint8_t copy[1024] __attribute__((aligned(16)));

	if (k->msg->sizeof_message > sizeof(copy)) /* not with the kinds there are */
		return SIZE_MAX;
	memcpy(copy, m, k->msg->sizeof_message);
	pbf_set_ptr((ProtobufCMessage *)copy, k->id_field, "");
	for (unsigned i = 0; i < 4; i++)
		if (kept_field(k, i))
			pbf_set_int((ProtobufCMessage *)copy, kept_field(k, i), 0);
	return buf ? protobuf_c_message_pack((ProtobufCMessage *)copy, buf)
		   : protobuf_c_message_get_packed_size((ProtobufCMessage *)copy);
}

bool rs_item_active(const struct item *it, int64_t now)
{
	return it->enabled && (!it->expires_at || it->expires_at > now);
}

char *rs_item_key(const struct item *it, char *buf)
{
	return rulepb_match_key(&it->spec, buf, RS_KEY_LEN);
}

/* The figures of m the engine reads without unpacking the item again. */
static void item_fields(struct item *it, const ProtobufCMessage *m)
{
	const struct ruleset_kind *k = rs_kind(it);

	it->enabled = !k->enabled_field || pbf_int(m, k->enabled_field);
	it->expires_at = k->expires_field ? pbf_int(m, k->expires_field) : 0;
	it->created_at = k->created_field ? pbf_int(m, k->created_field) : 0;
	it->updated_at = k->updated_field ? pbf_int(m, k->updated_field) : 0;
}

int rs_item_make(const struct ruleset_kind *k, const ProtobufCMessage *m, struct item **out,
		 struct rpc_status *st)
{
	struct rule_error re = {0};
	const char *id = pbf_str(m, k->id_field);
	size_t len = pack_without_id(k, m, NULL), idlen = strlen(id);
	struct item *it;
	int err;

	if (len > UINT32_MAX || idlen >= RS_ID_MAX) {
		rs_status(st, RPC_INVALID_ARGUMENT, len > UINT32_MAX ? "" : "id", "too long");
		return -EINVAL;
	}
	it = calloc(1, sizeof(*it) + len + idlen + 1);
	if (!it)
		return -ENOMEM;
	it->kind = (uint8_t)k->index;
	it->pblen = (uint32_t)pack_without_id(k, m, it->data);
	memcpy(it->data + len, id, idlen + 1);
	err = rulepb_to_spec(m, &it->spec, &re);
	if (!err)
		err = rulehash_digest(m, it->digest);
	if (!err && !*rs_id(it)) {
		re.field = "id";
		re.reason = "id is required";
		err = -EINVAL;
	}
	if (err) {
		rs_status(st, RPC_INVALID_ARGUMENT, re.field, "%s",
			  re.reason ? re.reason : "invalid");
		rs_item_free(it);
		return err;
	}
	item_fields(it, m);
	*out = it;
	return 0;
}

static bool item_has_id(const void *e, const void *id)
{
	return !strcmp(rs_id(e), id);
}

static bool item_has_key(const void *e, const void *key)
{
	char buf[RS_KEY_LEN];

	return !strcmp(rs_item_key(e, buf), key);
}

struct item *rs_find(struct ruleset *rs, const struct ruleset_kind *k, const char *id)
{
	return ptab_find(&rs->items[k->index], ptab_hash_str(id), item_has_id, id);
}

struct item *rs_next(struct ruleset *rs, unsigned k, size_t *pos)
{
	const struct ptab *t = &rs->items[k];

	while (*pos < t->cap)
		if (t->v[(*pos)++])
			return t->v[*pos - 1];
	return NULL;
}

int rs_model_reserve(struct ruleset *rs, unsigned k, size_t n)
{
	int err = ptab_reserve(&rs->items[k], n);

	return err ? err : ptab_reserve(&rs->keys, rs->keys.n + n);
}

void rs_model_reserve_for(struct ruleset *rs, struct item *const *items, size_t n)
{
	size_t per[RULESET_NKINDS] = {0};

	for (size_t i = 0; i < n; i++)
		per[rs_kind(items[i])->index]++;
	for (unsigned k = 0; k < RULESET_NKINDS; k++)
		if (per[k])
			rs_model_reserve(rs, k, rs->count[k] + per[k]);
}

void rs_model_add(struct ruleset *rs, struct item *it)
{
	/* the callers reserved room (rs_model_reserve) or hold an item removed just before;
	 * a failure here would lose the item, so a table that cannot grow keeps it out and
	 * says so */
	if (ptab_add(&rs->items[rs_kind(it)->index], ptab_hash_str(rs_id(it)), it)) {
		log_error("no memory for %s %s: it is not stored", rs_kind(it)->noun, rs_id(it));
		return;
	}
	rulehash_add(&rs->hash, it->digest);
	rs->count[rs_kind(it)->index]++;
	if (rs_expiry_add(rs, it))
		log_error("no memory for the expiry of %s %s: it stays in force", rs_kind(it)->noun,
			  rs_id(it));
}

void rs_model_remove(struct ruleset *rs, struct item *it)
{
	ptab_del(&rs->items[rs_kind(it)->index], ptab_hash_str(rs_id(it)), item_has_id, rs_id(it));
	rs_expiry_del(rs, it);
	rulehash_sub(&rs->hash, it->digest);
	rs->count[rs_kind(it)->index]--;
}

struct item *rs_key_find(struct ruleset *rs, const char *key)
{
	return ptab_find(&rs->keys, ptab_hash_str(key), item_has_key, key);
}

int rs_key_set(struct ruleset *rs, const char *key, struct item *it)
{
	uint32_t h = ptab_hash_str(key);

	ptab_del(&rs->keys, h, item_has_key, key);
	return ptab_add(&rs->keys, h, it);
}

void rs_key_drop(struct ruleset *rs, const char *key)
{
	ptab_del(&rs->keys, ptab_hash_str(key), item_has_key, key);
}

void rs_model_clear(struct ruleset *rs)
{
	struct item *it;

	rs_expiry_clear(rs);
	for (unsigned k = 0; k < RULESET_NKINDS; k++) {
		for (size_t pos = 0; (it = rs_next(rs, k, &pos));)
			rs_item_free(it);
		ptab_free(&rs->items[k]);
		rs->count[k] = 0;
	}
	ptab_free(&rs->keys);
}

void rs_ops_free(struct op *ops, size_t n)
{
	for (size_t i = 0; ops && i < n; i++)
		rs_item_free(ops[i].item);
	free(ops);
}

void rs_publish(struct ruleset *rs)
{
	pthread_mutex_lock(&rs->pub_lock);
	rs->pub_revision = rs->revision;
	rs->pub_hash = rs->hash;
	pthread_mutex_unlock(&rs->pub_lock);
}

void ruleset_published(struct ruleset *rs, uint64_t *revision, char hash[RULEHASH_HEX])
{
	pthread_mutex_lock(&rs->pub_lock);
	*revision = rs->pub_revision;
	if (hash)
		rulehash_hex(&rs->pub_hash, hash);
	pthread_mutex_unlock(&rs->pub_lock);
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

void ruleset_counts(struct ruleset *rs, uint64_t *rules, uint64_t *whitelist)
{
	/* no lock: a beacon must not wait for a snapshot's install */
	*rules = atomic_load(&rs->count[ruleset_rules.index]);
	*whitelist = atomic_load(&rs->count[ruleset_whitelist.index]);
}

uint64_t ruleset_staging(struct ruleset *rs)
{
	return atomic_load(&rs->staging);
}

void ruleset_free(ProtobufCMessage *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}
