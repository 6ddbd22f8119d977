// SPDX-License-Identifier: MIT
/*
 * dp_open: the life of a data-plane handle. Open: options and their defaults, the
 * skeleton with its runtime options (precedence tables, test switches) and capacities,
 * the pin directory (maps reused from it when pinned by an earlier run), load, the pins
 * libbpf cannot make itself, the mmapped generation word, then either adoption of the
 * pinned state or an empty start. Close frees the handle and leaves the pins, so that
 * filtering continues; unpin removes them. See agent/dataplane.h.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "dp_priv.h"
#include "log.h"

/* Room left in pin_dir for "/<map name>". */
#define DP_PIN_NAME_ROOM 32

static int ensure_dir(const char *path)
{
	char buf[256];

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0700) && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* True for the program's maps, false for libbpf's internal ones (.rodata, ...). */
static bool is_data_map(const struct bpf_map *m)
{
	return strchr(bpf_map__name(m), '.') == NULL;
}

/* The global counters pinned by a build whose xdrop_stats had another size (before
 * XDROP_STATS_ROOM): returns its fd, to be carried over by stats_migrate, or -1. */
static int stats_stale_fd(const char *path)
{
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return -1;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
	    info.value_size != sizeof(struct xdrop_stats))
		return fd;
	close(fd);
	return -1;
}

/* Maps that hold no state of their own: the prefix hashes, /24 chunks and IPv6 filters,
 * derived from the model (dp_plens_rebuild), and the per-CPU scratch of one packet's search. One
 * pinned by a build whose values had another layout is unpinned, and the new map is pinned in its
 * place; the program attached meanwhile keeps its own (it reads the prefix hashes only while a trie
 * is in hash mode, and dp_plens_open turns every trie to trie mode before the new program is
 * attached). */
static void derived_unpin_stale(const struct bpf_map *m, const char *path)
{
	static const char *const derived[] = {"xdrop_pfx4", "xdrop_pfx6", "xdrop_dir24",
					      "xdrop_bloom6", "xdrop_scratch"};
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info);
	size_t i = 0;
	int fd;

	while (i < sizeof(derived) / sizeof(derived[0]) && strcmp(bpf_map__name(m), derived[i]))
		i++;
	if (i == sizeof(derived) / sizeof(derived[0]))
		return;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
	    info.value_size != bpf_map__value_size(m) && unlink(path) == 0)
		log_info("%s: pinned with another value layout, made anew", path);
	close(fd);
}

/* Copies the counters of a stale xdrop_stats (same order, fewer of them) into the new map
 * and pins the new one in its place. */
static int stats_migrate(struct dataplane *dp, int old_fd, const char *path)
{
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info), zero = 0;
	struct xdrop_stats *v = calloc((size_t)dp->ncpus, sizeof(*v));
	uint8_t *old = NULL;
	int err = 0, fd = fd_of(dp->skel->maps.xdrop_stats);

	if (!v || bpf_obj_get_info_by_fd(old_fd, &info, &len)) {
		err = v ? -errno : -ENOMEM;
		goto out;
	}
	old = calloc((size_t)dp->ncpus, (info.value_size + 7) & ~7u);
	if (!old) {
		err = -ENOMEM;
		goto out;
	}
	if (bpf_map_lookup_elem(old_fd, &zero, old) == 0) {
		for (int c = 0; c < dp->ncpus; c++)
			memcpy(&v[c], old + (size_t)c * ((info.value_size + 7) & ~7u),
			       info.value_size < sizeof(*v) ? info.value_size : sizeof(*v));
		bpf_map_update_elem(fd, &zero, v, BPF_ANY);
	}
	if (unlink(path) && errno != ENOENT) {
		err = -errno;
		log_error("replace %s failed: %s", path, strerror(errno));
		goto out;
	}
	err = bpf_map__pin(dp->skel->maps.xdrop_stats, path);
	if (err) {
		log_error("pin %s failed: %s", path, strerror(-err));
		goto out;
	}
	log_info("global counters in %s carried over to the new layout", path);
out:
	free(old);
	free(v);
	return err;
}

/* The caller's options (as much of them as its struct holds), with defaults. */
static void opts_init(struct dataplane *dp, const struct dataplane_opts *opts)
{
	if (opts)
		memcpy(&dp->o, opts, opts->sz < sizeof(dp->o) ? opts->sz : sizeof(dp->o));
	dp->o.sz = sizeof(dp->o);
	if (!dp->o.max_exact)
		dp->o.max_exact = XDROP_DEF_MAX_EXACT;
	if (!dp->o.max_cidr)
		dp->o.max_cidr = XDROP_DEF_MAX_CIDR;
	if (!dp->o.max_prefixes)
		dp->o.max_prefixes = XDROP_DEF_MAX_PREFIXES;
	if (!dp->o.max_addrs)
		dp->o.max_addrs = dp->o.max_exact;
	if (!dp->o.max_rate)
		dp->o.max_rate = XDROP_DEF_MAX_RATE;
	dp->sample_every = dp->o.sample_off	? 0
			   : dp->o.sample_every ? dp->o.sample_every
						: XDROP_DEF_SAMPLE_EVERY;
	if (dp->sample_every > XDROP_MAX_SAMPLE_EVERY)
		dp->sample_every = XDROP_MAX_SAMPLE_EVERY;
}

/* Opens the skeleton and sets what must be set before load: the runtime options and the
 * capacities. */
static int skel_open(struct dataplane *dp)
{
	const struct rule_order *o = &dp->order;
	struct xdrop *sk;

	rule_exact_order(&dp->order);
	sk = dp->skel = xdrop__open();
	if (!sk) {
		log_error("open BPF skeleton failed: %s", strerror(errno));
		return -errno;
	}
	for (int i = 0; i < XDROP_NCOMBOS; i++) {
		((uint8_t *)sk->rodata->order_mask)[i] = o->order_mask[i];
		((uint32_t *)sk->rodata->order_rank)[i] = o->order_rank[i];
	}
	for (int i = 0; i < XDROP_NFIELDS; i++)
		((uint32_t *)sk->rodata->order_need)[i] = o->order_need[i];
	*(uint8_t *)&sk->rodata->test_clock = dp->o.test_clock;
	*(uint8_t *)&sk->rodata->record_gen = dp->o.record_gen;
	*(uint32_t *)&sk->rodata->test_reader_spin = dp->o.test_reader_spin;

	bpf_map__set_max_entries(sk->maps.xdrop_exact, dp->o.max_exact);
	bpf_map__set_max_entries(sk->maps.xdrop_exact_prev, dp->o.max_exact);
	bpf_map__set_max_entries(sk->maps.xdrop_cidr, dp->o.max_cidr);
	bpf_map__set_max_entries(sk->maps.xdrop_cidr_prev, dp->o.max_cidr);
	bpf_map__set_max_entries(sk->maps.xdrop_src_addr, dp->o.max_addrs);
	bpf_map__set_max_entries(sk->maps.xdrop_dst_addr, dp->o.max_addrs);
	bpf_map__set_max_entries(sk->maps.xdrop_src4, dp->o.max_prefixes);
	bpf_map__set_max_entries(sk->maps.xdrop_dst4, dp->o.max_prefixes);
	bpf_map__set_max_entries(sk->maps.xdrop_src6, dp->o.max_prefixes);
	bpf_map__set_max_entries(sk->maps.xdrop_dst6, dp->o.max_prefixes);
	bpf_map__set_max_entries(sk->maps.xdrop_prefix, 4 * dp->o.max_prefixes);
	bpf_map__set_max_entries(sk->maps.xdrop_pfx4, 2 * dp->o.max_prefixes);
	bpf_map__set_max_entries(sk->maps.xdrop_pfx6, 2 * dp->o.max_prefixes);
	bpf_map__set_max_entries(sk->maps.xdrop_rate, dp->o.max_rate);
	return 0;
}

/* The pin directory: created, checked to be on bpffs. */
static int pin_dir_prepare(struct dataplane *dp)
{
	struct statfs sfs;
	int err;

	if (strlen(dp->o.pin_dir) >= sizeof(dp->pin_dir) - DP_PIN_NAME_ROOM)
		return -ENAMETOOLONG;
	strcpy(dp->pin_dir, dp->o.pin_dir);
	dp->o.pin_dir = dp->pin_dir;
	err = ensure_dir(dp->pin_dir);
	if (err) {
		log_error("pin directory %s: %s", dp->pin_dir, strerror(-err));
		return err;
	}
	if (statfs(dp->pin_dir, &sfs) || sfs.f_type != BPF_FS_MAGIC) {
		log_error("pin directory %s is not on a bpf filesystem (mount -t bpf "
			  "bpf /sys/fs/bpf)",
			  dp->pin_dir);
		return -ENOTSUP;
	}
	return 0;
}

/* Pinned maps of an older layout, carried over after load (-1: none). */
struct stale {
	int stats;    /* xdrop_stats of another size */
	int counters; /* xdrop_counters with chunks of another slot-counter size */
};

/* Before load: every map gets its pin path, so that libbpf reuses a pinned map or pins
 * the new one. Exceptions: the devmap (reused by hand, pinned after load) and stale maps
 * (their fds in *st, migrated after load). */
static int pins_prepare(struct dataplane *dp, struct stale *st)
{
	char path[512];
	struct bpf_map *m;
	int err;

	err = pin_dir_prepare(dp);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/xdrop_gen", dp->pin_dir);
	dp->adopted = access(path, F_OK) == 0;
	bpf_object__for_each_map(m, dp->skel->obj)
	{
		if (!is_data_map(m))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dp->pin_dir, bpf_map__name(m));
		/* The kernel adds BPF_F_RDONLY_PROG to every devmap but refuses it at
		 * creation, so libbpf 1.1's reuse check (which compares flags) can never
		 * accept a pinned devmap: adopt that one by hand, pin it after load. */
		if (m == dp->skel->maps.xdrop_devmap) {
			int fd = bpf_obj_get(path);

			if (fd >= 0) {
				err = bpf_map__reuse_fd(m, fd);
				close(fd);
				if (err)
					return err;
			}
			continue;
		}
		if (m == dp->skel->maps.xdrop_stats) {
			st->stats = stats_stale_fd(path);
			if (st->stats >= 0)
				continue;
		}
		if (m == dp->skel->maps.xdrop_counters) {
			st->counters = dp_counters_stale_fd(path);
			if (st->counters >= 0)
				continue;
		}
		derived_unpin_stale(m, path);
		bpf_map__set_pin_path(m, path);
	}
	dp->pinned = true;
	return 0;
}

static void stale_close(struct stale *st)
{
	if (st->stats >= 0)
		close(st->stats);
	if (st->counters >= 0)
		close(st->counters);
}

/* After load: the pins pins_prepare left out. */
static int pins_complete(struct dataplane *dp, const struct stale *st)
{
	int err;

	char path[512];

	snprintf(path, sizeof(path), "%s/xdrop_devmap", dp->pin_dir);
	if (access(path, F_OK) != 0 && bpf_obj_pin(fd_of(dp->skel->maps.xdrop_devmap), path)) {
		err = -errno;
		log_error("pin %s failed: %s", path, strerror(errno));
		return err;
	}
	snprintf(path, sizeof(path), "%s/xdrop_counters", dp->pin_dir);
	if (st->counters >= 0 && (err = dp_counters_migrate(dp, st->counters, path)))
		return err;
	snprintf(path, sizeof(path), "%s/xdrop_stats", dp->pin_dir);
	if (st->stats >= 0)
		return stats_migrate(dp, st->stats, path);
	return 0;
}

/* The state the program starts from: the pinned one, adopted, or an empty set. */
static int state_start(struct dataplane *dp)
{
	int err;

	dp->genp = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED,
			fd_of(dp->skel->maps.xdrop_gen), 0);
	if (dp->genp == MAP_FAILED) {
		dp->genp = NULL;
		return -errno;
	}
	if ((err = dp_plens_open(dp)))
		return err;
	if (!dp->adopted) {
		dp->gen = 0;
		err = dp_plens_rebuild(dp);
		return err ? err : dp_chunk_create(dp, 0);
	}
	err = dp_adopt(dp);
	if (!err)
		err = dp_plens_rebuild(dp);
	if (err) {
		log_error("adopt pinned state in %s failed: %s", dp->pin_dir, strerror(-err));
		return err;
	}
	log_info("adopted pinned state in %s: %zu rules, %zu whitelist entries, "
		 "generation %llu",
		 dp->pin_dir, dp->nkind[XDROP_KIND_RULE], dp->nkind[XDROP_KIND_WL],
		 (unsigned long long)dp->gen);
	return 0;
}

int dataplane_open(struct dataplane **out, const struct dataplane_opts *opts)
{
	struct dataplane *dp;
	struct stale st = {.stats = -1, .counters = -1};
	int err;

	*out = NULL;
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	for (int i = 0; i < XDROP_MAX_SLOT_CHUNKS; i++)
		dp->chunk_fd[i] = -1;
	dp->legacy_cfg = -1;
	dp_grace_init(dp);
	opts_init(dp, opts);
	dp->next_slot = 0;
	dp->next_id = 1; /* id 0 means "absent" */
	dp->ncpus = libbpf_num_possible_cpus();
	if (dp->ncpus <= 0) {
		err = dp->ncpus ? dp->ncpus : -EINVAL;
		goto fail;
	}
	err = skel_open(dp);
	if (!err && dp->o.pin_dir)
		err = pins_prepare(dp, &st);
	if (err)
		goto fail;
	err = xdrop__load(dp->skel);
	if (err) {
		log_error("load XDP program failed: %s%s", strerror(-err),
			  dp->adopted ? " (pinned maps incompatible with this build or "
					"capacities? remove them with xdrop-agent --detach)"
				      : "");
		goto fail;
	}
	if (dp->pinned && (err = pins_complete(dp, &st)))
		goto fail;
	err = state_start(dp);
	if (!err)
		err = dataplane_set_sample_every(dp, dp->sample_every);
	if (err)
		goto fail;
	stale_close(&st);
	*out = dp;
	return 0;
fail:
	stale_close(&st);
	dataplane_close(dp);
	return err;
}

int dataplane_unpin(struct dataplane *dp)
{
	char path[512];
	struct bpf_map *m;
	int err = 0;

	if (!dp->pinned)
		return 0;
	bpf_object__for_each_map(m, dp->skel->obj)
	{
		if (is_data_map(m) && bpf_map__is_pinned(m) && bpf_map__unpin(m, NULL))
			err = -errno;
	}
	snprintf(path, sizeof(path), "%s/xdrop_devmap", dp->pin_dir);
	if (unlink(path) && errno != ENOENT)
		err = -errno;
	if (rmdir(dp->pin_dir) && errno != ENOENT && errno != ENOTEMPTY)
		err = -errno;
	dp->pinned = false;
	return err;
}

int dataplane_unpin_dir(const char *pin_dir)
{
	struct dirent *d;
	char path[512];
	DIR *dir = opendir(pin_dir);
	int err = 0;

	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, d->d_name);
		if (unlink(path) && errno != ENOENT)
			err = -errno;
	}
	closedir(dir);
	if (rmdir(pin_dir) && errno != ENOENT)
		err = -errno;
	return err;
}

/* Frees the model's hash tables. */
static void model_free(struct dataplane *dp)
{
	struct dp_entry *e;
	size_t i;

	DP_FOR_ENTRIES(dp, e, i)
	{
		free(e);
	}
	ptab_free(&dp->entries);
	DP_HASH_FREE(dp->prefixes);
	DP_HASH_FREE(dp->pres);
	DP_HASH_FREE(dp->pvals);
}

void dataplane_close(struct dataplane *dp)
{
	if (!dp)
		return;
	/* switches waiting for their grace periods are cleaned up; a transaction begun and
	 * never retired: its switch stands, its cleanup is lost (the next open repairs) */
	dp_reap(dp, true);
	dp_grace_stop(dp);
	dp_retired_free(dp);
	if (dp->legacy_cfg >= 0)
		close(dp->legacy_cfg);
	dp_pagg_drop(&dp->tx.aggs);
	free(dp->tx.pl);
	model_free(dp);
	for (int i = 0; i < XDROP_MAX_SLOT_CHUNKS; i++)
		if (dp->chunk_fd[i] >= 0)
			close(dp->chunk_fd[i]);
	if (dp->genp)
		munmap(dp->genp, (size_t)sysconf(_SC_PAGESIZE));
	dp_plens_close(dp);
	xdrop__destroy(dp->skel);
	free(dp->by_id);
	free(dp->free_ids);
	free(dp->free_slots);
	free(dp);
}
