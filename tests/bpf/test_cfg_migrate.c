// SPDX-License-Identifier: MIT
/*
 * test_cfg_migrate: an agent of this build that finds the pins of a build with two config
 * buffers (xdrop_config, read by generation parity) adopts them without a moment where
 * filtering stops (dp_migrate.c, docs/dataplane.md "Pinning, restart, upgrade").
 *
 * The older build's pins are made from this build's: the ring's pin is removed and a
 * two-buffer xdrop_config holding the active config is pinned in its place. The older
 * program is stood in for by a program loaded here that reads what the old one read (the
 * generation word, then xdrop_config[gen & 1]) and drops when an exact rule is active, so
 * it holds the old map as the old program does. Then a new data plane opens the pins and:
 * both programs keep dropping the probe; a delete and a re-create are seen by both (every
 * switch writes the old map too, its active buffer equal to the ring's slot); once the
 * stand-in is unloaded, the next switch releases the old map (its pin goes) and the new
 * program still drops.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <cmocka.h>
#include <linux/bpf.h>

#include "log.h"
#include "testdp.h"

#define LEGACY_SIZE 24 /* the older struct xdrop_config */

static char pin_dir[128];

static struct dataplane *open_pinned(void)
{
	struct dataplane_opts o = {.sz = sizeof(o), .pin_dir = pin_dir};
	struct dataplane *dp = NULL;

	assert_int_equal(dataplane_open(&dp, &o), 0);
	return dp;
}

static int pin_fd(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	return bpf_obj_get(path);
}

static bool pinned(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	return access(path, F_OK) == 0;
}

static void unpin(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	assert_int_equal(unlink(path), 0);
}

static uint64_t pinned_gen(void)
{
	int fd = pin_fd("xdrop_gen");
	uint32_t zero = 0;
	uint64_t gen = 0;

	assert_true(fd >= 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &zero, &gen), 0);
	close(fd);
	return gen;
}

/* The ring's slot of the active generation, read through its pin (fd: the ring map). */
static void ring_active(int fd, struct xdrop_config *c)
{
	uint32_t key = (uint32_t)(pinned_gen() & (XDROP_CFG_SLOTS - 1));

	assert_int_equal(bpf_map_lookup_elem(fd, &key, c), 0);
}

#define INSN(c, d, s, o, i)                                                                        \
	((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

/* r0 = bpf_map_lookup_elem(map fd, r10 + off) */
#define LOOKUP(fd, off)                                                                            \
	INSN(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0), \
	    INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),                        \
	    INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, off),                               \
	    INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem)

/* The older program's config read: xdrop_config[xdrop_gen[0] & 1]; drop when an exact
 * rule is active, else pass. */
static int load_old_reader(int gen_fd, int cfg_fd)
{
	const struct bpf_insn prog[] = {
	    INSN(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -4, 0),
	    LOOKUP(gen_fd, -4),
	    INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 13, 0), /* -> pass */
	    INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_6, BPF_REG_0, 0, 0),
	    INSN(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_6, 0, 0, 1),
	    INSN(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_6, -8, 0),
	    LOOKUP(cfg_fd, -8),
	    INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 4, 0), /* -> pass */
	    INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_1, BPF_REG_0,
		 offsetof(struct xdrop_config, exact_active[XDROP_KIND_RULE]), 0),
	    INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_1, 0, 2, 0), /* -> pass */
	    INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, XDP_DROP),
	    INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	    INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, XDP_PASS), /* pass */
	    INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xdrop_old", "GPL", prog,
			       sizeof(prog) / sizeof(prog[0]), NULL);

	assert_true(fd >= 0);
	return fd;
}

/* Makes the pins those of the two-buffer build; returns the old map's fd. */
static int pins_to_two_buffers(void)
{
	struct xdrop_config c;
	int ring = pin_fd("xdrop_cfgring"), old;
	char path[256];

	assert_true(ring >= 0);
	ring_active(ring, &c);
	close(ring);
	unpin("xdrop_cfgring");
	unpin("xdrop_seen_cfg");
	old = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xdrop_config", 4, LEGACY_SIZE, 2, NULL);
	assert_true(old >= 0);
	for (uint32_t k = 0; k < 2; k++)
		assert_int_equal(bpf_map_update_elem(old, &k, &c, BPF_ANY), 0);
	snprintf(path, sizeof(path), "%s/xdrop_config", pin_dir);
	assert_int_equal(bpf_obj_pin(old, path), 0);
	return old;
}

static int verdict(int prog_fd)
{
	struct pkt_desc d = {
	    .src = "192.0.2.1", .dst = "198.51.100.1", .proto = 17, .sport = 7, .dport = 53};
	uint8_t frame[PKT_MAX];
	int len = pkt_build(&d, frame);

	assert_true(len > 0);
	return pkt_run(prog_fd, frame, (size_t)len);
}

static void change(struct dataplane *dp, const char *line, bool put)
{
	struct dp_change c = {.op = put ? DP_PUT : DP_DEL};

	assert_int_equal(testdp_spec(line, &c.spec), 0);
	assert_int_equal(dataplane_apply_begin(dp, &c, 1, NULL), 0);
	dataplane_apply_retire(dp);
}

/* The old map's active buffer is the ring's active slot (its first 24 bytes). */
static void assert_mirrored(struct dataplane *dp, int old)
{
	struct xdrop_config c, o;
	uint32_t key = (uint32_t)(pinned_gen() & 1);
	int ring = pin_fd("xdrop_cfgring");

	assert_true(ring >= 0);
	ring_active(ring, &c);
	close(ring);
	memset(&o, 0, sizeof(o));
	assert_int_equal(bpf_map_lookup_elem(old, &key, &o), 0);
	assert_memory_equal(&c, &o, LEGACY_SIZE);
	(void)dp;
}

static void two_buffer_pins_adopted_without_gap(void **state)
{
	const char *rule = "dst_ip=198.51.100.1 action=drop";
	struct dataplane *dp = open_pinned();
	int old, gen_fd, old_prog;

	(void)state;
	change(dp, rule, true);
	dataplane_close(dp);
	old = pins_to_two_buffers();
	gen_fd = pin_fd("xdrop_gen");
	assert_true(gen_fd >= 0);
	old_prog = load_old_reader(gen_fd, old);
	close(gen_fd);
	assert_int_equal(verdict(old_prog), XDP_DROP);

	/* the new build opens the older pins: both programs filter throughout */
	dp = open_pinned();
	assert_int_equal(verdict(old_prog), XDP_DROP);
	assert_int_equal(verdict(dataplane_prog_fd(dp)), XDP_DROP);
	assert_true(pinned("xdrop_config"));
	change(dp, rule, false);
	assert_int_equal(verdict(old_prog), XDP_PASS);
	assert_int_equal(verdict(dataplane_prog_fd(dp)), XDP_PASS);
	change(dp, rule, true);
	assert_int_equal(verdict(old_prog), XDP_DROP);
	assert_int_equal(verdict(dataplane_prog_fd(dp)), XDP_DROP);
	assert_mirrored(dp, old);
	assert_true(pinned("xdrop_config")); /* still read by a loaded program */

	/* the old program is gone (its link now runs the new one): the old map goes */
	close(old_prog);
	change(dp, "dst_ip=198.51.100.2 action=drop", true);
	assert_false(pinned("xdrop_config"));
	assert_int_equal(verdict(dataplane_prog_fd(dp)), XDP_DROP);
	close(old);
	dataplane_close(dp);

	/* and the next open finds a pin directory of this build */
	dp = open_pinned();
	assert_int_equal(dataplane_count(dp, XDROP_KIND_RULE), 2);
	assert_int_equal(verdict(dataplane_prog_fd(dp)), XDP_DROP);
	dataplane_close(dp);
}

static int cleanup(void **state)
{
	(void)state;
	dataplane_unpin_dir(pin_dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(two_buffer_pins_adopted_without_gap),
	};

	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/xdrop-test-cfgmig-%d", (int)getpid());
	log_route_libbpf();
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests_name("cfg_migrate", tests, NULL, cleanup);
}
