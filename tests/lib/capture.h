/* SPDX-License-Identifier: MIT */
/*
 * capture: what a test reads back from files: stderr sent to a file while a test runs (to
 * check the log lines a module writes) and a whole small file as a string.
 */
#ifndef XDROP_TEST_CAPTURE_H
#define XDROP_TEST_CAPTURE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define CAPTURE_MAX (1 << 20) /* bytes capture_slurp reads at most */

/* The file at path (its first CAPTURE_MAX - 1 bytes) as a NUL-terminated malloc'd string;
 * NULL when it cannot be read. */
static inline char *capture_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = f ? calloc(1, CAPTURE_MAX) : NULL;

	if (buf)
		buf[fread(buf, 1, CAPTURE_MAX - 1, f)] = '\0';
	if (f)
		fclose(f);
	return buf;
}

/* Sends stderr to the file at path (truncated) from now on. Returns the descriptor that
 * capture_end takes to put stderr back, or -1. */
static inline int capture_stderr(const char *path)
{
	int saved, fd;

	fflush(stderr);
	saved = dup(2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (saved < 0 || fd < 0 || dup2(fd, 2) < 0) {
		if (saved >= 0)
			close(saved);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return saved;
}

static inline void capture_end(int saved)
{
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
}

#endif
