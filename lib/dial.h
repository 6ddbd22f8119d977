/* SPDX-License-Identifier: MIT */
/*
 * dial: a client connection that knows its own state and says why it has none.
 *
 * nng's dialer reconnects on its own but keeps its reasons to itself: a REQ call to a
 * server that refuses, that presents a certificate we do not accept, or that went away
 * waits out its whole timeout and ends as "no reply". A dial instead connects from its own
 * thread, one synchronous nng_dialer_start() per attempt (which returns that attempt's
 * error: NNG_ECONNREFUSED, NNG_ECRYPTO, ...), with a backoff from XDROP_DIAL_BACKOFF_MIN_MS
 * to XDROP_DIAL_BACKOFF_MAX_MS between attempts, and a pipe notification that tells it when
 * the connection is lost (it then dials again with a fresh dialer; nng's own reconnect
 * timer is set out of the way). Every failure becomes one sentence ("connection refused by
 * 127.0.0.1:7700", "TLS handshake with ... failed: the server's certificate does not
 * carry the name ...") that callers report as is.
 *
 * TLS failures: nng 1.5.2 reports a certificate that mbedTLS did not accept as one
 * NNG_ECRYPTO, whatever the reason. The dial then connects once more on a separate socket
 * with the same CA and certificate but optional verification and no name (nng's own
 * NNG_TLS_AUTH_MODE_OPTIONAL; the handshake is mbedTLS's) and reads NNG_OPT_TLS_VERIFIED
 * from that pipe: verified means the CA accepts the certificate, so the name was wrong;
 * not verified means the chain is not trusted (unknown CA, expired, not yet valid: mbedTLS
 * does not tell them apart through nng). A server that ends the handshake itself (it
 * demands a client certificate we lack or do not have from its CA, or it does not speak
 * TLS) is seen as the connection being shut; that is what the message says.
 *
 * Calls in flight register with dial_track(); when the connection is lost they are aborted
 * with NNG_ECONNSHUT and dial_untrack() says so, so a caller fails at once instead of at
 * its deadline.
 */
#ifndef XDROP_DIAL_H
#define XDROP_DIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "tls.h"

#define XDROP_DIAL_BACKOFF_MIN_MS 20
#define XDROP_DIAL_BACKOFF_MAX_MS 1000
#define XDROP_DIAL_MAX_WHY	  256 /* failure sentence, bytes with NUL */
/* a lost connection's dialer is closed, and the next one started, this long after the loss */
#define XDROP_DIAL_RETIRE_MS 50

struct dial;

/* A call waiting on the connection (owned by the caller, registered while it waits). */
struct dial_call {
	nng_aio *aio;
	bool lost;		      /* set when the connection was lost while it was tracked */
	char why[XDROP_DIAL_MAX_WHY]; /* then: the loss, in a sentence (a later reconnection
				       * attempt does not overwrite it) */
	struct dial_call *prev, *next;
};

/*
 * Starts connecting sock (a REQ, SUB, ... socket the dial then owns) to url. The TLS
 * options are borrowed and must outlive the dial. The dialer is configured here (bad TLS
 * settings fail now, -EINVAL/-ENOENT/...), the first attempt starts at once on the dial's
 * thread. Returns 0 and *out, or a negative errno; on failure sock is left open.
 */
int dial_open(struct dial **out, nng_socket sock, const char *url, const struct tls_opts *tls);

/*
 * Waits until the connection is up (returns 0), or an attempt that ended after this call
 * began failed (returns that error as a negative errno), or deadline_ms (CLOCK_MONOTONIC,
 * clock_mono_ms) passed (-ETIMEDOUT), or the dial is closing (-EBADF). On failure why (may be
 * NULL) receives the sentence.
 */
int dial_wait(struct dial *d, int64_t deadline_ms, char *why, size_t why_len);

/* Registers / unregisters a call in flight (see above). dial_untrack returns call->lost. */
void dial_track(struct dial *d, struct dial_call *call);
bool dial_untrack(struct dial *d, struct dial_call *call);

/* Stops dialing, closes the socket (aborting an attempt in progress) and frees d. */
void dial_close(struct dial *d);

/*
 * The sentence for a dial failure with nng error rv on url (no TLS diagnosis), e.g.
 * "connection refused by 127.0.0.1:7700". Exposed for tests and other dialers.
 */
void dial_explain(char *buf, size_t len, const char *url, const struct tls_opts *tls, int rv);

#endif
