/* SPDX-License-Identifier: MIT */
/*
 * limiter: failed-credential counting per source address, in bounded memory.
 *
 * Used by the gateway (every credential: X-API-Key, Authorization: Bearer, the session
 * cookie, POST /api/auth/login) and by the controller's RPC (every auth token). A source
 * is an IPv4 address, or an IPv6 /64 (one host usually owns a whole /64, so counting
 * single IPv6 addresses would give it 2^64 budgets). Each source may fail `attempts` times
 * per `window_s` seconds (a fixed window opened by its first failure); then every call
 * from it that carries a credential is refused, valid or not, until the window closes
 * (answering valid credentials would turn the refusal into an oracle). Success does not
 * reset the count, so a holder of one key cannot interleave successes to guess another.
 *
 * Memory is one fixed table of `slots` entries, allocated at open. A slot is reused only
 * once its window has closed, never by eviction, so rotating through many addresses
 * cannot flush an attacker's counter. When every slot is taken, new sources share ONE
 * overflow bucket with the same limit: the whole world beyond the table gets `attempts`
 * failures per window together. An attacker spread over many addresses therefore gets at
 * most (slots + 1) * attempts guesses per window in all, and while the table is full a
 * newcomer that fails shares the overflow bucket's fate (sources already in the table keep
 * their own); this is the choice: a bounded total over fairness to newcomers.
 *
 * Thread-safe (one mutex). Lookup scans the table: with the default 4096 slots that is a
 * few microseconds, paid only by calls that carry a credential.
 */
#ifndef XDROP_LIMITER_H
#define XDROP_LIMITER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define XDROP_LIMITER_SLOTS    4096 /* default table size */
#define XDROP_LIMITER_ATTEMPTS 10   /* default failures per window per source */
#define XDROP_LIMITER_WINDOW_S 60

/* A source: IPv4 as IPv4-mapped IPv6, IPv6 masked to /64. */
struct limiter_src {
	uint8_t b[16];
};

struct limiter;

/* Returns 0 and *out (limiter_close), -EINVAL for a zero argument, -ENOMEM. */
int limiter_open(struct limiter **out, unsigned slots, unsigned attempts, unsigned window_s);
void limiter_close(struct limiter *l);

/* The source of a socket address (AF_INET / AF_INET6). -EAFNOSUPPORT for other families. */
int limiter_src_from_sockaddr(const struct sockaddr *sa, struct limiter_src *out);
/* The source of a textual address ("192.0.2.1", "2001:db8::1"). -EINVAL when not one. */
int limiter_src_from_text(const char *addr, struct limiter_src *out);

/* Whether src may present a credential now: 0, or -EAGAIN and *retry_s (>= 1). */
int limiter_check(struct limiter *l, const struct limiter_src *src, unsigned *retry_s);

/* Counts one failed credential from src. */
void limiter_fail(struct limiter *l, const struct limiter_src *src);

/* Slots in use (the rest are free or expired) and whether the overflow bucket is open. */
unsigned limiter_used(struct limiter *l, bool *overflow);

#endif
