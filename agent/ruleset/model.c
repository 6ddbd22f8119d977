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
	if (!it)
		return;
	if (it->msg)
		protobuf_c_message_free_unpacked(it->msg, NULL);
	free(it);
}

int rs_item_make(const struct ruleset_kind *k, const ProtobufCMessage *m, struct item **out,
		 struct rpc_status *st)
{
	struct rule_error re = {0};
	struct item *it = calloc(1, sizeof(*it));
	int err;

	if (!it)
		return -ENOMEM;
	it->kind = k;
	it->msg = rs_msg_copy(m);
	if (!it->msg) {
		free(it);
		return -ENOMEM;
	}
	it->id = pbf_get_ptr(it->msg, k->id_field);
	err = rulepb_to_spec(it->msg, &it->spec, &re);
	if (!err)
		err = rulehash_digest(it->msg, it->digest);
	if (!err && (!it->id || !*it->id)) {
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
	rulepb_match_key(&it->spec, it->key, sizeof(it->key));
	if (k->expires_field)
		it->expires_at = pbf_int(it->msg, k->expires_field);
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
		ke = calloc(1, sizeof(*ke));
		if (!ke)
			return -ENOMEM;
		snprintf(ke->key, sizeof(ke->key), "%s", key);
		HASH_ADD_STR(rs->keys, key, ke);
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
