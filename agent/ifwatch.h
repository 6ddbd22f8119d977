/* SPDX-License-Identifier: MIT */
/*
 * ifwatch: the agent's attachment to its interface(s) and the watch that keeps it. It
 * attaches the data plane's program (agent/attach.h) in the configured mode, remembers
 * the interfaces' indexes, and, checked once a second from the housekeeping loop, notices
 * an interface that vanished (filtering on it stopped, reported) and one that came back
 * or was re-created with a new index (attached again). It also answers what the beacons
 * and GetStats report about the attachment (Xdrop__V1__AttachState).
 */
#ifndef XDROP_IFWATCH_H
#define XDROP_IFWATCH_H

#include <stddef.h>

#include "agent_config.h"
#include "dataplane.h"
#include "xdrop.pb-c.h"

struct ifwatch;

/* Makes the watch for the configured interface(s). cfg, dp and protected_flows[0..n) are
 * borrowed and must outlive it. Returns 0 with *out set, or -ENOMEM. Nothing is attached
 * yet. */
int ifwatch_open(struct ifwatch **out, struct dataplane *dp, const struct agent_config *cfg,
		 char **protected_flows, size_t n_protected_flows);

/* Frees w (NULL is fine). The program stays attached (pinned links). */
void ifwatch_close(struct ifwatch *w);

/* Attaches the program now. Returns 0 or the negative errno of attach_iface or
 * attach_fast_forward (-EBUSY: a foreign program is there; -EINVAL: an impossible
 * request); the state records the outcome either way. */
int ifwatch_attach(struct ifwatch *w);

/* One round of the watch: a missing interface is reported once, a new index or a failed
 * attachment is attached again. */
void ifwatch_check(struct ifwatch *w);

/* The first (traditional mode: only) and second (fast-forward outbound) interface. */
const char *ifwatch_iface(const struct ifwatch *w, int i);

/* Fills *a with the attachment's state; arg is the struct ifwatch. Its strings stay valid
 * until the calling thread's next call. Safe from any thread. */
void ifwatch_fill(void *arg, Xdrop__V1__AttachState *a);

#endif
