/* SPDX-License-Identifier: MIT */
/*
 * rpc_priv: what the parts of the RPC module (rpc.c: codes; rpc_server.c; rpc_client.c)
 * share and nobody else uses.
 */
#ifndef XDROP_RPC_PRIV_H
#define XDROP_RPC_PRIV_H

#include <stdint.h>

/* CLOCK_REALTIME in ms since the Unix epoch (deadline_unix_ms). */
int64_t rpc_unix_ms(void);

#endif
