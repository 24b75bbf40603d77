#!/usr/bin/env bash
# Makes the TLS material of the broker tests, with openssl, into DIR (argument 1; default
# ${TMPDIR:-/tmp}/conveyor-tls). Idempotent: does nothing when DIR/.complete exists.
#   ca.pem/.key           the test CA
#   server.pem/.key       the RabbitMQ listener's certificate, for DNS:localhost only (127.0.0.1 is not in it, so
#                         connecting by IP address tests host-name verification)
#   expired.pem/.key      signed by the CA for localhost, valid only in January 2020
#   wrong-host.pem/.key   signed by the CA for wrong.example
#   other-ca.pem          a CA that signed none of them
#   client.pem/.key       a client certificate with CN conveyor-client, signed by the CA (EXTERNAL login)
# Keys are readable by every user: the broker runs as the rabbitmq user. Test material only.
set -euo pipefail
dir="${1:-${TMPDIR:-/tmp}/conveyor-tls}"
[ -f "$dir/.complete" ] && { echo "$dir"; exit 0; }
command -v openssl >/dev/null || { echo "tls-material: openssl is not installed (apt-get install openssl)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir/newcerts"
cd "$dir"
quiet() { "$@" >/dev/null 2>&1 || { echo "tls-material: failed: $*" >&2; "$@"; exit 1; }; }
quiet openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 -subj "/CN=Conveyor test CA"
quiet openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 3650 -subj "/CN=Conveyor other CA"
cat >ca.cnf <<CNF
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = $dir
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
serial = \$dir/serial
default_md = sha256
default_days = 3650
policy = any
copy_extensions = copy
unique_subject = no
[ any ]
commonName = supplied
CNF
: >index.txt
echo 1000 >serial
# issue NAME SUBJECT EXTENSION [openssl ca date options...]
issue() {
    local name=$1 subject=$2 extension=$3
    shift 3
    quiet openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subject" -addext "$extension"
    quiet openssl ca -batch -notext -config ca.cnf -in "$name.csr" -out "$name.pem" "$@"
}
issue server "/CN=localhost" "subjectAltName=DNS:localhost"
issue expired "/CN=localhost" "subjectAltName=DNS:localhost" -startdate 20200101000000Z -enddate 20200131000000Z
issue wrong-host "/CN=wrong.example" "subjectAltName=DNS:wrong.example"
issue client "/CN=conveyor-client" "extendedKeyUsage=clientAuth"
chmod 755 "$dir"
chmod 644 ./*.pem ./*.key
touch .complete
echo "$dir"
