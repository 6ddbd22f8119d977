// SPDX-License-Identifier: MIT
/*
 * dp_migrate: pinned maps left by a build with another layout, carried over to this one.
 *
 * Per-rule counters: builds before byte counting pinned xdrop_counters with 16-byte slot
 * counters (match, drop). The outer map itself looks the same (its values are map ids), but
 * the program is verified against the inner layout the outer map was created with, so it
 * cannot be reused. Instead, a new outer map is created at load; migration copies every
 * chunk's match and drop counts into new chunks at the same index (slot numbers, which the
 * pinned entries hold, stay valid; bytes start at zero) and pins the new outer map in
 * place of the old. Packets counted by the old program between the copy and the switch of
 * the attached program to the new one are not carried over. See dp_priv.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "dp_priv.h"
#include "log.h"

/* The value size of the chunk at index 0 of an outer counters map, or 0. */
static uint32_t chunk_value_size(int outer)
{
	struct bpf_map_info info = {0};
	uint32_t len = sizeof(info), zero = 0, id;
	int fd;

	if (bpf_map_lookup_elem(outer, &zero, &id))
		return 0;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.value_size = 0;
	close(fd);
	return info.value_size;
}

int dp_counters_stale_fd(const char *path)
{
	int fd = bpf_obj_get(path);
	uint32_t vsz;

	if (fd < 0)
		return -1;
	vsz = chunk_value_size(fd);
	if (vsz && vsz != sizeof(struct xdrop_slot_counters))
		return fd;
	close(fd);
	return -1;
}

/* Copies one old chunk (per-CPU values of vsz bytes, match and drop first) into new chunk
 * c of this data plane. */
static int chunk_migrate(struct dataplane *dp, int old_fd, uint32_t vsz, uint32_t c)
{
	size_t ncpu = (size_t)dp->ncpus, stride = (vsz + 7) & ~7u;
	struct xdrop_slot_counters *nv = calloc(ncpu, sizeof(*nv));
	uint8_t *ov = calloc(ncpu, stride);
	int err = 0;

	if (!nv || !ov) {
		err = -ENOMEM;
		goto out;
	}
	err = dp_chunk_create(dp, c);
	for (uint32_t k = 0; k < XDROP_SLOT_CHUNK && !err; k++) {
		bool any = false;

		if (bpf_map_lookup_elem(old_fd, &k, ov))
			continue;
		for (size_t cpu = 0; cpu < ncpu; cpu++) {
			const uint64_t *o = (const uint64_t *)(ov + cpu * stride);

			nv[cpu] = (struct xdrop_slot_counters){.match = o[0], .drop = o[1]};
			any |= o[0] || o[1];
		}
		/* new chunks start zeroed: only slots that counted something are written */
		if (any && bpf_map_update_elem(dp->chunk_fd[c], &k, nv, BPF_ANY))
			err = -errno;
	}
out:
	free(nv);
	free(ov);
	return err;
}

int dp_counters_migrate(struct dataplane *dp, int old_outer, const char *path)
{
	uint32_t vsz = chunk_value_size(old_outer), n = 0;
	int err = 0;

	if (vsz < 2 * sizeof(uint64_t))
		return -EINVAL;
	for (uint32_t c = 0; c < XDROP_MAX_SLOT_CHUNKS && !err; c++) {
		uint32_t id;
		int fd;

		if (bpf_map_lookup_elem(old_outer, &c, &id))
			continue;
		fd = bpf_map_get_fd_by_id(id);
		if (fd < 0)
			return -errno;
		err = chunk_migrate(dp, fd, vsz, c);
		close(fd);
		n++;
	}
	/* adoption takes the chunks from the new outer map, as from any pinned one */
	for (uint32_t c = 0; c < XDROP_MAX_SLOT_CHUNKS; c++) {
		if (dp->chunk_fd[c] >= 0)
			close(dp->chunk_fd[c]);
		dp->chunk_fd[c] = -1;
	}
	dp->nchunks = 0;
	if (err) {
		log_error("per-rule counters in %s: carrying over failed: %s", path,
			  strerror(-err));
		return err;
	}
	if (unlink(path) && errno != ENOENT) {
		err = -errno;
		log_error("replace %s failed: %s", path, strerror(errno));
		return err;
	}
	err = bpf_map__pin(dp->skel->maps.xdrop_counters, path);
	if (err) {
		log_error("pin %s failed: %s", path, strerror(-err));
		return err;
	}
	log_info("per-rule counters in %s (%u chunks of %u-byte slot counters) carried over to "
		 "the new layout",
		 path, n, vsz);
	return 0;
}

/*
 * The config of builds before the ring: xdrop_config, two buffers of 24 bytes read by
 * generation parity. The new program reads xdrop_cfgring, a map of another name, so both
 * coexist in the pin directory: until the program in every link has been replaced, the old
 * one keeps reading xdrop_config. So the old map is kept and every switch writes both (the
 * ring then waits for each grace period, as two buffers need); once no loaded program uses
 * it any more, and one grace period later (an instance of the old program may still be
 * running), it is unpinned and released. No switch is ever seen by one program and not by
 * the other, and filtering never stops.
 */
#define DP_LEGACY_CFG_SIZE 24

int dp_cfg_legacy_open(struct dataplane *dp)
{
	struct bpf_map_info info = {0};
	uint32_t len = sizeof(info), key = (uint32_t)(dp->gen & 1);
	struct xdrop_config c;
	char path[512];
	int fd, err = 0;

	if (!dp->pinned)
		return 0;
	snprintf(path, sizeof(path), "%s/xdrop_config", dp->pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	memset(&c, 0, sizeof(c));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.value_size != DP_LEGACY_CFG_SIZE ||
	    info.max_entries != 2 || bpf_map_lookup_elem(fd, &key, &c)) {
		log_warn("%s: not a two-buffer config of an older build; left alone", path);
		close(fd);
		return 0;
	}
	/* the active buffer (flags and sampling with it) becomes every slot of the ring */
	c.gen = dp->gen;
	for (key = 0; key < XDROP_CFG_SLOTS && !err; key++)
		if (bpf_map_update_elem(fd_of(dp->skel->maps.xdrop_cfgring), &key, &c, BPF_ANY))
			err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	dp->legacy_cfg = fd;
	log_info("pinned two-buffer config of an older build adopted: written beside the ring "
		 "until no program reads it");
	return 0;
}

/* Whether the loaded XDP program fd uses the map with id map_id. */
static bool prog_uses_map(int fd, uint32_t map_id)
{
	struct bpf_prog_info info = {0};
	uint32_t len = sizeof(info), ids[64];
	bool r = false;

	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_PROG_TYPE_XDP)
		return false;
	if (info.nr_map_ids > 64)
		return true; /* not ours; cannot tell: keep the map a while longer */
	uint32_t n = info.nr_map_ids;

	memset(&info, 0, sizeof(info));
	info.nr_map_ids = n;
	info.map_ids = (uint64_t)(uintptr_t)ids;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return true;
	for (uint32_t i = 0; i < n && !r; i++)
		r = ids[i] == map_id;
	return r;
}

void dp_cfg_legacy_poll(struct dataplane *dp)
{
	struct bpf_map_info info = {0};
	uint32_t len = sizeof(info), id = 0;
	char path[512];
	bool used = false;

	if (dp->legacy_cfg < 0)
		return;
	if (bpf_obj_get_info_by_fd(dp->legacy_cfg, &info, &len))
		return;
	while (!used && bpf_prog_get_next_id(id, &id) == 0) {
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		used = prog_uses_map(fd, info.id);
		close(fd);
	}
	if (used || dp_grace_period(dp))
		return;
	snprintf(path, sizeof(path), "%s/xdrop_config", dp->pin_dir);
	if (unlink(path) && errno != ENOENT)
		log_warn("unpin %s: %s", path, strerror(errno));
	close(dp->legacy_cfg);
	dp->legacy_cfg = -1;
	log_info("two-buffer config of an older build released: no program reads it any more");
}
