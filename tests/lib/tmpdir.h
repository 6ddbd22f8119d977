/* SPDX-License-Identifier: MIT */
/*
 * tmpdir: a cmocka group's scratch directory under /tmp, made by the group setup and
 * removed with everything in it by the group teardown.
 */
#ifndef XDROP_TEST_TMPDIR_H
#define XDROP_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

/* Makes /tmp/NAME-XXXXXX into dir (at least 64 bytes); 0 or -1. */
static inline int tmpdir_make(char *dir, size_t len, const char *name)
{
	snprintf(dir, len, "/tmp/%s-XXXXXX", name);
	return mkdtemp(dir) ? 0 : -1;
}

/* Removes dir and everything in it; 0 or -1. */
static inline int tmpdir_remove(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
