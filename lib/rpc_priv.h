/* SPDX-License-Identifier: MIT */
/*
 * rpc_priv: what the two halves of the RPC module (rpc.c: codes and client; rpc_server.c:
 * server) share and nobody else uses.
 */
#ifndef XDROP_RPC_PRIV_H
#define XDROP_RPC_PRIV_H

#include <stdint.h>

#include "tls.h"

/* CLOCK_REALTIME in ms since the Unix epoch (deadline_unix_ms). */
int64_t rpc_unix_ms(void);

/* Copies src into dst with its own copies of the strings, kept in strings[] and freed with
 * rpc_tls_free(strings) (also after a failure). Returns 0 or -ENOMEM. */
int rpc_tls_copy(struct tls_opts *dst, char *strings[5], const struct tls_opts *src);
void rpc_tls_free(char *strings[5]);

#endif
