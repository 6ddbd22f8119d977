// SPDX-License-Identifier: MIT
/*
 * dp_query: what the data plane holds, answered from the model (entry counts, every
 * entry's spec, an entry's slot) or from the kernel (the generation in use), the accessors
 * attach.c needs, and the test switches' support (the rate limiter's clock, the generation
 * a packet used). See agent/dataplane.h.
 */
#include <errno.h>
#include <stdlib.h>

#include <bpf/bpf.h>

#include "dp_priv.h"

size_t dataplane_count(const struct dataplane *dp, enum xdrop_kind kind)
{
	return kind < XDROP_NKINDS ? dp->nkind[kind] : 0;
}

int dataplane_foreach(const struct dataplane *dp, int (*fn)(const struct rule_spec *, void *),
		      void *arg)
{
	struct dp_entry *e;
	size_t tmp;
	struct rule_spec s;
	int r;

	DP_FOR_ENTRIES(dp, e, tmp)
	{
		if (e->gone)
			continue;
		dp_spec_of(e, &s);
		r = fn(&s, arg);
		if (r)
			return r;
	}
	return 0;
}

int dataplane_entry_slot(const struct dataplane *dp, const struct rule_spec *spec, uint32_t *slot)
{
	/* dp_entry_find writes nothing; it takes the handle the way lookups on it do */
	struct dp_entry *e = dp_entry_find((struct dataplane *)dp, spec);

	if (!e)
		return -ENOENT;
	*slot = e->act.slot;
	return 0;
}

uint64_t dataplane_gen(const struct dataplane *dp)
{
	return __atomic_load_n(&dp->genp->gen, __ATOMIC_ACQUIRE);
}

int dataplane_set_clock(struct dataplane *dp, uint64_t ns)
{
	uint32_t zero = 0;

	if (bpf_map_update_elem(fd_of(dp->skel->maps.xdrop_clock), &zero, &ns, BPF_ANY))
		return -errno;
	return 0;
}

/* Value of a per-CPU test map on one CPU. */
static int percpu_u64(const struct dataplane *dp, int fd, int cpu, uint64_t *out)
{
	uint64_t *v = calloc((size_t)dp->ncpus, sizeof(*v));
	uint32_t zero = 0;
	int err = 0;

	if (!v)
		return -ENOMEM;
	if (cpu < 0 || cpu >= dp->ncpus)
		err = -EINVAL;
	else if (bpf_map_lookup_elem(fd, &zero, v))
		err = -errno;
	else
		*out = v[cpu];
	free(v);
	return err;
}

int dataplane_seen_gen(const struct dataplane *dp, int cpu, uint64_t *gen)
{
	return percpu_u64(dp, fd_of(dp->skel->maps.xdrop_seen), cpu, gen);
}

int dataplane_seen_cfg_gen(const struct dataplane *dp, int cpu, uint64_t *gen)
{
	return percpu_u64(dp, fd_of(dp->skel->maps.xdrop_seen_cfg), cpu, gen);
}

int dataplane_prog_fd(const struct dataplane *dp)
{
	return bpf_program__fd(dp->skel->progs.xdrop_main);
}

const char *dataplane_pin_dir(const struct dataplane *dp)
{
	return dp->pinned ? dp->pin_dir : NULL;
}

bool dataplane_adopted(const struct dataplane *dp)
{
	return dp->adopted;
}
