"""Client CPU per request of aifbench loadgen and of inference-perf, against
the same simulator in the same run (benches/peers.sh sets it up).

Each tool runs twice per concurrency, with N and N/10 requests; the marginal
CPU per request, (cpu(N) - cpu(N/10)) / (0.9 N), excludes start-up (Python
imports, tokenizer loading) so the comparison is of the request path alone.
Client on CPU 0, simulator on CPU 1.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN, PEERS_VENV, TOKENIZER = sys.argv[1], sys.argv[2], sys.argv[3]
PORT = 18805
N = int(os.environ.get("REQUESTS", "2000"))


def pin(cpu, argv):
    return ["taskset", "-c", str(cpu)] + argv


def cpu_of(argv, env=None):
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    t0 = time.monotonic()
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"{argv[2:4]} failed with {status}")
    return ru.ru_utime + ru.ru_stime, time.monotonic() - t0


def aifbench(c, n):
    return cpu_of(pin(0, [BIN, "loadgen", "--url", f"http://127.0.0.1:{PORT}", "--api", "completions",
                          "--concurrency", str(c), "--max-requests", str(n), "--max-tokens", "32",
                          "--ignore-eos", "--input-tokens", "16", "--progress-interval", "0",
                          "--model", "sim-model"]))


def inference_perf(c, n, work):
    cfg = os.path.join(work, f"ip-{c}-{n}.yaml")
    with open(cfg, "w") as f:
        f.write(f"""api: {{type: completion, streaming: true}}
data:
  type: random
  input_distribution: {{min: 16, max: 16, mean: 16, std_dev: 0}}
  output_distribution: {{min: 32, max: 32, mean: 32, std_dev: 0}}
load:
  type: concurrent
  stages: [{{num_requests: {n}, concurrency_level: {c}}}]
  num_workers: 1
server: {{type: vllm, model_name: sim-model, base_url: "http://127.0.0.1:{PORT}", ignore_eos: true}}
tokenizer: {{pretrained_model_name_or_path: {TOKENIZER}}}
storage: {{local_storage: {{path: {work}/ip-out-{c}-{n}}}}}
""")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return cpu_of(pin(0, [f"{PEERS_VENV}/bin/inference-perf", "--config_file", cfg]), env)


sim = subprocess.Popen(pin(1, [BIN, "sim", "--port", str(PORT), "--ttft", "1ms", "--itl", "100us",
                               "--output-tokens", "32"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
rows = []
with tempfile.TemporaryDirectory() as work:
    for c in (1, 64):
        for name, run in (("aifbench loadgen", lambda c, n: aifbench(c, n)),
                          ("inference-perf 0.7.0", lambda c, n: inference_perf(c, n, work))):
            big, wall = run(c, N)
            small, _ = run(c, N // 10)
            per = (big - small) / (N - N // 10)
            rows.append((c, name, big, wall, per))
sim.kill()
sim.wait()
print(f"{N} streamed completions (16 prompt words, 32 output tokens, ignore_eos) per run against "
      f"`aifbench sim --ttft 1ms --itl 100us`, client on CPU 0, simulator on CPU 1.\n")
print("| concurrency | client | CPU s for all requests | wall s | marginal client CPU ms/request |")
print("|---:|---|---:|---:|---:|")
for c, name, big, wall, per in rows:
    print(f"| {c} | {name} | {big:.2f} | {wall:.2f} | {1000 * per:.3f} |")
