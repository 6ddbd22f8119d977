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

ProtobufCMessage *rs_msg_copy(const ProtobufCMessage *m)
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

void rs_item_free(struct item *it)
{
	free(it);
}

ProtobufCMessage *rs_item_msg(const struct item *it)
{
	return protobuf_c_message_unpack(it->kind->msg, NULL, it->pblen, it->data);
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
	const struct ruleset_kind *k = it->kind;

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
	size_t len = protobuf_c_message_get_packed_size(m), idlen = strlen(id);
	struct item *it;
	int err;

	if (len > UINT32_MAX || idlen >= RS_ID_MAX) {
		rs_status(st, RPC_INVALID_ARGUMENT, len > UINT32_MAX ? "" : "id", "too long");
		return -EINVAL;
	}
	it = calloc(1, sizeof(*it) + len + idlen + 1);
	if (!it)
		return -ENOMEM;
	it->kind = k;
	it->pblen = (uint32_t)protobuf_c_message_pack(m, it->data);
	it->id = (char *)it->data + len;
	memcpy(it->id, id, idlen + 1);
	err = rulepb_to_spec(m, &it->spec, &re);
	if (!err)
		err = rulehash_digest(m, it->digest);
	if (!err && !*it->id) {
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

struct item *rs_find(struct ruleset *rs, const struct ruleset_kind *k, const char *id)
{
	struct item *it;

	HASH_FIND_STR(rs->items[k->index], id, it);
	return it;
}

void rs_model_add(struct ruleset *rs, struct item *it)
{
	HASH_ADD_KEYPTR(hh, rs->items[it->kind->index], it->id, strlen(it->id), it);
	rulehash_add(&rs->hash, it->digest);
	rs->count[it->kind->index]++;
	if (rs_expiry_add(rs, it))
		log_error("no memory for the expiry of %s %s: it stays in force", it->kind->noun,
			  it->id);
}

void rs_model_remove(struct ruleset *rs, struct item *it)
{
	HASH_DEL(rs->items[it->kind->index], it);
	rs_expiry_del(rs, it);
	rulehash_sub(&rs->hash, it->digest);
	rs->count[it->kind->index]--;
}

int rs_key_set(struct ruleset *rs, const char *key, struct item *it)
{
	struct keyent *ke;

	HASH_FIND_STR(rs->keys, key, ke);
	if (!ke) {
		size_t len = strlen(key);

		ke = calloc(1, sizeof(*ke) + len + 1);
		if (!ke)
			return -ENOMEM;
		memcpy(ke->key, key, len + 1);
		HASH_ADD_KEYPTR(hh, rs->keys, ke->key, len, ke);
	}
	ke->item = it;
	return 0;
}

void rs_key_drop(struct ruleset *rs, const char *key)
{
	struct keyent *ke;

	HASH_FIND_STR(rs->keys, key, ke);
	if (ke) {
		HASH_DEL(rs->keys, ke);
		free(ke);
	}
}

void rs_model_clear(struct ruleset *rs)
{
	struct item *it, *tmp;
	struct keyent *ke, *ktmp;

	rs_expiry_clear(rs);
	for (unsigned k = 0; k < RULESET_NKINDS; k++) {
		HASH_ITER(hh, rs->items[k], it, tmp)
		{
			HASH_DEL(rs->items[k], it);
			rs_item_free(it);
		}
		rs->count[k] = 0;
	}
	HASH_ITER(hh, rs->keys, ke, ktmp)
	{
		HASH_DEL(rs->keys, ke);
		free(ke);
	}
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
	pthread_mutex_lock(&rs->lock);
	*rules = rs->count[ruleset_rules.index];
	*whitelist = rs->count[ruleset_whitelist.index];
	pthread_mutex_unlock(&rs->lock);
}

void ruleset_free(ProtobufCMessage *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}
