// SPDX-License-Identifier: MIT
/*
 * store_nodes: the nodes table (store.h, "nodes"). A node row keeps the record of its key
 * (lib/nodekey.h), never the key; the live fields of a Node (status, hash, version) are
 * placeholders here, filled by controller/nodes.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nodekey.h"
#include "store_int.h"

static const char SQL_NODE_ADD[] = "INSERT INTO nodes(id, name, address, comment, key,"
				   " created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_NODE_PUT[] = "INSERT OR REPLACE INTO nodes(id, name, address, comment,"
				   " key, created_at, updated_at)"
				   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_NODE_UPDATE[] = "UPDATE nodes SET name = ?2, address = ?3, comment = ?4,"
				      " updated_at = ?5 WHERE id = ?1";
static const char SQL_NODE_DELETE[] = "DELETE FROM nodes WHERE id = ?1";
static const char SQL_NODE_GET[] = "SELECT id, name, address, comment, key, created_at,"
				   " updated_at FROM nodes WHERE id = ?1";
static const char SQL_NODE_LIST[] = "SELECT id, name, address, comment, key, created_at,"
				    " updated_at FROM nodes ORDER BY created_at, id";

static int node_write(struct store *s, const char *sql, const Xdrop__V1__Node *n, const char *key)
{
	char rec[XDROP_NODEKEY_RECORD_MAX];
	struct db_stmt *st;
	int err;

	if (key)
		nodekey_record(key, rec); /* the key itself is never stored */
	writer_lock(s);
	st = stmt(&s->w, sql);
	if (!st) {
		err = -EIO;
		goto out;
	}
	bind_text(st, 1, n->id);
	bind_text(st, 2, n->name);
	bind_text(st, 3, n->address);
	bind_text(st, 4, n->comment);
	if (key) {
		bind_text(st, 5, rec);
		db_bind_int64(st, 6, n->created_at);
		db_bind_int64(st, 7, n->updated_at);
	} else {
		db_bind_int64(st, 5, n->updated_at);
	}
	err = write1(s, st, key == NULL);
out:
	pthread_mutex_unlock(&s->wlock);
	return err;
}

int store_node_add(struct store *s, const Xdrop__V1__Node *node, const char *key)
{
	return node_write(s, SQL_NODE_ADD, node, key);
}

int store_node_put(struct store *s, const Xdrop__V1__Node *node, const char *key)
{
	return node_write(s, SQL_NODE_PUT, node, key);
}

int store_node_update(struct store *s, const Xdrop__V1__Node *node)
{
	return node_write(s, SQL_NODE_UPDATE, node, NULL);
}

int store_node_delete(struct store *s, const char *id)
{
	return delete_by_id(s, SQL_NODE_DELETE, id);
}

static int node_row(struct db_stmt *st, void *row)
{
	struct store_node *out = row;
	Xdrop__V1__Node *n = calloc(1, sizeof(*n));

	memset(out, 0, sizeof(*out));
	if (!n)
		return -ENOMEM;
	xdrop__v1__node__init(n);
	out->node = n;
	n->id = col_strdup(st, 0);
	n->name = col_strdup(st, 1);
	n->address = col_strdup(st, 2);
	n->comment = col_strdup(st, 3);
	out->cred = col_strdup(st, 4);
	n->created_at = db_column_int64(st, 5);
	n->updated_at = db_column_int64(st, 6);
	n->status = strdup("unknown");
	n->content_hash = strdup("");
	n->version = strdup("");
	if (!n->id || !n->name || !n->address || !n->comment || !out->cred || !n->status ||
	    !n->content_hash || !n->version) {
		store_node_free(out);
		return -ENOMEM;
	}
	return 0;
}

void store_node_free(struct store_node *n)
{
	if (!n)
		return;
	if (n->node)
		xdrop__v1__node__free_unpacked(n->node,
					       NULL); /* malloc'd fields, default allocator */
	free(n->cred);
	n->node = NULL;
	n->cred = NULL;
}

int store_node_get(struct store *s, const char *id, struct store_node *out)
{
	memset(out, 0, sizeof(*out));
	return read_one(s, SQL_NODE_GET, id, node_row, out);
}

static void free_nodes_v(void *v, size_t n)
{
	store_free_nodes(v, n);
}

int store_node_list(struct store *s, struct store_node **out, size_t *n)
{
	return read_all(s, SQL_NODE_LIST, node_row, sizeof(**out), free_nodes_v, (void **)out, n);
}

void store_free_nodes(struct store_node *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		store_node_free(&v[i]);
	free(v);
}
