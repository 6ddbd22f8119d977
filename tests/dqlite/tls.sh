#!/bin/bash
# SPDX-License-Identifier: MIT
# dqlite over TLS: generates a CA, a node certificate (server and client auth, 127.0.0.1 as
# a DNS name: mbedTLS checks no IP SANs), and a certificate from another CA, then runs
# build/tests/test_dqlite_tls (a 3-node cluster of xdrop-dqlite-node --tls-*). Prints TAP.
set -eu
BUILD=${BUILD:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/lib/certs.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
certs_ca ca
certs_ca rogue-ca
certs_leaf node 127.0.0.1 ca "subjectAltName=DNS:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth,clientAuth"
certs_leaf rogue 127.0.0.1 rogue-ca "subjectAltName=DNS:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth"
cd - >/dev/null
XDROP_TEST_CERTS=$dir "$BUILD/tests/test_dqlite_tls"
