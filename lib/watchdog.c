// SPDX-License-Identifier: MIT
/*
 * watchdog: see watchdog.h.
 */
#include <errno.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "watchdog.h"

#define WD_SLOTS 16 /* closes watched at once; more run unwatched */

static _Atomic int64_t close_since[WD_SLOTS];
static char **saved_argv;
static unsigned exit_secs;
static int exit_code;

int64_t wd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Test hook: XDROP_FAULT_WEDGE_CLOSE=1 makes the process's first watched close hang for an
 * hour before closing, as the nng bug does. The variable is removed from the environment
 * first, so that the image wd_reexec() starts runs clean. */
static void fault_wedge(void)
{
	static atomic_bool checked;

	if (atomic_exchange(&checked, true) || !getenv("XDROP_FAULT_WEDGE_CLOSE"))
		return;
	unsetenv("XDROP_FAULT_WEDGE_CLOSE");
	log_warn("fault hook: this close hangs (XDROP_FAULT_WEDGE_CLOSE)");
	sleep(3600);
}

void wd_close(nng_socket sock)
{
	int slot = -1;

	for (int i = 0; i < WD_SLOTS && slot < 0; i++) {
		int64_t free_slot = 0;

		if (atomic_compare_exchange_strong(&close_since[i], &free_slot, wd_now_ms()))
			slot = i;
	}
	fault_wedge();
	nng_close(sock);
	if (slot >= 0)
		atomic_store(&close_since[slot], 0);
}

int64_t wd_stuck_ms(void)
{
	int64_t now = wd_now_ms(), worst = 0;

	for (int i = 0; i < WD_SLOTS; i++) {
		int64_t since = atomic_load(&close_since[i]);

		if (since && now - since > worst)
			worst = now - since;
	}
	return worst;
}

static void *exit_main(void *arg)
{
	(void)arg;
	sleep(exit_secs);
	log_error("still stopping after %u s (a close in the messaging library does not return):"
		  " exiting now",
		  exit_secs);
	_exit(exit_code);
	return NULL;
}

int wd_exit_after(unsigned secs, int code)
{
	pthread_t t;
	int rv;

	exit_secs = secs;
	exit_code = code;
	rv = pthread_create(&t, NULL, exit_main, NULL);
	if (rv)
		return -rv;
	pthread_detach(t);
	return 0;
}

void wd_save_argv(char **argv)
{
	saved_argv = argv;
}

int wd_reexec(void)
{
	if (!saved_argv)
		return -EINVAL;
	/* the new image opens its own sockets, maps and listeners */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC))
		return -errno;
	execv("/proc/self/exe", saved_argv);
	return -errno;
}
