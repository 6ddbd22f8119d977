/* SPDX-License-Identifier: MIT */
/*
 * detach: `xdrop-agent --detach`, the only way filtering stops. Removes the program from
 * the configured interface(s) and the pins under pin_dir, through the data plane when it
 * opens with this config, else directly from the pinned links and maps (made for other
 * capacities or by another build).
 */
#ifndef XDROP_DETACH_H
#define XDROP_DETACH_H

#include "agent_config.h"

/* Detaches and unpins for the config c (borrowed). Returns the process exit status: 0
 * when all is gone (or was not there), 2 when something could not be removed (logged). */
int detach_run(const struct agent_config *c);

#endif
