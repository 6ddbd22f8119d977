// SPDX-License-Identifier: MIT
/*
 * ifwatch: the attachment and the interface watch; see ifwatch.h.
 */
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "ifwatch.h"
#include "log.h"

struct ifwatch {
	pthread_mutex_t lock;
	struct dataplane *dp;
	const struct agent_config *cfg;
	bool attached, generic;
	char error[256];
	unsigned ifindex[2];
	const char *ifaces[2];
	char **protected_flows; /* fixed after start-up */
	size_t n_protected_flows;
};

int ifwatch_open(struct ifwatch **out, struct dataplane *dp, const struct agent_config *cfg,
		 char **protected_flows, size_t n_protected_flows)
{
	struct ifwatch *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	w->dp = dp;
	w->cfg = cfg;
	w->ifaces[0] = cfg->fast_forward ? cfg->inbound : cfg->interface;
	w->ifaces[1] = cfg->fast_forward ? cfg->outbound : NULL;
	w->protected_flows = protected_flows;
	w->n_protected_flows = n_protected_flows;
	*out = w;
	return 0;
}

void ifwatch_close(struct ifwatch *w)
{
	if (!w)
		return;
	pthread_mutex_destroy(&w->lock);
	free(w);
}

const char *ifwatch_iface(const struct ifwatch *w, int i)
{
	return w->ifaces[i];
}

static int nifaces(const struct ifwatch *w)
{
	return w->cfg->fast_forward ? 2 : 1;
}

void ifwatch_fill(void *arg, Xdrop__V1__AttachState *a)
{
	struct ifwatch *w = arg;
	const struct agent_config *c = w->cfg;
	static __thread char err_copy[256];

	pthread_mutex_lock(&w->lock);
	a->mode = c->fast_forward ? "fast_forward" : "traditional";
	a->interfaces = (char **)w->ifaces;
	a->n_interfaces = (size_t)nifaces(w);
	a->xdp_mode = w->generic ? "generic" : "native";
	a->attached = w->attached;
	snprintf(err_copy, sizeof(err_copy), "%s", w->error);
	a->error = err_copy;
	a->direction = !c->fast_forward				? ""
		       : c->filter_on == ATTACH_FILTER_BOTH	? "both"
		       : c->filter_on == ATTACH_FILTER_OUTBOUND ? "outbound"
								: "inbound";
	a->protected_flows = w->protected_flows;
	a->n_protected_flows = w->n_protected_flows;
	pthread_mutex_unlock(&w->lock);
}

int ifwatch_attach(struct ifwatch *w)
{
	const struct agent_config *c = w->cfg;
	bool generic = false;
	int err;

	if (c->fast_forward)
		err = attach_fast_forward(w->dp, c->inbound, c->outbound, c->filter_on, c->xdp_mode,
					  c->force);
	else
		err = attach_iface(w->dp, c->interface, c->xdp_mode, c->force, &generic);
	pthread_mutex_lock(&w->lock);
	w->attached = err == 0;
	w->generic = generic || c->xdp_mode == ATTACH_GENERIC;
	snprintf(w->error, sizeof(w->error), "%s", err ? strerror(-err) : "");
	for (int i = 0; i < nifaces(w); i++)
		w->ifindex[i] = if_nametoindex(w->ifaces[i]);
	pthread_mutex_unlock(&w->lock);
	return err;
}

void ifwatch_check(struct ifwatch *w)
{
	bool missing = false, changed = false;

	for (int i = 0; i < nifaces(w); i++) {
		unsigned idx = if_nametoindex(w->ifaces[i]);

		if (!idx)
			missing = true;
		else if (idx != w->ifindex[i])
			changed = true;
	}
	if (missing) {
		pthread_mutex_lock(&w->lock);
		if (w->attached)
			log_warn("interface gone: filtering on it stopped until it comes back");
		w->attached = false;
		snprintf(w->error, sizeof(w->error), "interface missing");
		for (int i = 0; i < 2; i++)
			w->ifindex[i] = 0;
		pthread_mutex_unlock(&w->lock);
		return;
	}
	if (changed || !w->attached) {
		if (ifwatch_attach(w) == 0)
			log_info("interface back: program attached again");
	}
}
