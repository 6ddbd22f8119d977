// SPDX-License-Identifier: MIT
/*
 * framing: HTTP framing checks left to the application; see framing.h.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "framing.h"

struct header_count {
	unsigned host, content_length, transfer_encoding;
	const char *te;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	struct header_count *h = cls;

	(void)kind;
	if (!strcasecmp(key, MHD_HTTP_HEADER_HOST)) {
		h->host++;
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
		h->content_length++;
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		h->transfer_encoding++;
		h->te = value;
	}
	return MHD_YES;
}

static int refuse(const char **field, const char **why, const char *f, const char *w)
{
	*field = f;
	*why = w;
	return -EINVAL;
}

int framing_check(struct MHD_Connection *c, const char *version, const char **field,
		  const char **why)
{
	struct header_count h = {0};

	MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &h);
	if (h.host == 0 && version && !strcmp(version, MHD_HTTP_VERSION_1_1))
		return refuse(field, why, "Host", "an HTTP/1.1 request needs a Host header");
	if (h.host > 1)
		return refuse(field, why, "Host", "more than one Host header");
	if (h.content_length > 1)
		return refuse(field, why, "Content-Length", "more than one Content-Length header");
	if (h.transfer_encoding && h.content_length)
		return refuse(field, why, "Transfer-Encoding",
			      "Content-Length and Transfer-Encoding in one request");
	if (h.transfer_encoding > 1 || (h.transfer_encoding && strcasecmp(h.te, "chunked")))
		return refuse(field, why, "Transfer-Encoding",
			      "the only transfer coding accepted is a single \"chunked\"");
	return 0;
}

size_t framing_unescape(char *s, bool *nul)
{
	size_t n = MHD_http_unescape(s);

	*nul = strlen(s) != n;
	return n;
}
