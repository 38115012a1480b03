#!/bin/sh
# bench/ingest/instructions.sh HUSHD [estimates|reports]
#
# The work hushd does per request, free of the machine's scheduling noise:
# hushd under callgrind (one HTTP thread), wrk with one connection for
# 10 s against GET estimates (an 8-candidate poll) or POST /v1/reports
# (batches of 100); prints the requests made and the instructions counted
# (PROGRAM TOTALS, start-up included).  Compare two builds with the same
# load: instructions / requests.  Needs valgrind and wrk.
set -eu
HUSHD=$(realpath "$1")
LOAD=${2:-estimates}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cd "$W"
valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" "$HUSHD" --port "$PORT" \
    --access-log access.log --threads 1 2>/dev/null &
PID=$!
for _ in $(seq 100); do curl -s "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
curl -s -H "Authorization: Bearer $(cat "$W/var/admin-token")" -H 'Content-Type: application/json' \
    -d '{"id":"p","name":"p","kind":"poll","candidates":["a","b","c","d","e","f","g","h"],"epsilon":4,"mechanism":"grr","min_reports":0}' \
    "http://127.0.0.1:$PORT/v1/campaigns" >/dev/null
if [ "$LOAD" = reports ]; then
    HUSH_RUN=1 HUSH_CAMPAIGN=p HUSH_DOMAIN=8 HUSH_BATCH=100 \
        wrk -t1 -c1 -d10s -s "$HERE/reports.lua" "http://127.0.0.1:$PORT" | grep "requests in"
else
    wrk -t1 -c1 -d10s "http://127.0.0.1:$PORT/v1/campaigns/p/estimates" | grep "requests in"
fi
kill "$PID"
wait "$PID" || true
callgrind_annotate "$W/cg.out" 2>/dev/null | grep "PROGRAM TOTALS"
rm -rf "$W"
