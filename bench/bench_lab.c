// SPDX-License-Identifier: MIT
/*
 * bench_lab: the programs of the veth drop-rate lab (bench/run.sh sets up the namespaces).
 *
 *   bench_lab gen IFNAME SECONDS SRC DST [L1 L2]
 *       In-kernel generator: BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES on a
 *       four-instruction program that redirects every frame to IFNAME, so frames leave
 *       through the veth's ndo_xdp_xmit without the socket layer; where the kernel refuses
 *       live-frames runs (EPERM), frames circling the veth pair L1-L2 (loop_gen), or without
 *       L1 L2 an AF_PACKET socket on IFNAME (packet_gen). Sends a
 *       64-byte UDP frame (60 bytes + FCS) from SRC to DST for SECONDS, then prints the
 *       offered rate and which generator sent it.
 *   bench_lab drop IFNAME
 *       Attaches a trivial XDP_DROP program natively and holds it until SIGTERM/SIGINT.
 *   bench_lab xdrop IFNAME NRULES
 *       Opens the XDrop data plane, loads the one-shape set of NRULES source-address drop
 *       rules (bench/benchset.h), attaches natively with attach_iface and holds it. On
 *       SIGUSR1 prints "counters <ns> <rx> <dropped>" (XDrop's global counters); detaches
 *       on SIGTERM/SIGINT.
 *   bench_lab nft-set NRULES TABLE SET
 *       Prints nft "add element" commands for the same NRULES source addresses.
 *
 * Holders print "ready <pid>" on stdout once attached.
 */
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "benchset.h"
#include "dataplane.h"
#include "log.h"
#include "pkt.h"

static volatile sig_atomic_t stop, dump;

static void on_stop(int sig)
{
	stop = 1;
}

static void on_dump(int sig)
{
	dump = 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void signals(void)
{
	struct sigaction sa = {.sa_handler = on_stop};

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_dump;
	sigaction(SIGUSR1, &sa, NULL);
}

static int ifindex_of(const char *name)
{
	unsigned idx = if_nametoindex(name);

	if (!idx) {
		fprintf(stderr, "bench_lab: no interface %s\n", name);
		return -ENODEV;
	}
	return (int)idx;
}

static int prog_load(const struct bpf_insn *insns, size_t n, const char *name)
{
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, name, "GPL", insns, n, NULL);

	if (fd < 0)
		fprintf(stderr, "bench_lab: load %s: %s\n", name, strerror(errno));
	return fd;
}

/* The fallback generator, for kernels that refuse live-frames test runs: an AF_PACKET
 * socket bound to the interface, bypassing the qdisc, sending the frame in batches of
 * GEN_BATCH with sendmmsg until the time is up. Frames enter the veth as socket buffers
 * (veth_xmit), so the receiving side converts each to an XDP buffer before the program
 * runs: the same per-frame work for every program measured. Returns the frames sent, or
 * -1. */
#define GEN_BATCH 256
static long long packet_gen(int ifindex, const uint8_t *buf, int len, uint64_t until_ns)
{
	struct sockaddr_ll sa = {.sll_family = AF_PACKET, .sll_ifindex = ifindex};
	static struct mmsghdr msg[GEN_BATCH];
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = (size_t)len};
	long long sent = 0;
	int fd = socket(AF_PACKET, SOCK_RAW, 0), one = 1, n;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one))) {
		fprintf(stderr, "bench_lab: AF_PACKET socket: %s\n", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (int i = 0; i < GEN_BATCH; i++) {
		msg[i].msg_hdr.msg_iov = &iov;
		msg[i].msg_hdr.msg_iovlen = 1;
	}
	while (!stop && mono_ns() < until_ns) {
		n = sendmmsg(fd, msg, GEN_BATCH, 0);
		if (n < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "bench_lab: sendmmsg: %s\n", strerror(errno));
			close(fd);
			return -1;
		}
		sent += n > 0 ? n : 0;
	}
	close(fd);
	return sent;
}

/* The loop generator, for kernels that refuse live-frames test runs: a veth pair L1-L2 of the
 * generator's namespace with XDP_TX on L1 and, on L2, a broadcast redirect to IFNAME and back
 * out of L2 (to L1), so each of GEN_SEEDS frames sent once from a socket circles the pair in
 * the kernel and emits a copy into IFNAME per turn; a counter in the L2 program gives the
 * frames offered. The programs hang on bpf links owned by this process: the loop stops when
 * it closes them after the given time, or when it dies. Returns the frames offered, or -1. */
#define GEN_SEEDS 32
static long long loop_gen(int ifindex, const char *l1name, const char *l2name, const uint8_t *buf,
			  int len, double seconds)
{
	int l1 = ifindex_of(l1name), l2 = ifindex_of(l2name), dm, cnt, tx = -1, bc = -1, la = -1,
	    lb = -1, s = -1;
	uint32_t k0 = 0, k1 = 1, v0 = (uint32_t)ifindex, v1 = (uint32_t)l2;
	uint64_t sent = 0;
	long long ret = -1;

	if (l1 < 0 || l2 < 0)
		return -1;
	dm = bpf_map_create(BPF_MAP_TYPE_DEVMAP, "gen_out", 4, 4, 2, NULL);
	cnt = bpf_map_create(BPF_MAP_TYPE_ARRAY, "gen_cnt", 4, 8, 1, NULL);
	if (dm < 0 || cnt < 0 || bpf_map_update_elem(dm, &k0, &v0, 0) ||
	    bpf_map_update_elem(dm, &k1, &v1, 0)) {
		fprintf(stderr, "bench_lab: loop maps: %s\n", strerror(errno));
		goto out;
	}
	{
		struct bpf_insn txi[] = {
		    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_TX},
		    {.code = BPF_JMP | BPF_EXIT},
		};
		/* counter[0] += 1; return bpf_redirect_map(out, 0, BPF_F_BROADCAST) */
		struct bpf_insn bci[] = {
		    {.code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = BPF_REG_10, .off = -4, .imm = 0},
		    {.code = BPF_ALU64 | BPF_MOV | BPF_X,
		     .dst_reg = BPF_REG_2,
		     .src_reg = BPF_REG_10},
		    {.code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_2, .imm = -4},
		    {.code = BPF_LD | BPF_DW | BPF_IMM,
		     .dst_reg = BPF_REG_1,
		     .src_reg = BPF_PSEUDO_MAP_FD,
		     .imm = cnt},
		    {0},
		    {.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem},
		    {.code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = BPF_REG_0, .off = 2, .imm = 0},
		    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 1},
		    {.code = BPF_STX | BPF_ATOMIC | BPF_DW,
		     .dst_reg = BPF_REG_0,
		     .src_reg = BPF_REG_1,
		     .imm = BPF_ADD},
		    {.code = BPF_LD | BPF_DW | BPF_IMM,
		     .dst_reg = BPF_REG_1,
		     .src_reg = BPF_PSEUDO_MAP_FD,
		     .imm = dm},
		    {0},
		    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_2, .imm = 0},
		    {.code = BPF_ALU64 | BPF_MOV | BPF_K,
		     .dst_reg = BPF_REG_3,
		     .imm = BPF_F_BROADCAST},
		    {.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_redirect_map},
		    {.code = BPF_JMP | BPF_EXIT},
		};
		struct sockaddr_ll sa = {.sll_family = AF_PACKET, .sll_ifindex = l1};

		tx = prog_load(txi, 2, "gen_tx");
		bc = prog_load(bci, sizeof(bci) / sizeof(bci[0]), "gen_bcast");
		if (tx < 0 || bc < 0)
			goto out;
		la = bpf_link_create(tx, l1, BPF_XDP, NULL);
		lb = bpf_link_create(bc, l2, BPF_XDP, NULL);
		s = socket(AF_PACKET, SOCK_RAW, 0);
		if (la < 0 || lb < 0 || s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa))) {
			fprintf(stderr, "bench_lab: loop setup: %s\n", strerror(errno));
			goto out;
		}
	}
	for (int i = 0; i < GEN_SEEDS; i++)
		if (send(s, buf, (size_t)len, 0) < 0)
			fprintf(stderr, "bench_lab: seed: %s\n", strerror(errno));
	for (uint64_t until = mono_ns() + (uint64_t)(seconds * 1e9); !stop && mono_ns() < until;)
		usleep(20000);
	if (bpf_map_lookup_elem(cnt, &k0, &sent) == 0)
		ret = (long long)sent;
out:
	for (int *fd = (int[]){la, lb, tx, bc, s, dm, cnt}, i = 0; i < 7; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return ret;
}

static int cmd_gen(const char *ifname, double seconds, const char *src, const char *dst,
		   const char *l1, const char *l2)
{
	struct pkt_desc d = {
	    .src = src, .dst = dst, .proto = 17, .sport = 40000, .dport = 53, .payload = 18};
	uint8_t buf[PKT_MAX];
	int ifindex = ifindex_of(ifname), len, fd;
	uint64_t t0, sent = 0, elapsed;
	const uint32_t repeat = 1u << 20;
	const char *via = "live frames";

	if (ifindex < 0)
		return 1;
	/* r1 = ifindex; r2 = 0; r0 = bpf_redirect(r1, r2); exit */
	struct bpf_insn insns[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = ifindex},
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_2, .imm = 0},
	    {.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_redirect},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	len = pkt_build(&d, buf);
	fd = prog_load(insns, 4, "bench_gen");
	if (len < 0 || fd < 0)
		return 1;
	signals();
	t0 = mono_ns();
	while (!stop && (double)(mono_ns() - t0) < seconds * 1e9) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = (uint32_t)len,
			    .repeat = repeat, .flags = BPF_F_TEST_XDP_LIVE_FRAMES);

		if (bpf_prog_test_run_opts(fd, &o)) {
			long long n;

			fprintf(stderr, "bench_lab: live-frames test run: %s\n", strerror(errno));
			if (errno != EPERM || sent) {
				close(fd);
				return 1;
			}
			/* refused by this kernel for any program: circle frames in a veth loop,
			 * else send from a socket */
			via = l1 ? "veth loop" : "AF_PACKET";
			n = l1 ? loop_gen(ifindex, l1, l2, buf, len, seconds)
			       : packet_gen(ifindex, buf, len, t0 + (uint64_t)(seconds * 1e9));
			if (n < 0) {
				close(fd);
				return 1;
			}
			sent = (uint64_t)n;
			break;
		}
		sent += repeat;
	}
	elapsed = mono_ns() - t0;
	printf("offered %.3f Mpps (%llu frames of %d bytes + FCS in %.2f s, %s)\n",
	       (double)sent / ((double)elapsed / 1e3), (unsigned long long)sent, len,
	       (double)elapsed / 1e9, via);
	close(fd);
	return 0;
}

static void ready(void)
{
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
}

static void hold(void)
{
	ready();
	fflush(stdout);
	while (!stop)
		usleep(20000);
}

static int cmd_drop(const char *ifname)
{
	struct bpf_insn insns[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_DROP},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	int ifindex = ifindex_of(ifname), fd, err;

	if (ifindex < 0)
		return 1;
	fd = prog_load(insns, 2, "bench_drop");
	if (fd < 0)
		return 1;
	err = bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL);
	if (err) {
		fprintf(stderr, "bench_lab: attach to %s failed: %s\n", ifname, strerror(-err));
		close(fd);
		return 1;
	}
	signals();
	hold();
	bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
	close(fd);
	return 0;
}

static int cmd_xdrop(const char *ifname, uint32_t nrules)
{
	struct dataplane_opts o = {.sz = sizeof(o)};
	struct dataplane *dp = NULL;
	struct rule_spec *s = NULL;
	struct dp_result res;
	uint64_t c[XDROP_NCOUNTERS];
	bool generic = false;
	int err, rc = 1;

	log_route_libbpf();
	log_set_level(LOG_LEVEL_WARN);
	s = calloc(nrules ? nrules : 1, sizeof(*s));
	if (!s)
		return 1;
	for (uint32_t i = 0; i < nrules; i++)
		bench_src_rule(i, 0, &s[i]);
	err = dataplane_open(&dp, &o);
	if (err) {
		fprintf(stderr, "bench_lab: dataplane_open: %s\n", strerror(-err));
		goto out;
	}
	err = dataplane_replace(dp, 1u << XDROP_KIND_RULE, s, nrules, &res);
	if (err) {
		fprintf(stderr, "bench_lab: loading %u rules: %s\n", nrules, strerror(-err));
		goto out;
	}
	err = attach_iface(dp, ifname, ATTACH_NATIVE, false, &generic);
	if (err) {
		fprintf(stderr, "bench_lab: attach to %s failed: %s\n", ifname, strerror(-err));
		goto out;
	}
	signals();
	ready();
	while (!stop) {
		if (dump) {
			dump = 0;
			if (dataplane_counters(dp, c) == 0)
				printf("counters %llu %llu %llu\n", (unsigned long long)mono_ns(),
				       (unsigned long long)c[XDROP_CNT_RX],
				       (unsigned long long)c[XDROP_CNT_DROPPED]);
			fflush(stdout);
		}
		usleep(5000);
	}
	attach_detach(dp, ifname);
	rc = 0;
out:
	dataplane_close(dp);
	free(s);
	return rc;
}

static int cmd_nft_set(uint32_t nrules, const char *table, const char *set)
{
	const uint32_t batch = 10000;

	for (uint32_t i = 0; i < nrules; i++) {
		uint32_t ip = BENCH_SRC4_BASE + i;

		if (i % batch == 0)
			printf("add element netdev %s %s { ", table, set);
		printf("%u.%u.%u.%u%s", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255,
		       (i % batch == batch - 1 || i == nrules - 1) ? " }\n" : ", ");
	}
	return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (!strcmp(cmd, "gen") && (argc == 6 || argc == 8))
		return cmd_gen(argv[2], atof(argv[3]), argv[4], argv[5], argc == 8 ? argv[6] : NULL,
			       argc == 8 ? argv[7] : NULL);
	if (!strcmp(cmd, "drop") && argc == 3)
		return cmd_drop(argv[2]);
	if (!strcmp(cmd, "xdrop") && argc == 4)
		return cmd_xdrop(argv[2], (uint32_t)strtoul(argv[3], NULL, 10));
	if (!strcmp(cmd, "nft-set") && argc == 5)
		return cmd_nft_set((uint32_t)strtoul(argv[2], NULL, 10), argv[3], argv[4]);
	fprintf(stderr, "usage: bench_lab gen IFNAME SECONDS SRC DST [L1 L2] | drop IFNAME |\n"
			"       xdrop IFNAME NRULES | nft-set NRULES TABLE SET\n");
	return 2;
}
