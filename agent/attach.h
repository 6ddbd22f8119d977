/* SPDX-License-Identifier: MIT */
/*
 * attach: puts the data plane's program on interfaces through bpf_link, in traditional
 * mode (one interface) or fast-forward mode (two interfaces bridged by XDP redirect).
 *
 * Links are pinned under the data plane's pin directory as link_<ifname>. Attaching where a
 * pinned link of ours exists replaces the program inside the link atomically
 * (bpf_link_update): no detach, no gap. A program that is not ours is refused unless
 * force is set. Closing the process leaves pinned links, and so filtering, in place.
 */
#ifndef XDROP_ATTACH_H
#define XDROP_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane.h"

enum attach_mode {
	ATTACH_NATIVE = 0,	      /* driver mode only */
	ATTACH_GENERIC = 1,	      /* skb mode only */
	ATTACH_NATIVE_OR_GENERIC = 2, /* native, generic if the driver refuses */
};

enum attach_filter {
	ATTACH_FILTER_INBOUND = 1,  /* frames arriving on the inbound interface */
	ATTACH_FILTER_OUTBOUND = 2, /* frames arriving on the outbound interface */
	ATTACH_FILTER_BOTH = 3,
};

/* Attaches (or adopts and upgrades) the program on ifname. On success *generic tells
 * whether skb mode was used. Returns 0, -ENODEV (no such interface), -EBUSY (a foreign
 * XDP program is there and force is false) or another negative errno. */
int attach_iface(struct dataplane *dp, const char *ifname, enum attach_mode mode, bool force,
		 bool *generic);

/* Fast-forward: attaches to both interfaces and bridges them; frames are filtered on the
 * side(s) named by filter. Returns 0 or a negative errno (nothing left attached by this
 * call on failure). */
int attach_fast_forward(struct dataplane *dp, const char *inbound, const char *outbound,
			enum attach_filter filter, enum attach_mode mode, bool force);

/* Detaches the program from ifname (the pinned link, or a link found on the interface).
 * Returns 0, or -ENOENT when none of ours is attached there. */
int attach_detach(struct dataplane *dp, const char *ifname);

/* Without a data plane (its pinned maps may not match the config any more): detaches the
 * link pinned as pin_dir/link_IFNAME and removes the pin. -ENOENT when there is none. */
int attach_detach_pinned(const char *pin_dir, const char *ifname);

/* The id of the XDP program on ifname (0 if none) and whether it is the data plane's. */
int attach_query(struct dataplane *dp, const char *ifname, uint32_t *prog_id, bool *ours);

#endif
