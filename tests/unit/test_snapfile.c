// SPDX-License-Identifier: MIT
/*
 * test_snapfile: the state snapshot in the model's packed form (agent/ruleset/snapfile.c)
 * on a real, unpinned data plane (tests/lib/testdp.h). A restart reads every field of
 * both kinds back (messages byte for byte, revision, content hash, what is in the data
 * plane, the expiry times); a file cut short, with a damaged byte, or with a header that
 * disagrees is refused whole with the reason, set aside with the journal, and the data
 * plane keeps every entry in force; the SnapshotChunk file of older agents still loads
 * and is rewritten in the packed form by the next snapshot. A clean stop folds the journal
 * in, and the next start switches nothing unless the data plane moved. Needs root (BPF).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "pbfield.h"
#include "ruleset/model.h"
#include "testdp.h"
#include "tmpdir.h"

static struct dataplane *dp;

struct fixture {
	char dir[64];
	struct ruleset *rs;
	char *ids[5];
	uint64_t rev;
	char hash[RULEHASH_HEX];
};

/* A message of kind k from "field=value" settings (strings are borrowed: free()). */
static ProtobufCMessage *msg_of(const struct ruleset_kind *k, const char *const *kv)
{
	ProtobufCMessage *m = calloc(1, k->msg->sizeof_message);

	assert_non_null(m);
	protobuf_c_message_init(k->msg, m);
	for (size_t i = 0; kv[i]; i++) {
		const char *eq = strchr(kv[i], '=');
		char name[64];

		snprintf(name, sizeof(name), "%.*s", (int)(eq - kv[i]), kv[i]);
		if (pbf_field(k->msg, name)->type == PROTOBUF_C_TYPE_STRING)
			assert_int_equal(pbf_set_ptr(m, name, eq + 1), 0);
		else
			assert_int_equal(pbf_set_int(m, name, strtoll(eq + 1, NULL, 0)), 0);
	}
	return m;
}

static char *create(struct ruleset *rs, const struct ruleset_kind *k, const char *const *kv)
{
	ProtobufCMessage *m = msg_of(k, kv), *out = NULL;
	struct rpc_status st = {0};
	char *id;

	assert_int_equal(ruleset_create(rs, k, m, &out, &st), 0);
	free(m);
	id = strdup(pbf_str(out, k->id_field));
	ruleset_free(out);
	return id;
}

static const struct ruleset_kind *kind_of[5] = {&ruleset_rules, &ruleset_rules, &ruleset_rules,
						&ruleset_whitelist, &ruleset_whitelist};

/* Five entries: enabled, disabled, expiring in an hour (rules), and two whitelist entries;
 * then the set written as a snapshot, the journal empty. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char at[64];
	const char *kv[5][6] = {
	    {"src_ip=10.9.0.1", "action=drop", "name=one", "comment=c", "enabled=1", NULL},
	    {"src_ip=10.9.0.2", "action=drop", "enabled=0", "source=feed-a", NULL},
	    {"dst_ip=10.9.0.3", "action=rate_limit", "rate_limit=500", "enabled=1", at, NULL},
	    {"src_ip=192.0.2.7", NULL},
	    {"src_cidr=2001:db8::/32", NULL},
	};

	if (!f || tmpdir_make(f->dir, sizeof(f->dir), "xdrop-snapfile") || testdp_load(dp, NULL) ||
	    ruleset_open(&f->rs, dp, f->dir))
		return -1;
	snprintf(at, sizeof(at), "expires_at=%lld", (long long)(clock_wall_ns() + 3600e9));
	for (int i = 0; i < 5; i++)
		f->ids[i] = create(f->rs, kind_of[i], kv[i]);
	pthread_mutex_lock(&f->rs->lock);
	if (rs_persist_snapshot(f->rs))
		return -1;
	pthread_mutex_unlock(&f->rs->lock);
	ruleset_published(f->rs, &f->rev, f->hash);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ruleset_close(f->rs);
	tmpdir_remove(f->dir);
	for (int i = 0; i < 5; i++)
		free(f->ids[i]);
	free(f);
	return 0;
}

static void path(const struct fixture *f, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", f->dir, name);
}

static bool exists(const struct fixture *f, const char *name)
{
	char p[256];
	struct stat sb;

	path(f, name, p, sizeof(p));
	return stat(p, &sb) == 0;
}

static void reopen(struct fixture *f)
{
	ruleset_close(f->rs);
	f->rs = NULL;
	assert_int_equal(ruleset_open(&f->rs, dp, f->dir), 0);
}

static size_t stored(struct ruleset *rs)
{
	uint64_t r, w;

	ruleset_counts(rs, &r, &w);
	return (size_t)(r + w);
}

/* The packed bytes of entry i's stored message, into buf; their length. */
static size_t packed(struct ruleset *rs, const struct fixture *f, int i, uint8_t *buf)
{
	ProtobufCMessage *m = ruleset_get(rs, kind_of[i], f->ids[i]);
	size_t n;

	assert_non_null(m);
	n = protobuf_c_message_pack(m, buf);
	ruleset_free(m);
	return n;
}

static void test_restart_reads_every_field(void **state)
{
	struct fixture *f = *state;
	uint8_t before[5][512], after[512];
	size_t len[5];
	char p[256], magic[9] = {0}, hash[RULEHASH_HEX];
	struct item *it;
	uint64_t rev;
	FILE *fp;

	path(f, RS_SNAPSHOT_FILE, p, sizeof(p));
	fp = fopen(p, "r");
	assert_non_null(fp);
	assert_int_equal(fread(magic, 1, 8, fp), 8);
	fclose(fp);
	assert_string_equal(magic, "XDRSNAP1");
	for (int i = 0; i < 5; i++)
		len[i] = packed(f->rs, f, i, before[i]);
	reopen(f);
	ruleset_published(f->rs, &rev, hash);
	assert_int_equal(rev, f->rev);
	assert_string_equal(hash, f->hash);
	assert_int_equal(stored(f->rs), 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(packed(f->rs, f, i, after), len[i]);
		assert_memory_equal(after, before[i], len[i]);
	}
	assert_int_equal(dataplane_count(dp, ruleset_rules.dp_kind), 2); /* not the disabled */
	assert_int_equal(dataplane_count(dp, ruleset_whitelist.dp_kind), 2);
	it = rs_find(f->rs, &ruleset_rules, f->ids[2]);
	assert_non_null(it);
	assert_true(it->xpos > 0); /* back in the expiry heap */
	assert_int_equal(it->spec.rate, 500);
	/* the set goes on from there: a change, a restart, the change is there */
	assert_int_equal(ruleset_delete(f->rs, &ruleset_rules, &f->ids[0], 1, NULL), 0);
	reopen(f);
	assert_int_equal(stored(f->rs), 4);
	assert_int_equal(ruleset_revision(f->rs), f->rev + 1);
}

/* Writes the snapshot file back changed by fn; returns its new length. */
static long rewrite(struct fixture *f, void (*fn)(uint8_t *b, long *n))
{
	char p[256];
	uint8_t *b;
	long n;
	FILE *fp;

	path(f, RS_SNAPSHOT_FILE, p, sizeof(p));
	fp = fopen(p, "r");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	b = malloc((size_t)n);
	assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	fn(b, &n);
	fp = fopen(p, "w");
	assert_int_equal(fwrite(b, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	free(b);
	return n;
}

static void cut_half(uint8_t *b, long *n)
{
	(void)b;
	*n /= 2;
}

static void cut_end(uint8_t *b, long *n)
{
	(void)b;
	*n -= 3;
}

static void flip_middle(uint8_t *b, long *n)
{
	b[*n / 2] ^= 0x20;
}

static void empty(uint8_t *b, long *n)
{
	(void)b;
	*n = 0;
}

/* A refused file: nothing stored, both files set aside, every entry still in force. */
static void check_refused(struct fixture *f, void (*fn)(uint8_t *b, long *n))
{
	rewrite(f, fn);
	assert_true(exists(f, RS_JOURNAL_FILE));
	reopen(f);
	assert_int_equal(stored(f->rs), 0);
	assert_int_equal(ruleset_revision(f->rs), 0);
	assert_int_equal(dataplane_count(dp, ruleset_rules.dp_kind), 2);
	assert_int_equal(dataplane_count(dp, ruleset_whitelist.dp_kind), 2);
	assert_false(exists(f, RS_SNAPSHOT_FILE));
	assert_true(exists(f, RS_SNAPSHOT_FILE ".refused"));
	assert_true(exists(f, RS_JOURNAL_FILE ".refused"));
}

static void test_cut_short_refused(void **state)
{
	check_refused(*state, cut_half);
}

static void test_cut_at_end_refused(void **state)
{
	check_refused(*state, cut_end);
}

static void test_damaged_refused(void **state)
{
	check_refused(*state, flip_middle);
}

static void test_empty_file_refused(void **state)
{
	check_refused(*state, empty);
}

/* The file is written through a small buffer (rs_snap_write), not made whole in memory
 * first: two rules with comments of 900 KB each take it through several flushes, and the
 * file is byte for byte what rs_snap_pack makes in memory (checksum included). */
static void test_streamed_write_same_bytes(void **state)
{
	struct fixture *f = *state;
	char *comment = malloc(900 * 1024 + 16), p[256], *ids[2];
	uint8_t *buf, *back;
	size_t len, wlen;
	struct stat sb;
	FILE *fp;
	int fd;

	assert_non_null(comment);
	for (int i = 0; i < 2; i++) {
		const char *kv[] = {i ? "src_ip=10.9.1.2" : "src_ip=10.9.1.1", "action=drop",
				    comment, NULL};

		snprintf(comment, 32, "comment=");
		memset(comment + 8, 'a' + i, 900 * 1024);
		comment[8 + 900 * 1024] = 0;
		ids[i] = create(f->rs, &ruleset_rules, kv);
	}
	path(f, "streamed", p, sizeof(p));
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	pthread_mutex_lock(&f->rs->lock);
	assert_int_equal(rs_snap_pack(f->rs, 7, &buf, &len), 0);
	assert_int_equal(rs_snap_write(f->rs, 7, fd, &wlen), 0);
	pthread_mutex_unlock(&f->rs->lock);
	close(fd);
	assert_true(len > 1800 * 1024);
	assert_int_equal(wlen, len);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal((size_t)sb.st_size, len);
	back = malloc(len);
	fp = fopen(p, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(back, 1, len, fp), len);
	fclose(fp);
	assert_memory_equal(back, buf, len);
	free(back);
	free(buf);
	free(comment);
	free(ids[0]);
	free(ids[1]);
}

/* The reasons, from the loader itself (nothing installed: the set is as it was). */
static void test_reasons(void **state)
{
	struct fixture *f = *state;
	struct rpc_status st = {0};
	uint8_t *buf;
	size_t len;

	pthread_mutex_lock(&f->rs->lock);
	assert_int_equal(rs_snap_pack(f->rs, 0, &buf, &len), 0);
	assert_int_equal(rs_snap_load(f->rs, buf, len / 2, &st), -EBADMSG);
	assert_non_null(strstr(st.message, "cut short"));
	buf[len / 2] ^= 1;
	assert_int_equal(rs_snap_load(f->rs, buf, len, &st), -EBADMSG);
	assert_non_null(strstr(st.message, "checksum"));
	buf[len / 2] ^= 1;
	buf[8] ^= 0xff; /* the version */
	assert_int_equal(rs_snap_load(f->rs, buf, len, &st), -EBADMSG);
	assert_non_null(strstr(st.message, "version"));
	assert_int_equal(rs_snap_load(f->rs, (const uint8_t *)"\x0a\x02hi", 4, &st), -ENOTSUP);
	pthread_mutex_unlock(&f->rs->lock);
	free(buf);
	assert_int_equal(stored(f->rs), 5);
}

/* A version 1 file (its packed messages hold enabled and the times too) loads, and every
 * entry reads back whole; a version beyond this agent's is refused by name. */
static void test_version1_file_loads(void **state)
{
	struct fixture *f = *state;
	struct rpc_status st = {0};
	ProtobufCMessage *out;
	uint32_t v = 1;
	uint64_t sum;
	uint8_t *buf;
	size_t len;

	pthread_mutex_lock(&f->rs->lock);
	assert_int_equal(rs_snap_pack(f->rs, 0, &buf, &len), 0);
	memcpy(buf + 8, &v, sizeof(v)); /* the version, after the magic */
	sum = rs_snap_checksum(buf, len - 16);
	memcpy(buf + len - 16, &sum, sizeof(sum));
	assert_int_equal(rs_snap_load(f->rs, buf, len, &st), 0);
	v = 3;
	memcpy(buf + 8, &v, sizeof(v));
	sum = rs_snap_checksum(buf, len - 16);
	memcpy(buf + len - 16, &sum, sizeof(sum));
	assert_int_equal(rs_snap_load(f->rs, buf, len, &st), -EBADMSG);
	assert_non_null(strstr(st.message, "version 3"));
	pthread_mutex_unlock(&f->rs->lock);
	free(buf);
	assert_int_equal(stored(f->rs), 5);
	out = ruleset_get(f->rs, &ruleset_rules, f->ids[0]);
	assert_non_null(out);
	assert_true(pbf_int(out, "enabled"));
	assert_true(pbf_int(out, "created_at") > 0);
	ruleset_free(out);
}

/* A SnapshotChunk file (older agents) loads; the next snapshot is in the packed form. */
static void test_legacy_file_loads(void **state)
{
	struct fixture *f = *state;
	Xdrop__V1__SnapshotChunk c = XDROP__V1__SNAPSHOT_CHUNK__INIT;
	const char *kv[] = {"id=legacy-1", "src_ip=10.7.0.1", "action=drop", "enabled=1", NULL};
	Xdrop__V1__Rule *r = (Xdrop__V1__Rule *)msg_of(&ruleset_rules, kv);
	char p[256], magic[9] = {0};
	uint8_t *buf;
	size_t len;
	FILE *fp;

	c.revision = 77;
	c.n_rules = 1;
	c.rules = &r;
	c.chunk_count = 1;
	len = xdrop__v1__snapshot_chunk__get_packed_size(&c);
	buf = malloc(len);
	xdrop__v1__snapshot_chunk__pack(&c, buf);
	path(f, RS_SNAPSHOT_FILE, p, sizeof(p));
	fp = fopen(p, "w");
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	fclose(fp);
	free(buf);
	free(r);
	path(f, RS_JOURNAL_FILE, p, sizeof(p));
	assert_int_equal(truncate(p, 0), 0);
	reopen(f);
	assert_int_equal(ruleset_revision(f->rs), 77);
	assert_int_equal(stored(f->rs), 1);
	assert_int_equal(dataplane_count(dp, ruleset_rules.dp_kind), 1);
	pthread_mutex_lock(&f->rs->lock);
	assert_int_equal(rs_persist_snapshot(f->rs), 0);
	pthread_mutex_unlock(&f->rs->lock);
	path(f, RS_SNAPSHOT_FILE, p, sizeof(p));
	fp = fopen(p, "r");
	assert_int_equal(fread(magic, 1, 8, fp), 8);
	fclose(fp);
	assert_string_equal(magic, "XDRSNAP1");
	reopen(f);
	assert_non_null(rs_find(f->rs, &ruleset_rules, "legacy-1"));
}

/* A clean stop folds the journal into the snapshot file with the data plane's generation;
 * the next start then switches nothing (the generation stays), and an adopted data plane
 * that moved meanwhile is brought back to the set. */
static void test_save_then_start_switches_nothing(void **state)
{
	struct fixture *f = *state;
	const char *kv[] = {"src_ip=10.9.1.1", "action=drop", "enabled=1", NULL};
	struct dp_result res = {0};
	char p[256];
	struct stat sb;
	uint64_t gen;

	free(create(f->rs, &ruleset_rules, kv));
	path(f, RS_JOURNAL_FILE, p, sizeof(p));
	assert_int_equal(stat(p, &sb), 0);
	assert_true(sb.st_size > 0);
	assert_int_equal(ruleset_save(f->rs), 0);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	gen = dataplane_gen(dp);
	assert_false(f->rs->dp_as_saved); /* the setup's open: nothing saved yet */
	reopen(f);
	assert_true(f->rs->dp_as_saved);
	assert_int_equal(dataplane_gen(dp), gen);
	assert_int_equal(stored(f->rs), 6);
	assert_int_equal(ruleset_revision(f->rs), f->rev + 1);
	assert_int_equal(dataplane_count(dp, ruleset_rules.dp_kind), 3);
	/* nothing changed since: saving again writes nothing */
	assert_int_equal(ruleset_save(f->rs), 0);
	/* the data plane emptied behind the agent's back: the start puts the set back */
	ruleset_close(f->rs);
	f->rs = NULL;
	assert_int_equal(dataplane_replace(dp, 1u << ruleset_rules.dp_kind, NULL, 0, &res), 0);
	assert_int_equal(dataplane_count(dp, ruleset_rules.dp_kind), 0);
	assert_int_equal(ruleset_open(&f->rs, dp, f->dir), 0);
	assert_false(f->rs->dp_as_saved);
	assert_int_equal(dataplane_count(dp, ruleset_rules.dp_kind), 3);
	assert_int_equal(dataplane_count(dp, ruleset_whitelist.dp_kind), 2);
}

static int group_setup(void **state)
{
	dp = testdp_open(false, false);
	return dp ? 0 : -1;
}

static int group_teardown(void **state)
{
	dataplane_close(dp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_restart_reads_every_field, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cut_short_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cut_at_end_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_file_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reasons, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_streamed_write_same_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_legacy_file_loads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_version1_file_loads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_then_start_switches_nothing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
