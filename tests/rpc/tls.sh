#!/bin/bash
# SPDX-License-Identifier: MIT
# TLS test: generates a CA, a server certificate (localhost), a client certificate and a
# rogue client certificate from another CA with openssl, then runs build/tests/test_rpc_tls
# (RPC and pub/sub over tls+tcp://, plain and mutual TLS, refused clients). Prints TAP.
set -eu
BUILD=${BUILD:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/lib/certs.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
certs_ca ca
certs_ca rogue-ca
certs_leaf server localhost ca "subjectAltName=DNS:localhost
extendedKeyUsage=serverAuth"
certs_leaf client node-1 ca "extendedKeyUsage=clientAuth"
certs_leaf rogue node-1 rogue-ca "extendedKeyUsage=clientAuth"
cd - >/dev/null
XDROP_TEST_CERTS=$dir "$BUILD/tests/test_rpc_tls"
