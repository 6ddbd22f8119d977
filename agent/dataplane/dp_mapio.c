// SPDX-License-Identifier: MIT
/*
 * dp_mapio: map access in bulk for the data-plane library: writes collected into
 * BPF_MAP_UPDATE_BATCH calls (a transaction stages up to millions of entries), and the
 * listing of every key of a map (adoption walks the pinned maps). See dp_priv.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <bpf/bpf.h>

#include "dp_priv.h"

#define DP_WB_MAX 65536 /* elements per BPF_MAP_UPDATE_BATCH call */

void dp_wb_init(struct wbatch *b, int fd, size_t ksz, size_t vsz)
{
	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->ksz = ksz;
	b->vsz = vsz;
}

int dp_wb_flush(struct wbatch *b)
{
	size_t done = 0;

	while (done < b->n) {
		LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_ANY);
		uint32_t count = (uint32_t)(b->n - done);

		if (bpf_map_update_batch(b->fd, b->keys + done * b->ksz, b->vals + done * b->vsz,
					 &count, &o)) {
			int err = -errno;

			/* count says how many went in; the rest is refused */
			if (count == 0)
				return err;
		}
		done += count;
	}
	b->n = 0;
	return 0;
}

int dp_wb_add(struct wbatch *b, const void *k, const void *v)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		uint8_t *nk, *nv;

		if (b->n >= DP_WB_MAX) {
			int err = dp_wb_flush(b);

			if (err)
				return err;
			goto add;
		}
		nk = realloc(b->keys, cap * b->ksz);
		if (nk)
			b->keys = nk;
		nv = nk ? realloc(b->vals, cap * b->vsz) : NULL;
		if (nv)
			b->vals = nv;
		if (!nk || !nv)
			return -ENOMEM;
		b->cap = cap;
	}
add:
	memcpy(b->keys + b->n * b->ksz, k, b->ksz);
	memcpy(b->vals + b->n * b->vsz, v, b->vsz);
	b->n++;
	return 0;
}

void dp_wb_free(struct wbatch *b)
{
	free(b->keys);
	free(b->vals);
	memset(b, 0, sizeof(*b));
}

int dp_map_keys(int fd, size_t ksz, uint8_t **out, size_t *n)
{
	size_t cap = 1024, cnt = 0;
	uint8_t *keys = malloc(cap * ksz), *cur = NULL;

	if (!keys)
		return -ENOMEM;
	while (1) {
		if (cnt == cap) {
			uint8_t *nk = realloc(keys, cap * 2 * ksz);

			if (!nk) {
				free(keys);
				return -ENOMEM;
			}
			keys = nk;
			cap *= 2;
		}
		if (bpf_map_get_next_key(fd, cnt ? keys + (cnt - 1) * ksz : cur, keys + cnt * ksz))
			break;
		cnt++;
	}
	*out = keys;
	*n = cnt;
	return 0;
}

int dp_map_entries(int fd, size_t ksz, size_t vsz, uint8_t **keys_out, uint8_t **vals_out,
		   size_t *n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	size_t cap = 16384, cnt = 0;
	uint8_t *keys = malloc(cap * ksz), *vals = malloc(cap * vsz);
	uint32_t in_batch = 0, out_batch = 0;
	bool first = true, done = false;
	int err = 0;

	while (keys && vals && !done) {
		uint32_t count;

		if (cap - cnt < 8192) {
			uint8_t *nk = realloc(keys, cap * 2 * ksz), *nv;

			if (nk)
				keys = nk;
			nv = nk ? realloc(vals, cap * 2 * vsz) : NULL;
			if (!nv)
				break;
			vals = nv;
			cap *= 2;
		}
		count = (uint32_t)(cap - cnt);
		if (bpf_map_lookup_batch(fd, first ? NULL : &in_batch, &out_batch, keys + cnt * ksz,
					 vals + cnt * vsz, &count, &bo)) {
			if (errno != ENOENT) {
				err = -errno;
				break;
			}
			done = true;
		}
		cnt += count;
		in_batch = out_batch;
		first = false;
	}
	if (!err && (!keys || !vals || !done))
		err = -ENOMEM;
	if (err) {
		free(keys);
		free(vals);
		return err;
	}
	*keys_out = keys;
	*vals_out = vals;
	*n = cnt;
	return 0;
}

int dp_map_mmap(const struct bpf_map *m, size_t len, void **out)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd_of(m), 0);

	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}
