#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs every Debian package XDrop needs to build, test and benchmark.
# Idempotent: packages already present are skipped by apt-get.
set -eu
# Tests and labs also run: jq (REST replies in the system labs and soak), openssl (test
# certificates), gdb (threads of a daemon that does not stop), procps (sysctl, pgrep),
# man-db and zsh (the CLI suite renders the man pages and drives the zsh completion);
# libdqlite-dev and libraft-dev (the dqlite nodes of lib/dqlite's cluster test).
PKGS="build-essential pkg-config clang llvm lld libclang-rt-14-dev \
 libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev \
 libnng-dev nng-utils libmbedtls-dev \
 libprotobuf-c-dev protobuf-c-compiler protobuf-compiler \
 uthash-dev libsqlite3-dev sqlite3 libdqlite-dev libraft-dev libmicrohttpd-dev libcjson-dev libyaml-dev libcmocka-dev \
 iproute2 iputils-ping ethtool nftables xdp-tools tcpdump procps python3 python3-scapy \
 python3-prometheus-client perl curl jq openssl gdb man-db zsh wrk clang-format clang-tidy cppcheck \
 chromium fonts-wqy-microhei"
# Node.js may come from elsewhere (e.g. NodeSource, which bundles npm); only
# install Debian's when none is present.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends $missing
fi
