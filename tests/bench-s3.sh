#!/usr/bin/env bash
# Client CPU per S3 operation: aifbench's s3 workload beside a boto3 client
# doing the same operations (warp `mixed`, 64KiB objects, every GET verified)
# against the same Garage, in the same run. Figures go to docs/performance.md
# ("S3").
#
#   scripts/setup-garage.sh && scripts/setup-chroma.sh   # Garage; boto3 venv
#   cargo build --release
#   tests/bench-s3.sh [OPS]                              # default 3000
set -euo pipefail
cd "$(dirname "$0")/.."
OPS=${1:-3000}
THREADS=${BENCH_THREADS:-4}
SIZE=${BENCH_SIZE:-65536}
TOOLS=${AIFB_TOOLS:-/var/tmp/aifbench-tools}
GDIR=${AIFB_GARAGE_DIR:-/var/tmp/aifbench-garage}
AIFB=${AIFB_BIN:-$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/aifbench}
PY=$TOOLS/chroma-venv/bin/python
[[ -x $AIFB ]] || { echo "bench-s3: $AIFB missing: cargo build --release" >&2; exit 1; }
"$PY" -c 'import boto3' 2>/dev/null || { echo "bench-s3: boto3 missing: run scripts/setup-chroma.sh" >&2; exit 1; }

scripts/setup-garage.sh --keep-running
trap 'scripts/setup-garage.sh --stop' EXIT
WORK=$(mktemp -d)
cat >"$WORK/s3.yaml" <<YAML
id: bench
baseUrl: http://127.0.0.1:3900
workload:
  type: s3
  s3:
    bucket: aifbench
    region: garage
    credentialsFile: $GDIR/credentials.env
    preset: warpMixed
    objectSize: {distribution: fixed, size: $SIZE}
    keyPrefix: aifbench-bench
    prepopulate: 64
load: {concurrency: $THREADS, maxRequests: $OPS}
errors: {maxConsecutive: 0}
YAML

for round in 1 2 3; do
  # aifbench: the whole process (start-up and pre-population included).
  /usr/bin/time -f '%U %S %e' -o "$WORK/time" "$AIFB" loadgen --config "$WORK/s3.yaml" \
    --output "$WORK/aifb.json" --progress-interval 0 >/dev/null 2>"$WORK/aifb.log"
  read -r u s e <"$WORK/time"
  python3 - "$WORK/aifb.json" "$u" "$s" "$e" "$round" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); u, s, e = map(float, sys.argv[2:5])
ops = r["requests"] + r["errors"] + r["setup"]["items"]
print(json.dumps({"round": int(sys.argv[5]), "client": "aifbench", "ops": r["requests"], "prepopulated": r["setup"]["items"],
                  "errors": r["errors"], "data_loss": r["dataLoss"], "cpu_s": round(u + s, 3),
                  "wall_s": e, "cpu_us_per_op": round((u + s) / ops * 1e6, 1),
                  "ops_per_s": round(r["requests"] / r["durationS"], 1)}))
PY
  
  # boto3: from the first request on (imports and client creation excluded).
  "$PY" benches/s3_boto3.py --endpoint http://127.0.0.1:3900 --credentials "$GDIR/credentials.env" \
    --ops "$OPS" --size "$SIZE" --threads "$THREADS" --prepopulate 64 \
    | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); r['round']=$round; print(json.dumps(r))" \
    | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
ops = r["ops"] + r["errors"] + r["prepopulated"]
r["cpu_us_per_op"] = round(r["cpu_s"] / ops * 1e6, 1)
r["ops_per_s"] = round(r["ops"] / r["wall_s"], 1)
print(json.dumps(r))'
done | tee "$WORK/rounds.jsonl"
python3 - "$WORK/rounds.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
med = lambda c: statistics.median(r["cpu_us_per_op"] for r in rows if r["client"] == c)
a, b = med("aifbench"), med("boto3")
print(json.dumps({"median_cpu_us_per_op": {"aifbench": a, "boto3": b}, "boto3_over_aifbench": round(b / a, 2)}))
PY
rm -rf "$WORK"
