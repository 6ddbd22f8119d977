/* SPDX-License-Identifier: MIT */
/*
 * static: the web UI's files from ui.dir (webui/dist), GET and HEAD only.
 *
 * Safety: a path is refused (400) if, after libmicrohttpd's percent-decoding, it holds a
 * ".." or "." segment, a backslash, a NUL or a control character; the file is then opened
 * with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) relative to the UI directory, so
 * neither ".." nor a symlink can leave it (a symlink inside it to a file inside it works),
 * and only regular files are served. Content types come from a table of extensions.
 * Caching: files under /assets/ carry content hashes in their names (Vite) and are
 * immutable for a year; everything else, index.html first, is revalidated (no-cache).
 * SPA fallback: a GET for a path without an extension that names no file gets index.html,
 * so that client-side routes (/rules, /nodes/n1) load the app.
 */
#ifndef XDROP_GW_STATIC_H
#define XDROP_GW_STATIC_H

#include "http.h"

int static_serve(struct http_request *rq, struct http_reply *rp);

#endif
