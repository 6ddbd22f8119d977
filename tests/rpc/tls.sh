#!/bin/bash
# SPDX-License-Identifier: MIT
# TLS test: generates a CA, a server certificate (localhost), a client certificate and a
# rogue client certificate from another CA with openssl, then runs build/tests/test_rpc_tls
# (RPC and pub/sub over tls+tcp://, plain and mutual TLS, refused clients). Prints TAP.
set -eu
BUILD=${BUILD:-build}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
quiet() { "$@" >/dev/null 2>&1 || { echo "1..0 # certificate generation failed: $*"; exit 1; }; }
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

# CA and rogue CA
for ca in ca rogue-ca; do
	quiet openssl req -x509 $ec -keyout $ca.key -out $ca.crt -days 2 -subj "/CN=xdrop-test-$ca" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
done
# leaf certificates: name, CN, signing CA, extensions
leaf() {
	quiet openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
	printf '%s\n' "$4" >"$1.ext"
	quiet openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial \
		-days 2 -out "$1.crt" -extfile "$1.ext"
}
leaf server localhost ca "subjectAltName=DNS:localhost
extendedKeyUsage=serverAuth"
leaf client node-1 ca "extendedKeyUsage=clientAuth"
leaf rogue node-1 rogue-ca "extendedKeyUsage=clientAuth"
cd - >/dev/null
XDROP_TEST_CERTS=$dir "$BUILD/tests/test_rpc_tls"
