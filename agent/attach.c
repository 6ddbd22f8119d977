// SPDX-License-Identifier: MIT
/*
 * attach: bpf_link based attachment; see attach.h.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "log.h"

static void link_pin_path(struct dataplane *dp, const char *ifname, char *buf, size_t len)
{
	snprintf(buf, len, "%s/link_%s", dataplane_pin_dir(dp), ifname);
}

static uint32_t prog_id_of_fd(int fd)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

/* Finds the XDP link on ifindex that holds prog_id; returns its fd or -ENOENT. Link info
 * carries an ifindex but no namespace, and ifindexes repeat across network namespaces, so
 * the program id that this namespace's interface reports must match too. */
static int find_xdp_link(uint32_t ifindex, uint32_t prog_id)
{
	uint32_t id = 0;

	while (bpf_link_get_next_id(id, &id) == 0) {
		struct bpf_link_info info;
		uint32_t len = sizeof(info);
		int fd = bpf_link_get_fd_by_id(id);

		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
		    info.type == BPF_LINK_TYPE_XDP && info.xdp.ifindex == ifindex &&
		    info.prog_id == prog_id)
			return fd;
		close(fd);
	}
	return -ENOENT;
}

int attach_query(struct dataplane *dp, const char *ifname, uint32_t *prog_id, bool *ours)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	unsigned ifindex = if_nametoindex(ifname);

	if (ifindex == 0)
		return -ENODEV;
	if (bpf_xdp_query((int)ifindex, 0, &q))
		return -errno;
	*prog_id = q.prog_id ? q.prog_id : (q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id);
	*ours = *prog_id && *prog_id == prog_id_of_fd(dataplane_prog_fd(dp));
	return 0;
}

/* A pinned link of ours on this interface: upgrade it in place. Returns 1 when adopted,
 * 0 when there is none to adopt, or a negative errno. */
static int adopt_link(struct dataplane *dp, const char *ifname, unsigned ifindex)
{
	struct bpf_link_info info;
	uint32_t len = sizeof(info);
	char path[512];
	int fd, err = 0;

	if (!dataplane_pin_dir(dp))
		return 0;
	link_pin_path(dp, ifname, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.xdp.ifindex != ifindex) {
		/* the interface went away (or was re-created): the old link is defunct */
		log_warn("pinned link for %s is stale (interface re-created?); attaching anew",
			 ifname);
		unlink(path);
		close(fd);
		return 0;
	}
	if (bpf_link_update(fd, dataplane_prog_fd(dp), NULL)) {
		err = -errno;
		log_error("replace program in pinned link on %s failed: %s", ifname,
			  strerror(errno));
	}
	close(fd);
	return err ? err : 1;
}

static int remove_foreign(unsigned ifindex, const char *ifname, uint32_t prog_id)
{
	int fd = find_xdp_link(ifindex, prog_id), err;

	if (fd >= 0) {
		err = bpf_link_detach(fd) ? -errno : 0;
		close(fd);
		return err;
	}
	if (bpf_xdp_detach((int)ifindex, 0, NULL) &&
	    bpf_xdp_detach((int)ifindex, XDP_FLAGS_SKB_MODE, NULL))
		return -errno;
	log_warn("removed foreign XDP program from %s (force)", ifname);
	return 0;
}

int attach_iface(struct dataplane *dp, const char *ifname, enum attach_mode mode, bool force,
		 bool *generic)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	unsigned ifindex = if_nametoindex(ifname);
	uint32_t prog_id;
	bool ours;
	char path[512];
	int fd, err;

	if (generic)
		*generic = false;
	if (ifindex == 0) {
		log_error("attach to %s failed: no such interface", ifname);
		return -ENODEV;
	}
	err = adopt_link(dp, ifname, ifindex);
	if (err < 0)
		return err;
	if (err == 1) {
		LIBBPF_OPTS(bpf_xdp_query_opts, q);

		/* the link keeps the mode it was made with: report that one */
		if (generic && !bpf_xdp_query((int)ifindex, 0, &q))
			*generic = q.attach_mode == XDP_ATTACHED_SKB;
		log_info("adopted pinned XDP link on %s (program replaced in place%s)", ifname,
			 generic && *generic ? ", generic mode" : "");
		return 0;
	}
	err = attach_query(dp, ifname, &prog_id, &ours);
	if (err)
		return err;
	if (prog_id && !ours) {
		if (!force) {
			log_error("attach to %s refused: foreign XDP program id %u is attached "
				  "(set force to replace it)",
				  ifname, prog_id);
			return -EBUSY;
		}
		err = remove_foreign(ifindex, ifname, prog_id);
		if (err) {
			log_error("remove foreign XDP program from %s failed: %s", ifname,
				  strerror(-err));
			return err;
		}
	}
	lo.flags = mode == ATTACH_GENERIC ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	fd = bpf_link_create(dataplane_prog_fd(dp), (int)ifindex, BPF_XDP, &lo);
	if (fd < 0 && mode == ATTACH_NATIVE_OR_GENERIC) {
		log_warn("native XDP on %s failed (%s); falling back to generic as configured",
			 ifname, strerror(errno));
		lo.flags = XDP_FLAGS_SKB_MODE;
		fd = bpf_link_create(dataplane_prog_fd(dp), (int)ifindex, BPF_XDP, &lo);
		if (fd >= 0 && generic)
			*generic = true;
	} else if (fd >= 0 && generic) {
		*generic = mode == ATTACH_GENERIC;
	}
	if (fd < 0) {
		err = -errno;
		log_error("attach to %s failed: %s", ifname, strerror(errno));
		return err;
	}
	if (dataplane_pin_dir(dp)) {
		link_pin_path(dp, ifname, path, sizeof(path));
		if (bpf_obj_pin(fd, path)) {
			err = -errno;
			log_error("pin link %s failed: %s", path, strerror(errno));
			bpf_link_detach(fd);
			close(fd);
			return err;
		}
		close(fd); /* the pin keeps the link */
	}
	/* without a pin directory the link lives as long as the process keeps fd open */
	return 0;
}

int attach_fast_forward(struct dataplane *dp, const char *inbound, const char *outbound,
			enum attach_filter filter, enum attach_mode mode, bool force)
{
	unsigned in = if_nametoindex(inbound), out = if_nametoindex(outbound);
	int err;

	if (!in || !out) {
		log_error("fast-forward %s <-> %s: no such interface %s", inbound, outbound,
			  in ? outbound : inbound);
		return -ENODEV;
	}
	if (in == out) {
		log_error("fast-forward needs two different interfaces");
		return -EINVAL;
	}
	/* ports first, so the first frame through either link is bridged */
	err = dataplane_set_port(dp, in, out, filter & ATTACH_FILTER_INBOUND);
	if (!err)
		err = dataplane_set_port(dp, out, in, filter & ATTACH_FILTER_OUTBOUND);
	if (err)
		goto fail;
	err = attach_iface(dp, inbound, mode, force, NULL);
	if (err)
		goto fail;
	err = attach_iface(dp, outbound, mode, force, NULL);
	if (err) {
		attach_detach(dp, inbound);
		goto fail;
	}
	return 0;
fail:
	dataplane_set_port(dp, in, 0, false);
	dataplane_set_port(dp, out, 0, false);
	return err;
}

int attach_detach_pinned(const char *pin_dir, const char *ifname)
{
	char path[512];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/link_%s", pin_dir, ifname);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	if (bpf_link_detach(fd) && errno != ENOLINK)
		err = -errno;
	close(fd);
	if (!err && unlink(path))
		err = -errno;
	return err;
}

int attach_detach(struct dataplane *dp, const char *ifname)
{
	unsigned ifindex = if_nametoindex(ifname);
	char path[512];
	int fd = -1, err = 0;

	if (dataplane_pin_dir(dp)) {
		link_pin_path(dp, ifname, path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd >= 0)
			unlink(path);
	}
	if (fd < 0 && ifindex) {
		uint32_t prog_id;
		bool ours;

		if (attach_query(dp, ifname, &prog_id, &ours) == 0 && ours)
			fd = find_xdp_link(ifindex, prog_id);
	}
	if (fd < 0)
		return -ENOENT;
	if (bpf_link_detach(fd) && errno != ENOLINK)
		err = -errno;
	close(fd);
	if (ifindex)
		dataplane_set_port(dp, ifindex, 0, false);
	return err;
}
