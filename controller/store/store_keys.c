// SPDX-License-Identifier: MIT
/*
 * store_keys: the api_keys table (salted SHA-256 of each key, never the key: auth.c) and
 * the settings table (store.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char SQL_KEY_ADD[] = "INSERT INTO api_keys(id, name, scope, salt, hash,"
				  " created_at, last_used_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_KEY_PUT[] = "INSERT OR REPLACE INTO api_keys(id, name, scope, salt, hash,"
				  " created_at, last_used_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_KEY_GET[] = "SELECT id, name, scope, salt, hash, created_at,"
				  " last_used_at FROM api_keys WHERE id = ?1";
static const char SQL_KEY_LIST[] = "SELECT id, name, scope, salt, hash, created_at,"
				   " last_used_at FROM api_keys ORDER BY created_at, id";
static const char SQL_KEY_DELETE[] = "DELETE FROM api_keys WHERE id = ?1";
static const char SQL_KEY_TOUCH[] = "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1";

int store_key_put(struct store *s, const struct store_key *k, bool replace)
{
	struct db_stmt *st;
	int err;

	writer_lock(s);
	st = stmt(&s->w, replace ? SQL_KEY_PUT : SQL_KEY_ADD);
	if (!st) {
		err = -EIO;
		goto out;
	}
	bind_text(st, 1, k->id);
	bind_text(st, 2, k->name);
	bind_text(st, 3, k->scope);
	db_bind_blob(st, 4, k->salt, XDROP_KEY_SALT_LEN, SQLITE_STATIC);
	db_bind_blob(st, 5, k->hash, XDROP_KEY_HASH_LEN, SQLITE_STATIC);
	db_bind_int64(st, 6, k->created_at);
	db_bind_int64(st, 7, k->last_used_at);
	err = write1(s, st, false);
out:
	pthread_mutex_unlock(&s->wlock);
	return err;
}

static int key_row(struct db_stmt *st, void *out)
{
	struct store_key *k = out;

	memset(k, 0, sizeof(*k));
	snprintf(k->id, sizeof(k->id), "%s", (const char *)db_column_text(st, 0));
	k->name = col_strdup(st, 1);
	snprintf(k->scope, sizeof(k->scope), "%s", (const char *)db_column_text(st, 2));
	if (db_column_bytes(st, 3) == XDROP_KEY_SALT_LEN)
		memcpy(k->salt, db_column_blob(st, 3), XDROP_KEY_SALT_LEN);
	if (db_column_bytes(st, 4) == XDROP_KEY_HASH_LEN)
		memcpy(k->hash, db_column_blob(st, 4), XDROP_KEY_HASH_LEN);
	k->created_at = db_column_int64(st, 5);
	k->last_used_at = db_column_int64(st, 6);
	return k->name ? 0 : -ENOMEM;
}

int store_key_get(struct store *s, const char *id, struct store_key *out)
{
	memset(out, 0, sizeof(*out));
	return read_one(s, SQL_KEY_GET, id, key_row, out);
}

static void free_keys_v(void *v, size_t n)
{
	store_free_keys(v, n);
}

int store_key_list(struct store *s, struct store_key **out, size_t *n)
{
	return read_all(s, SQL_KEY_LIST, key_row, sizeof(**out), free_keys_v, (void **)out, n);
}

void store_free_keys(struct store_key *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].name);
	free(v);
}

int store_key_delete(struct store *s, const char *id)
{
	return delete_by_id(s, SQL_KEY_DELETE, id);
}

int store_key_touch(struct store *s, const char *id, int64_t at)
{
	struct db_stmt *st;
	int err;

	writer_lock(s);
	st = stmt(&s->w, SQL_KEY_TOUCH);
	if (!st) {
		err = -EIO;
	} else {
		bind_text(st, 1, id);
		db_bind_int64(st, 2, at);
		err = write1(s, st, true);
	}
	pthread_mutex_unlock(&s->wlock);
	return err;
}

/* ---- settings ---------------------------------------------------------------------------- */

static const char SQL_SETTING_GET[] = "SELECT value FROM settings WHERE key = ?1";
static const char SQL_SETTING_SET[] = "INSERT OR REPLACE INTO settings(key, value)"
				      " VALUES(?1, ?2)";

int store_setting_get(struct store *s, const char *key, char **out)
{
	struct conn *c = reader_get(s);
	struct db_stmt *st = stmt(c, SQL_SETTING_GET);
	int rc, err = 0;

	*out = NULL;
	if (!st) {
		reader_put(s, c);
		return -EIO;
	}
	bind_text(st, 1, key);
	rc = db_step(st);
	if (rc == SQLITE_ROW) {
		*out = col_strdup(st, 0);
		err = *out ? 0 : -ENOMEM;
	} else {
		err = rc == SQLITE_DONE ? -ENOENT : sql_err(c, "setting");
	}
	db_reset(st);
	reader_put(s, c);
	return err;
}

int store_setting_set(struct store *s, const char *key, const char *value)
{
	struct db_stmt *st;
	int err;

	writer_lock(s);
	st = stmt(&s->w, SQL_SETTING_SET);
	if (!st) {
		err = -EIO;
	} else {
		bind_text(st, 1, key);
		bind_text(st, 2, value);
		err = write1(s, st, false);
	}
	pthread_mutex_unlock(&s->wlock);
	return err;
}
