// SPDX-License-Identifier: MIT
/*
 * dp_ports: the program's settings that are not part of the rule set and take effect at
 * once, without a switch: the fast-forward port pairs (xdrop_ports, xdrop_devmap) and the
 * protected control flows (xdrop_protect, xdrop_protect_ports). Each has a flag in the
 * config that spares the program the lookup when unused; the flag lives in every config
 * slot, so that it survives every flip; so does the top-talker sampling rate. See
 * agent/dataplane.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "dp_priv.h"

struct flag_edit {
	uint32_t flag;
	bool on;
};

static void flag_edit(struct xdrop_config *c, void *arg)
{
	const struct flag_edit *f = arg;

	c->flags = (c->flags & ~f->flag) | (f->on ? f->flag : 0);
}

/* Sets or clears a flag (enum xdrop_cfg_flag) in every config slot. */
static int config_flag_set(struct dataplane *dp, uint32_t flag, bool on)
{
	struct flag_edit f = {.flag = flag, .on = on};

	return dp_config_edit(dp, flag_edit, &f);
}

static void every_edit(struct xdrop_config *c, void *arg)
{
	c->sample_every = *(const uint32_t *)arg;
}

/* Like the flags, the sampling rate lives in every slot; each is rewritten whole with its
 * other fields unchanged, so a packet reads either the old or the new rate. */
int dataplane_set_sample_every(struct dataplane *dp, uint32_t every)
{
	if (every > XDROP_MAX_SAMPLE_EVERY)
		return -EINVAL;
	__atomic_store_n(&dp->sample_every, every, __ATOMIC_RELAXED);
	return dp_config_edit(dp, every_edit, &every);
}

uint32_t dataplane_sample_every(const struct dataplane *dp)
{
	return __atomic_load_n(&dp->sample_every, __ATOMIC_RELAXED);
}

int dataplane_samples_fd(const struct dataplane *dp)
{
	return fd_of(dp->skel->maps.xdrop_samples);
}

int dataplane_set_port(struct dataplane *dp, uint32_t ifindex, uint32_t peer, bool filter)
{
	int pfd = fd_of(dp->skel->maps.xdrop_ports), dfd = fd_of(dp->skel->maps.xdrop_devmap);
	struct xdrop_port port = {.peer_ifindex = peer, .flags = filter ? XDROP_PORT_FILTER : 0};
	uint32_t key = 0;

	if (peer) {
		if (bpf_map_update_elem(dfd, &ifindex, &peer, BPF_ANY))
			return -errno;
		if (bpf_map_update_elem(pfd, &ifindex, &port, BPF_ANY))
			return -errno;
	} else {
		bpf_map_delete_elem(pfd, &ifindex);
		bpf_map_delete_elem(dfd, &ifindex);
	}
	return config_flag_set(dp, XDROP_CFG_FF, bpf_map_get_next_key(pfd, NULL, &key) == 0);
}

/* The port prefilter xdrop_protect_ports (xdrop_protect_word, xdrop_protect_bit). */
static int protect_ports_write(struct dataplane *dp, const struct xdrop_protect_val *vals, size_t n)
{
	int fd = fd_of(dp->skel->maps.xdrop_protect_ports), err = 0;
	uint64_t *words = calloc(XDROP_PROTECT_PORT_WORDS, sizeof(*words));
	uint16_t pp, lp;

	if (!words)
		return -ENOMEM;
	for (size_t j = 0; j < n; j++) {
		for (size_t q = 0; q < XDROP_PROTECT_PORTS; q++) {
			pp = ntohs(vals[j].peer_port[q]);
			lp = ntohs(vals[j].local_port[q]);
			if (pp)
				words[xdrop_protect_word(pp)] |= 1ull << xdrop_protect_bit(pp, 0);
			if (lp)
				words[xdrop_protect_word(lp)] |= 1ull << xdrop_protect_bit(lp, 1);
		}
	}
	for (uint32_t i = 0; i < XDROP_PROTECT_PORT_WORDS && !err; i++)
		if (bpf_map_update_elem(fd, &i, &words[i], BPF_ANY))
			err = -errno;
	free(words);
	return err;
}

int dataplane_set_protect(struct dataplane *dp, const struct xdrop_protect_key *keys,
			  const struct xdrop_protect_val *vals, size_t n)
{
	int fd = fd_of(dp->skel->maps.xdrop_protect);
	struct xdrop_protect_key k, next;
	size_t j;
	bool keep, more;
	int err;

	if (n > XDROP_MAX_PROTECT)
		return -E2BIG;
	for (j = 0; j < n; j++)
		if (bpf_map_update_elem(fd, &keys[j], &vals[j], BPF_ANY))
			return -errno;
	err = protect_ports_write(dp, vals, n);
	if (err)
		return err;
	/* drop what is no longer configured (restarted agent, other config) */
	for (more = bpf_map_get_next_key(fd, NULL, &k) == 0; more; k = next) {
		more = bpf_map_get_next_key(fd, &k, &next) == 0;
		keep = false;
		for (j = 0; j < n && !keep; j++)
			keep = memcmp(&keys[j], &k, sizeof(k)) == 0;
		if (!keep && bpf_map_delete_elem(fd, &k) && errno != ENOENT)
			return -errno;
	}
	return config_flag_set(dp, XDROP_CFG_PROTECT, n > 0);
}
