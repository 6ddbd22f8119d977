// SPDX-License-Identifier: MIT
/*
 * dq_fixture: a cluster of xdrop-dqlite-node processes for tests (see dq_fixture.h).
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "dq_fixture.h"
#include "tmpdir.h"

static bool port_free(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* A run of n free ports at a random high base (other suites run beside this one). */
static int pick_base_port(int n)
{
	srand((unsigned)(getpid() ^ clock_mono_ns()));
	for (int tries = 0; tries < 200; tries++) {
		int base = 20000 + rand() % 40000, k;

		for (k = 0; k < n && port_free(base + k); k++)
			;
		if (k == n)
			return base;
	}
	return -1;
}

bool dqf_file_has(const char *path, const char *word)
{
	char buf[4096] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, word) != NULL;
}

int dqf_init(struct dqf *f, int n, const char *name)
{
	int base;

	memset(f, 0, sizeof(*f));
	signal(SIGPIPE, SIG_IGN);
	f->bin = getenv("XDROP_DQLITE_NODE") ? getenv("XDROP_DQLITE_NODE")
					     : "build/bin/xdrop-dqlite-node";
	if (n < 1 || n > DQF_MAX_NODES || access(f->bin, X_OK) != 0)
		return -1;
	base = pick_base_port(n);
	if (base < 0 || tmpdir_make(f->dir, sizeof(f->dir), name) < 0)
		return -1;
	f->n = n;
	for (int i = 0; i < n; i++) {
		struct dqf_node *d = &f->node[i];

		d->id = (uint64_t)i + 1;
		snprintf(d->addr, sizeof(d->addr), "127.0.0.1:%d", base + i);
		snprintf(d->dir, sizeof(d->dir), "%s/node%d", f->dir, i + 1);
		snprintf(d->out, sizeof(d->out), "%s/node%d.out", f->dir, i + 1);
		f->addrs[i] = d->addr;
	}
	return 0;
}

static void exec_node(const struct dqf *f, const struct dqf_node *d, const char *join,
		      const char *const *more)
{
	const char *argv[16 + 2 * DQF_MAX_ARGS];
	char id[24];
	int k = 0, fd = open(d->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	/* A test that dies (a suite timeout) takes its nodes with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	dup2(fd, 1);
	dup2(fd, 2);
	snprintf(id, sizeof(id), "%llu", (unsigned long long)d->id);
	argv[k++] = f->bin;
	argv[k++] = "--id";
	argv[k++] = id;
	argv[k++] = "--address";
	argv[k++] = d->addr;
	argv[k++] = "--dir";
	argv[k++] = d->dir;
	if (join) {
		argv[k++] = "--join";
		argv[k++] = join;
	}
	for (int i = 0; i < DQF_MAX_ARGS && f->extra[i]; i++)
		argv[k++] = f->extra[i];
	for (int i = 0; more && i < DQF_MAX_ARGS && more[i]; i++)
		argv[k++] = more[i];
	argv[k] = NULL;
	execv(f->bin, (char *const *)argv);
	_exit(127);
}

int dqf_start(struct dqf *f, int i, const char *join, const char *const *more)
{
	struct dqf_node *d = &f->node[i];
	int64_t deadline = clock_mono_ms() + DQF_START_MS;

	unlink(d->out);
	d->pid = fork();
	if (d->pid < 0)
		return -1;
	if (d->pid == 0)
		exec_node(f, d, join, more);
	while (!dqf_file_has(d->out, "ready")) {
		int st;

		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			fprintf(stderr, "# node %d exited before it was ready (see %s)\n", i + 1,
				d->out);
			return -1;
		}
		if (clock_mono_ms() > deadline) {
			fprintf(stderr, "# node %d not ready within %d ms (see %s)\n", i + 1,
				DQF_START_MS, d->out);
			return -1;
		}
		usleep(20000);
	}
	return 0;
}

int dqf_start_all(struct dqf *f, int count)
{
	char join[DQF_MAX_NODES * 32] = "";

	for (int i = 0; i < count && i < f->n; i++) {
		if (dqf_start(f, i, i ? join : NULL, NULL) < 0)
			return -1;
		snprintf(join + strlen(join), sizeof(join) - strlen(join), "%s%s", i ? "," : "",
			 f->node[i].addr);
	}
	return 0;
}

void dqf_kill(struct dqf *f, int i)
{
	if (f->node[i].pid > 0) {
		kill(f->node[i].pid, SIGKILL);
		waitpid(f->node[i].pid, NULL, 0);
	}
	f->node[i].pid = 0;
}

void dqf_fini(struct dqf *f)
{
	for (int i = 0; i < f->n; i++)
		dqf_kill(f, i);
	if (f->dir[0])
		tmpdir_remove(f->dir);
}

int dqf_index(const struct dqf *f, const char *addr)
{
	for (int i = 0; i < f->n; i++)
		if (!strcmp(f->node[i].addr, addr))
			return i;
	return -1;
}
