"""Client CPU per request of aifbench loadgen, inference-perf and guidellm,
against the same simulator in the same run (benches/peers.sh sets it up).

Each tool runs twice per concurrency, with N and N/10 requests; the marginal
CPU per request, (cpu(N) - cpu(N/10)) / (0.9 N), excludes start-up (Python
imports, tokenizer loading) so the comparison is of the request path alone.
Client on CPU 0, simulator on CPU 1. CPU time is the client process's own
plus that of the worker processes it waited for (wait4), so guidellm's
multiprocessing workers count.

inference-perf runs against /v1/completions, guidellm against
/v1/chat/completions (guidellm 0.8.1 fails to build /v1/completions requests
from its synthetic data), and aifbench against both, so each peer is
compared with aifbench on the same API.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN, PEERS_VENV, TOKENIZER, GUIDELLM_VENV, FLOOR = sys.argv[1:6]
PORT = 18805
N = int(os.environ.get("REQUESTS", "2000"))
ITL = os.environ.get("ITL", "100us")
CONCURRENCIES = [int(c) for c in os.environ.get("CONCURRENCIES", "1,64").split(",")]


def pin(cpu, argv):
    return ["taskset", "-c", str(cpu)] + argv


def cpu_of(argv, env=None):
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    t0 = time.monotonic()
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"{argv[2:4]} failed with {status}")
    return ru.ru_utime + ru.ru_stime, time.monotonic() - t0


def aifbench(c, n, api="completions"):
    return cpu_of(pin(0, [BIN, "loadgen", "--url", f"http://127.0.0.1:{PORT}", "--api", api,
                          "--concurrency", str(c), "--max-requests", str(n), "--max-tokens", "32",
                          "--ignore-eos", "--input-tokens", "16", "--progress-interval", "0",
                          "--model", "sim-model"]))


def floor(n, api="completions"):
    """The kernel's share: a blocking reader with one read per arrival and no
    HTTP, SSE or JSON work (examples/stream_floor.rs); concurrency 1 only."""
    argv = [FLOOR, f"127.0.0.1:{PORT}", str(n)] + (["chat"] if api == "chat" else [])
    return cpu_of(pin(0, argv))


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


def guidellm(c, n, work):
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    return cpu_of(pin(0, [f"{GUIDELLM_VENV}/bin/guidellm", "run",
                          "--backend", f"kind=openai_http,target=http://127.0.0.1:{PORT},model=sim-model",
                          "--tokenizer", f"kind=hf_auto,model={TOKENIZER}",
                          "--profile", f"kind=concurrent,streams={c}",
                          "--constraint", f"kind=max_requests,count={n}",
                          "--data", "kind=synthetic_text,prompt_tokens=16,output_tokens=32",
                          "--disable-progress",
                          "--output", f"kind=json,path={work}/gl-{c}-{n}.json"]), env)


sim = subprocess.Popen(pin(1, [BIN, "sim", "--port", str(PORT), "--ttft", "1ms", "--itl", ITL,
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
    for c in CONCURRENCIES:
        tools = [("aifbench loadgen, completions", lambda c, n: aifbench(c, n)),
                 ("inference-perf 0.7.0, completions", lambda c, n: inference_perf(c, n, work)),
                 ("aifbench loadgen, chat", lambda c, n: aifbench(c, n, "chat")),
                 ("guidellm 0.8.1, chat", lambda c, n: guidellm(c, n, work))]
        if c == 1:
            tools[1:1] = [("floor: read per arrival, no parsing, completions", lambda c, n: floor(n))]
            tools.append(("floor: read per arrival, no parsing, chat", lambda c, n: floor(n, "chat")))
        if os.environ.get("ONLY"):
            tools = [t for t in tools if any(o in t[0] for o in os.environ["ONLY"].split(","))]
        for name, run in tools:
            big, wall = run(c, N)
            small, _ = run(c, N // 10)
            per = (big - small) / (N - N // 10)
            rows.append((c, name, big, wall, per))
sim.kill()
sim.wait()
print(f"{N} streamed requests (16 prompt words, 32 output tokens, ignore_eos) per run against "
      f"`aifbench sim --ttft 1ms --itl {ITL}`, client on CPU 0, simulator on CPU 1.\n")
print("| concurrency | client | CPU s for all requests | wall s | marginal client CPU ms/request |")
print("|---:|---|---:|---:|---:|")
for c, name, big, wall, per in rows:
    print(f"| {c} | {name} | {big:.2f} | {wall:.2f} | {1000 * per:.3f} |")
