// SPDX-License-Identifier: MIT
/*
 * detach: `xdrop-agent --detach`; see detach.h.
 */
#include <errno.h>
#include <string.h>

#include "attach.h"
#include "dataplane.h"
#include "detach.h"
#include "log.h"

int detach_run(const struct agent_config *c)
{
	struct dataplane_opts o;
	struct dataplane *dp = NULL;
	int err, rc = 0;

	agent_config_dp_opts(c, &o);
	err = dataplane_open(&dp, &o);
	if (err) {
		/* pinned maps made for other capacities or another build: remove the pinned
		 * links and maps directly, without loading anything */
		log_warn("data plane in %s cannot be opened with this config (%s): removing its "
			 "pinned links and maps directly",
			 c->pin_dir, strerror(-err));
		dp = NULL;
	}
	for (int i = 0; i < (c->fast_forward ? 2 : 1); i++) {
		const char *ifn = c->fast_forward ? (i ? c->outbound : c->inbound) : c->interface;

		err = dp ? attach_detach(dp, ifn) : attach_detach_pinned(c->pin_dir, ifn);
		if (err && err != -ENOENT) {
			log_error("detach from %s: %s", ifn, strerror(-err));
			rc = 2;
		} else {
			log_info("detached from %s", ifn);
		}
	}
	err = dp ? dataplane_unpin(dp) : dataplane_unpin_dir(c->pin_dir);
	if (err) {
		log_error("remove pins in %s: %s", c->pin_dir, strerror(-err));
		rc = 2;
	}
	dataplane_close(dp);
	return rc;
}
