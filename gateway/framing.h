/* SPDX-License-Identifier: MIT */
/*
 * framing: the HTTP/1.1 framing checks that libmicrohttpd (0.9.75, Debian 12) leaves to the
 * application, so that the gateway answers them with its JSON error body (400, naming the
 * header) before it reads a byte of the body.
 *
 * Refused here: an HTTP/1.1 request without a Host header, or with more than one; more
 * than one Content-Length header (libmicrohttpd uses the first, a proxy in front may use
 * another: request smuggling); Content-Length together with Transfer-Encoding; a
 * Transfer-Encoding other than a single "chunked" (libmicrohttpd would wait for a body it
 * cannot delimit); a request line whose percent-decoded path or query holds a NUL ("%00"),
 * which the C strings libmicrohttpd hands on would silently cut ("/rules/ID%00x" would act
 * on rule ID).
 *
 * Answered by libmicrohttpd itself, with its own short HTML body, before the gateway sees
 * the request (0.9.75 has no hook to replace them): a Content-Length that is not a number
 * (400), chunked encoding that does not parse (400), a header line without a colon (400),
 * a request line or headers larger than http.header_max (431, or 414 for the URI), an
 * HTTP version other than 1.0 and 1.1 (505). docs/api.md lists both sets.
 */
#ifndef XDROP_GATEWAY_FRAMING_H
#define XDROP_GATEWAY_FRAMING_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

/*
 * Checks the headers of the request on c (version as libmicrohttpd passes it). Returns 0,
 * or -EINVAL with *field set to the header at fault and *why to a static reason.
 */
int framing_check(struct MHD_Connection *c, const char *version, const char **field,
		  const char **why);

/*
 * Percent-decodes s in place as MHD_http_unescape does and returns the decoded length;
 * *nul is set when the decoded text holds a NUL before that length. For
 * MHD_OPTION_UNESCAPE_CALLBACK wrappers.
 */
size_t framing_unescape(char *s, bool *nul);

#endif
