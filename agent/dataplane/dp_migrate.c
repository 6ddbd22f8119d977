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
