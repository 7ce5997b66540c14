#!/usr/bin/env bash
# End-to-end on a real cluster (needs Docker, kind, kubectl and helm; not
# runnable on machines without Docker — the mocked API tests cover the
# operator there). Creates a kind cluster, builds and loads the image,
# installs the chart, applies recipes/kind-quickstart.yaml and waits for the
# Benchmark to succeed; then checks the finalizer cleans up on deletion.
#
#   tests/e2e/kind.sh            (KEEP_CLUSTER=1 keeps the cluster)
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cluster="${KIND_CLUSTER:-aifbench-e2e}"
image="aifbench:dev"
timeout="${E2E_TIMEOUT:-600s}"

for tool in docker kind kubectl helm; do
    command -v "$tool" >/dev/null || { echo "kind.sh: $tool is required" >&2; exit 2; }
done

cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "---- diagnostics"
        kubectl get bm,pods,jobs,svc -A -o wide || true
        kubectl describe bm kind-quickstart || true
        kubectl -n aifbench logs deploy/aifbench --tail=200 || true
        kubectl get events -A --sort-by=.lastTimestamp | tail -50 || true
    fi
    if [ -z "${KEEP_CLUSTER:-}" ]; then
        kind delete cluster --name "$cluster" || true
    fi
    exit "$rc"
}
trap cleanup EXIT

kind get clusters | grep -qx "$cluster" || kind create cluster --name "$cluster" --wait 120s
docker build -t "$image" "$root"
kind load docker-image "$image" --name "$cluster"

helm upgrade --install aifbench "$root/charts/aifbench" -n aifbench --create-namespace \
    --set image.repository=aifbench --set image.tag=dev --set image.pullPolicy=Never --wait --timeout 180s
kubectl -n aifbench rollout status deploy/aifbench --timeout=120s

kubectl apply -f "$root/recipes/kind-quickstart.yaml"
kubectl wait bm/kind-quickstart --for=jsonpath='{.status.phase}'=Succeeded --timeout="$timeout"
kubectl get bm kind-quickstart -o yaml
requests="$(kubectl get bm kind-quickstart -o jsonpath='{.status.summary.requests}')"
[ "${requests:-0}" -gt 0 ] || { echo "no requests in the summary" >&2; exit 1; }

# Operator metrics answer.
kubectl -n aifbench port-forward svc/aifbench-metrics 18080:8080 >/dev/null 2>&1 &
pf=$!
sleep 3
curl -fsS http://127.0.0.1:18080/metrics | grep -q 'aifbench_benchmarks{phase="Succeeded"} 1'
kill "$pf"

# Deletion runs the finalizer: children gone, then the Benchmark.
kubectl delete bm kind-quickstart --timeout=120s
left="$(kubectl get pods,jobs,svc -l aifbench.io/benchmark=kind-quickstart -o name | wc -l)"
[ "$left" -eq 0 ] || { echo "children left after deletion: $left" >&2; exit 1; }
echo "kind e2e: 1 passed, 0 failed"
