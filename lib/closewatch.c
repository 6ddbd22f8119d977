// SPDX-License-Identifier: MIT
/*
 * closewatch: see closewatch.h. One slot per close in progress, claimed with a
 * compare-and-swap of its start time, so that neither closing nor asking ever blocks.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "closewatch.h"
#include "log.h"

#define SLOTS 16 /* closes watched at once */

static _Atomic int64_t close_since[SLOTS];

/* The fault hook (closewatch.h): hangs the first watched close of the process while the
 * file named by XDROP_FAULT_WEDGE_CLOSE exists, and removes the file. */
static void fault_wedge(void)
{
	static atomic_bool checked;
	const char *path;

	if (atomic_exchange(&checked, true))
		return;
	path = getenv(XDROP_FAULT_WEDGE_CLOSE_ENV);
	if (!path || !*path || unlink(path))
		return;
	log_warn("fault hook: this close hangs (%s)", XDROP_FAULT_WEDGE_CLOSE_ENV);
	sleep(3600);
}

void closewatch_close(nng_socket sock)
{
	int slot = -1;

	for (int i = 0; i < SLOTS && slot < 0; i++) {
		int64_t free_slot = 0;

		if (atomic_compare_exchange_strong(&close_since[i], &free_slot, clock_mono_ms()))
			slot = i;
	}
	fault_wedge();
	nng_close(sock);
	if (slot >= 0)
		atomic_store(&close_since[slot], 0);
}

int64_t closewatch_pending_ms(void)
{
	int64_t now = clock_mono_ms(), worst = 0;

	for (int i = 0; i < SLOTS; i++) {
		int64_t since = atomic_load(&close_since[i]);

		if (since && now - since > worst)
			worst = now - since;
	}
	return worst;
}
