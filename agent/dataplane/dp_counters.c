// SPDX-License-Identifier: MIT
/*
 * dp_counters: the counters the program keeps, summed over CPUs (the global counters, one
 * entry's match and drop counts, every slot's in bulk), and what the kernel says about the
 * program (memory of its maps, instructions the verifier processed). See
 * agent/dataplane.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "dp_priv.h"

int dataplane_counters(const struct dataplane *dp, uint64_t out[XDROP_NCOUNTERS])
{
	struct xdrop_stats *v = calloc((size_t)dp->ncpus, sizeof(*v));
	uint32_t zero = 0;
	int err = 0;

	if (!v)
		return -ENOMEM;
	memset(out, 0, sizeof(uint64_t) * XDROP_NCOUNTERS);
	if (bpf_map_lookup_elem(fd_of(dp->skel->maps.xdrop_stats), &zero, v)) {
		err = -errno;
	} else {
		for (int c = 0; c < dp->ncpus; c++)
			for (int i = 0; i < XDROP_NCOUNTERS; i++)
				out[i] += v[c].c[i];
	}
	free(v);
	return err;
}

/* Adds the per-CPU values v[0..ncpu) to *sum. */
static void slot_sum(struct xdrop_slot_counters *sum, const struct xdrop_slot_counters *v,
		     size_t ncpu)
{
	for (size_t c = 0; c < ncpu; c++) {
		sum->match += v[c].match;
		sum->drop += v[c].drop;
		sum->match_bytes += v[c].match_bytes;
		sum->drop_bytes += v[c].drop_bytes;
	}
}

int dataplane_entry_counters(const struct dataplane *dp, const struct rule_spec *spec,
			     struct xdrop_slot_counters *out)
{
	struct xdrop_slot_counters *v;
	uint32_t slot, chunk, idx;
	int err = dataplane_entry_slot(dp, spec, &slot);

	if (err)
		return err;
	chunk = slot >> XDROP_SLOT_CHUNK_BITS;
	idx = slot & (XDROP_SLOT_CHUNK - 1);
	v = calloc((size_t)dp->ncpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(dp->chunk_fd[chunk], &idx, v) == 0)
		slot_sum(out, v, (size_t)dp->ncpus);
	free(v);
	return 0;
}

/* Adds the counters of chunk c's slots from..min(from + max, lim) (one batch lookup) to
 * out[], out[0] being slot from of the chunk; keys and vals are the caller's buffers for
 * max slots. */
static int read_range(const struct dataplane *dp, uint32_t c, uint32_t from, uint32_t max,
		      size_t lim, uint32_t *keys, struct xdrop_slot_counters *vals,
		      struct xdrop_slot_counters *out)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	uint32_t in_batch = from - 1, out_batch, count = max;
	size_t ncpu = (size_t)dp->ncpus;

	if (dp->chunk_fd[c] < 0)
		return 0;
	/* an array's batch starts after in_batch (NULL: at 0) */
	if (bpf_map_lookup_batch(dp->chunk_fd[c], from ? &in_batch : NULL, &out_batch, keys, vals,
				 &count, &bo) &&
	    errno != ENOENT)
		return -errno;
	for (uint32_t i = 0; i < count; i++)
		if (keys[i] >= from && keys[i] < lim)
			slot_sum(&out[keys[i] - from], &vals[(size_t)i * ncpu], ncpu);
	return 0;
}

static int read_chunk(const struct dataplane *dp, uint32_t c, size_t lim, uint32_t *keys,
		      struct xdrop_slot_counters *vals, struct xdrop_slot_counters *out)
{
	return read_range(dp, c, 0, XDROP_SLOT_CHUNK, lim, keys, vals, out);
}

/* The slots of chunk c below n (next_slot as the caller read it: a change may hand out
 * more meanwhile, beyond the caller's buffer). */
static size_t chunk_len(size_t n, uint32_t c)
{
	size_t base = (size_t)c * XDROP_SLOT_CHUNK;

	return n <= base ? 0 : n - base < XDROP_SLOT_CHUNK ? n - base : XDROP_SLOT_CHUNK;
}

int dataplane_read_slots(const struct dataplane *dp, struct xdrop_slot_counters **out, size_t *n)
{
	size_t nslots = dp->next_slot, ncpu = (size_t)dp->ncpus;
	struct xdrop_slot_counters *vals = NULL, *sums;
	uint32_t *keys = NULL;
	int err = 0;

	sums = calloc(nslots + 1, sizeof(*sums));
	keys = calloc(XDROP_SLOT_CHUNK, sizeof(*keys));
	vals = calloc((size_t)XDROP_SLOT_CHUNK * ncpu, sizeof(*vals));
	if (!sums || !keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t c = 0; c < dp->nchunks && (size_t)c * XDROP_SLOT_CHUNK < nslots && !err; c++)
		err = read_chunk(dp, c, chunk_len(nslots, c), keys, vals,
				 sums + (size_t)c * XDROP_SLOT_CHUNK);
	if (err)
		goto out;
	*out = sums;
	*n = nslots;
	sums = NULL;
out:
	free(sums);
	free(keys);
	free(vals);
	return err;
}

size_t dataplane_slot_count(const struct dataplane *dp)
{
	return dp->next_slot;
}

int dataplane_read_slot_range(const struct dataplane *dp, size_t first, size_t max,
			      struct xdrop_slot_counters *out, size_t *n)
{
	uint32_t c = (uint32_t)(first / XDROP_SLOT_CHUNK), from = first % XDROP_SLOT_CHUNK;
	size_t lim = c < dp->nchunks ? chunk_len(dp->next_slot, c) : 0;
	struct xdrop_slot_counters *vals;
	uint32_t *keys;
	int err = 0;

	*n = 0;
	if (lim <= from)
		return 0;
	if (max > lim - from)
		max = lim - from;
	keys = calloc(max, sizeof(*keys));
	vals = calloc(max * (size_t)dp->ncpus, sizeof(*vals));
	if (!keys || !vals)
		err = -ENOMEM;
	memset(out, 0, max * sizeof(*out));
	if (!err)
		err = read_range(dp, c, from, (uint32_t)max, from + max, keys, vals, out);
	if (!err)
		*n = max;
	free(keys);
	free(vals);
	return err;
}

void dataplane_capacity(const struct dataplane *dp, struct dataplane_capacity *out)
{
	out->exact_used = dp->ntable[TBL_EXACT];
	out->exact_max = dp->o.max_exact;
	out->cidr_used = dp->ntable[TBL_CIDR];
	out->cidr_max = dp->o.max_cidr;
	out->rate_used = dp->nrate;
	out->rate_max = dp->o.max_rate;
}

/* A numeric field of /proc/self/fdinfo/<fd>. */
static int fdinfo_u64(int fd, const char *field, uint64_t *out)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	FILE *f;
	int err = -ENOENT;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			*out = strtoull(line + flen + 1, NULL, 10);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

int dataplane_memlock(const struct dataplane *dp, uint64_t *bytes)
{
	struct bpf_map *m;
	uint64_t v;

	*bytes = 0;
	bpf_object__for_each_map(m, dp->skel->obj)
	{
		if (fdinfo_u64(bpf_map__fd(m), "memlock", &v) == 0)
			*bytes += v;
	}
	for (uint32_t c = 0; c < dp->nchunks; c++)
		if (dp->chunk_fd[c] >= 0 && fdinfo_u64(dp->chunk_fd[c], "memlock", &v) == 0)
			*bytes += v;
	return 0;
}

int dataplane_verified_insns(const struct dataplane *dp, uint32_t *insns)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(dataplane_prog_fd(dp), &info, &len))
		return -errno;
	*insns = info.verified_insns;
	return 0;
}
