# SPDX-License-Identifier: MIT
# certs.sh: test certificates with openssl (sourced). EC P-256, valid two days.
#   certs_ca NAME                 NAME.crt, NAME.key: a CA
#   certs_leaf NAME CN CA EXT     NAME.crt, NAME.key signed by CA, extensions EXT (lines)
# Both run in the current directory and exit the script with a TAP "1..0" line on failure.
certs_quiet() { "$@" >/dev/null 2>&1 || { echo "1..0 # certificate generation failed: $*"; exit 1; }; }
certs_ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

certs_ca() {
	certs_quiet openssl req -x509 $certs_ec -keyout "$1.key" -out "$1.crt" -days 2 \
		-subj "/CN=xdrop-test-$1" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}

certs_leaf() {
	certs_quiet openssl req $certs_ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
	printf '%s\n' "$4" >"$1.ext"
	certs_quiet openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial \
		-days 2 -out "$1.crt" -extfile "$1.ext"
}
