#!/usr/bin/env bash
# Validates the Kubernetes manifests the project ships, against Kubernetes'
# own schemas, without a cluster:
#   - the Benchmark CRD (crds/ and the chart's copy) and the chart rendered
#     in three configurations (default; a namespace list with the
#     ServiceMonitor; Slurm Secrets off), with kubernetes-validate --strict;
#   - the Benchmark examples (recipes/kind-quickstart.yaml) against the CRD's
#     openAPIV3Schema (jsonschema);
#   - the Argo CD health check (Lua, run with lupa) on sample Benchmarks, and
#     that argocd-cm-patch.yaml carries the same script.
# The chart is rendered by tests/chart/render.py (no helm binary is
# installable from the reachable registries), which first tests itself.
#
# Idempotent: installs what it needs into a virtualenv under /var/tmp.
# Usage: scripts/check-manifests.sh        (exit 0: all valid)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${AIFB_MANIFESTS_VENV:-/var/tmp/aifbench-manifests-venv}"
k8s_version="${AIFB_K8S_VERSION:-1.33.0}"
py=python3

if ! "$venv/bin/python" -c 'import kubernetes_validate, yaml, jsonschema, lupa' 2>/dev/null; then
    echo "check-manifests: installing kubernetes-validate, pyyaml, jsonschema, lupa into $venv"
    "$py" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate pyyaml jsonschema lupa
fi
vpy="$venv/bin/python"
out="$(mktemp -d /var/tmp/aifbench-manifests.XXXXXX)"
trap 'rm -rf "$out"' EXIT

"$vpy" "$root/tests/chart/render.py" --self-test

render() {
    local name="$1"; shift
    "$vpy" "$root/tests/chart/render.py" "$root/charts/aifbench" --namespace aifbench --release aifbench "$@" > "$out/$name.yaml"
}
render default
render namespaced --set 'namespaces=[team-a, team-b]' --set serviceMonitor.enabled=true
render no-secrets --set slurm.readSecrets=false
render grafana --set grafanaDashboards.enabled=true

"$vpy" - "$root" "$out" "$k8s_version" <<'PY'
import glob, json, os, subprocess, sys, tempfile
import yaml, jsonschema, lupa

root, out, version = sys.argv[1:4]
failed = passed = 0

def check(name, ok, detail=""):
    global failed, passed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")

def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]

# 1. Built-in kinds against Kubernetes' schemas (strict: no unknown fields).
NOT_BUILTIN = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("aifbench.io/v1alpha1", "Benchmark")}
files = [os.path.join(root, "crds/benchmark.yaml"), os.path.join(root, "charts/aifbench/crds/benchmark.yaml")]
files += sorted(glob.glob(os.path.join(out, "*.yaml")))
kinds = {}
for path in files:
    for i, d in enumerate(docs(path)):
        key = (d.get("apiVersion"), d.get("kind"))
        kinds.setdefault(os.path.basename(path), []).append(key[1])
        if key in NOT_BUILTIN:
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as t:
            yaml.safe_dump(d, t)
        r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "kubernetes-validate"),
                            "--strict", "--quiet", "-k", version, t.name], capture_output=True, text=True)
        os.unlink(t.name)
        check(f"{os.path.basename(path)}#{i} {key[1]}", r.returncode == 0, (r.stdout + r.stderr).strip())

# 2. What each configuration renders.
expect = {
    "default.yaml": {"ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount", "CustomResourceDefinition"},
    "namespaced.yaml": {"Role", "RoleBinding", "Deployment", "Service", "ServiceAccount", "ServiceMonitor", "CustomResourceDefinition"},
}
for f, want in expect.items():
    got = set(kinds.get(f, []))
    check(f"{f} kinds", got == want, f"got {sorted(got)}, want {sorted(want)}")
ns_roles = [d for d in docs(os.path.join(out, "namespaced.yaml")) if d["kind"] == "Role" and d["metadata"]["namespace"] in ("team-a", "team-b")]
check("namespaced: one Role per namespace", len(ns_roles) == 2, str(len(ns_roles)))
for d in docs(os.path.join(out, "no-secrets.yaml")):
    if d["kind"] == "ClusterRole":
        check("slurm.readSecrets=false drops secrets", all("secrets" not in r["resources"] for r in d["rules"]), str(d["rules"]))
for d in docs(os.path.join(out, "default.yaml")):
    if d["kind"] == "Deployment":
        pod = d["spec"]["template"]["spec"]
        c = pod["containers"][0]["securityContext"]
        restricted = (pod["securityContext"].get("runAsNonRoot") is True
                      and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
                      and c.get("allowPrivilegeEscalation") is False and c["capabilities"]["drop"] == ["ALL"])
        check("Deployment meets the restricted Pod Security Standard", restricted, json.dumps(pod["securityContext"]))

# 3. Benchmark examples against the CRD's schema.
crd = docs(os.path.join(root, "crds/benchmark.yaml"))[0]
schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
def openapi_to_jsonschema(s):
    if isinstance(s, dict):
        s = {k: openapi_to_jsonschema(v) for k, v in s.items()
             if not k.startswith("x-kubernetes-") or k == "x-kubernetes-int-or-string"}
        if s.pop("x-kubernetes-int-or-string", False):
            s.pop("type", None)
            s["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if s.pop("nullable", False) and "type" in s:
            s["type"] = [s["type"], "null"]
        return s
    if isinstance(s, list):
        return [openapi_to_jsonschema(x) for x in s]
    return s
js = openapi_to_jsonschema(schema)
for path in [os.path.join(root, "recipes/kind-quickstart.yaml")]:
    for d in docs(path):
        errs = list(jsonschema.Draft7Validator(js).iter_errors(d))
        check(f"{os.path.basename(path)} against the CRD schema", not errs, "; ".join(e.message for e in errs[:5]))
bad = yaml.safe_load("apiVersion: aifbench.io/v1alpha1\nkind: Benchmark\nmetadata: {name: x}\nspec: {clients: [{id: c, instances: 0, workload: {type: openai}}]}")
check("the schema rejects instances: 0", bool(list(jsonschema.Draft7Validator(js).iter_errors(bad))), "accepted")

# 4. The Argo CD health check.
lua_src = open(os.path.join(root, "deploy/argocd/benchmark-health.lua")).read()
cm = docs(os.path.join(root, "deploy/argocd/argocd-cm-patch.yaml"))[0]
check("argocd-cm-patch.yaml carries benchmark-health.lua",
      cm["data"]["resource.customizations.health.aifbench.io_Benchmark"].strip() == lua_src.strip(), "differs")
def health(obj):
    L = lupa.LuaRuntime(unpack_returned_tuples=True)
    L.globals().obj = L.table_from(json.loads(json.dumps(obj)), recursive=True)
    hs = L.execute(lua_src)
    return hs["status"], hs["message"]
cases = [
    ({"metadata": {"generation": 1}}, "Progressing"),
    ({"metadata": {"generation": 1}, "status": {"phase": "Running", "observedGeneration": 1}}, "Progressing"),
    ({"metadata": {"generation": 1}, "status": {"phase": "Succeeded", "observedGeneration": 1}}, "Healthy"),
    ({"metadata": {"generation": 2}, "status": {"phase": "Succeeded", "observedGeneration": 1}}, "Progressing"),
    ({"metadata": {"generation": 1}, "status": {"phase": "Failed", "observedGeneration": 1, "message": "HealthcheckTimeout"}}, "Degraded"),
    ({"metadata": {"generation": 1}, "status": {"phase": "Cancelled", "observedGeneration": 1}}, "Suspended"),
]
for obj, want in cases:
    got, msg = health(obj)
    check(f"argo health {obj.get('status', {}).get('phase')} -> {want}", got == want, f"got {got} ({msg})")

print(f"check-manifests: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
