// SPDX-License-Identifier: MIT
/*
 * static: the UI's files (see static.h for the rules on paths, types and caching).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "static.h"

#ifndef __NR_openat2
#define __NR_openat2 437
#endif

#define STATIC_MAX_PATH 1024

static const struct {
	const char *ext;
	const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".woff", "font/woff"},
    {".woff2", "font/woff2"},
    {".ttf", "font/ttf"},
    {".txt", "text/plain; charset=utf-8"},
    {".wasm", "application/wasm"},
    {".webmanifest", "application/manifest+json"},
};

static const char *type_of(const char *path)
{
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcasecmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

/* Refuses "." and ".." segments, backslashes and control characters. */
static bool path_ok(const char *p)
{
	const char *seg = p;

	if (*p != '/' || strlen(p) >= STATIC_MAX_PATH)
		return false;
	for (const unsigned char *c = (const unsigned char *)p; *c; c++)
		if (*c < 0x20 || *c == 0x7f || *c == '\\')
			return false;
	while (seg) {
		size_t n;

		seg++; /* past '/' */
		n = strcspn(seg, "/");
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		seg = strchr(seg, '/');
	}
	return true;
}

static int open_beneath(const char *dir, const char *rel)
{
	struct open_how how = {
	    .flags = O_RDONLY | O_CLOEXEC,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), fd, err;

	if (dfd < 0)
		return -errno;
	fd = (int)syscall(__NR_openat2, dfd, rel, &how, sizeof(how));
	err = fd < 0 ? -errno : 0;
	close(dfd);
	return fd < 0 ? err : fd;
}

/* Opens rel as a regular file; returns the fd or a negative errno. */
static int open_file(const char *dir, const char *rel, struct stat *st)
{
	int fd = open_beneath(dir, rel);

	if (fd < 0)
		return fd;
	if (fstat(fd, st) || !S_ISREG(st->st_mode)) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

int static_serve(struct http_request *rq, struct http_reply *rp)
{
	const char *dir = rq->gw->cfg->ui_dir;
	char rel[STATIC_MAX_PATH + 16];
	const char *last;
	struct stat st;
	int fd;

	if (!dir || !*dir)
		return http_error(rp, 404, NULL, "not found");
	if (!path_ok(rq->url))
		return http_error(rp, 400, NULL, "bad path");
	snprintf(rel, sizeof(rel), "%s", rq->url + 1);
	if (!rel[0] || rel[strlen(rel) - 1] == '/')
		strcat(rel, "index.html");
	fd = open_file(dir, rel, &st);
	last = strrchr(rel, '/');
	last = last ? last + 1 : rel;
	if (fd == -ENOENT && !strchr(last, '.')) {
		/* a client-side route of the single-page app */
		snprintf(rel, sizeof(rel), "index.html");
		fd = open_file(dir, rel, &st);
	}
	if (fd < 0)
		return http_error(rp, 404, NULL, "not found");
	rp->status = 200;
	rp->fd = fd;
	rp->fd_size = (uint64_t)st.st_size;
	rp->content_type = type_of(rel);
	rp->html = !strcmp(rp->content_type, types[0].type);
	rp->csp = rq->gw->cfg->ui_csp;
	rp->cache_control =
	    !strncmp(rel, "assets/", 7) ? "public, max-age=31536000, immutable" : "no-cache";
	return 0;
}
