#!/usr/bin/env bash
# Starts nginx (from apt) in the foreground as a bench peer: bench/nginx/run.sh PORT [h2]
# (h2: the listener speaks HTTP/2 with prior knowledge, for bench/h2load.py)
#
# Writes a config with the port filled in under bench/results/nginx-PORT/ and execs
# nginx with it, so the caller's PID is nginx itself (compare.sh measures that PID).
set -euo pipefail
port=${1:?usage: bench/nginx/run.sh PORT [h2]}
http2=""
[[ ${2:-} == h2 ]] && http2=" http2"
[[ $port =~ ^[0-9]+$ ]] || { echo "run.sh: bad port $port" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix="$here/../results/nginx-$port"
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
sed -e "s|@PORT@|$port|g" -e "s|@PREFIX@|$prefix|g" -e "s|@HTTP2@|$http2|g" "$here/nginx.conf.in" >"$prefix/nginx.conf"
# -e stderr: no attempt to open the default /var/log/nginx/error.log first.
exec nginx -e stderr -p "$prefix" -c "$prefix/nginx.conf"
