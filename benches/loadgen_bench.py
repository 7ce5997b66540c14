"""Driver of benches/loadgen.sh (see there). Standard library only.

The client is pinned to CPU 0 and the simulator to CPU 1 when the machine
has two or more, so they do not share a core. Client CPU time and peak RSS
come from wait4() on the client process itself.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

BIN = sys.argv[1]
DURATION = os.environ.get("DURATION", "10")
TWO = os.cpu_count() >= 2


def pinned(cpu, argv):
    return (["taskset", "-c", str(cpu)] if TWO else []) + argv


def start_sim(port, *args):
    p = subprocess.Popen(pinned(1, [BIN, "sim", "--port", str(port), *args]),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return p
        except OSError:
            time.sleep(0.1)
    p.kill()
    sys.exit("simulator did not start")


def loadgen(port, *args):
    """Runs one client; returns (summary dict, cpu seconds, max rss MB)."""
    p = subprocess.Popen(pinned(0, [BIN, "loadgen", "--url", f"http://127.0.0.1:{port}",
                                    "--progress-interval", "0", *args]),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"loadgen failed: {status}")
    summary = json.loads(out.decode().strip().splitlines()[-1])
    return summary, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def server_means(port):
    """Sum and count of the simulator's own TTFT and ITL histograms."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        for metric in ("time_to_first_token_seconds", "inter_token_latency_seconds"):
            for part in ("sum", "count"):
                if line.startswith(f"vllm:{metric}_{part}"):
                    out[(metric, part)] = out.get((metric, part), 0.0) + float(line.split()[-1])
    return out


accuracy = []


def stat(s, name):
    l = s["latency"].get(name)
    return f'{l["p50Ms"]:.2f} / {l["p99Ms"]:.2f}' if l else "-"


rows = []


def row(label, s, cpu, rss):
    n = s["requests"] + s["errors"]
    sent = f' (sent {s["sendRate"]:.2f})' if "rate" in s and "sendRate" in s else ""
    rows.append(
        f'| {label} | {s["requests"]} | {s["errors"]} | {s["requestThroughput"]:.1f}{sent} | '
        f'{1000 * cpu / max(n, 1):.3f} | {n / cpu if cpu else 0:.0f} | {rss:.1f} | '
        f'{stat(s, "ttft")} | {stat(s, "itl")} | {stat(s, "queue_time")} | {stat(s, "client_lag")} |')


# Accuracy: known timing (TTFT 50 ms, ITL 10 ms, 32 tokens, no jitter).
# Steady state: the 256 streams start over a 3 s ramp-up and the first 3 s
# are warm-up, so connection set-up is not measured and the streams are
# spread over the 10 ms token cycle as independent users are. The lock-step
# run starts all 256 at once and measures from the first request: every 10
# ms the simulator then writes 256 tokens in one burst from its single core,
# and the last stream of each burst waits for the other 255.
sim = start_sim(18801, "--ttft", "50ms", "--itl", "10ms", "--output-tokens", "32")
for c, label, extra in (
        ("1", "accuracy, 1 stream", ["--warmup", "1s"]),
        ("256", "accuracy, 256 streams, steady state", ["--ramp-up", "3s", "--warmup", "3s"]),
        ("256", "accuracy, 256 streams in lock-step, no warm-up", [])):
    before = server_means(18801)
    s, cpu, rss = loadgen(18801, "--concurrency", c, "--duration", f"{DURATION}s",
                          "--max-tokens", "32", *extra)
    after = server_means(18801)
    row(f"{label} (truth: ttft 50, itl 10)", s, cpu, rss)
    # The simulator's own view of the same requests: what it meant to send
    # (its timers fire up to ~1 ms late); the difference to the client's
    # mean is the client's measurement error plus loopback transfer.
    d = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    for metric, key in (("time_to_first_token_seconds", "ttft"), ("inter_token_latency_seconds", "itl")):
        server_ms = 1000 * d[(metric, "sum")] / d[(metric, "count")]
        client_ms = s["latency"][key]["meanMs"]
        accuracy.append(f"| {label} | {key} | {server_ms:.3f} | {client_ms:.3f} | {client_ms - server_ms:+.3f} |")
# Open loop at a fixed rate.
s, cpu, rss = loadgen(18801, "--rate", "200", "--arrival", "constant",
                      "--duration", f"{DURATION}s", "--max-tokens", "32")
row("open loop, 200 req/s constant (achieved req/s)", s, cpu, rss)
# Memory at 1024 concurrent streams (each ~360 ms long).
s, cpu, rss = loadgen(18801, "--concurrency", "1024", "--duration", f"{DURATION}s",
                      "--max-tokens", "32")
row("1024 concurrent streams", s, cpu, rss)
sim.kill()
sim.wait()

# Cost: a fast server (TTFT 1 ms, ITL 0.1 ms, 32 tokens): client CPU per request.
sim = start_sim(18802, "--ttft", "1ms", "--itl", "100us", "--output-tokens", "32")
for c in ["1", "64", "1024"]:
    s, cpu, rss = loadgen(18802, "--concurrency", c, "--duration", f"{DURATION}s",
                          "--max-tokens", "32")
    row(f"cost, fast server, concurrency {c}", s, cpu, rss)
sim.kill()
sim.wait()

print(f"aifbench loadgen vs aifbench sim on loopback, {DURATION} s per run, "
      f"client pinned to CPU 0{' and simulator to CPU 1' if TWO else ''}.\n")
print("| run | requests | errors | req/s | client CPU ms/req | req per client CPU-s | "
      "client RSS MB | ttft p50 / p99 ms | itl p50 / p99 ms | queue p50 / p99 ms | client lag p50 / p99 ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
print("\n".join(rows))
print("\nClient against the simulator's own measurement of the same requests (means, ms):\n")
print("| run | metric | simulator | client | client − simulator |")
print("|---:|---|---:|---:|---:|")
print("\n".join(accuracy))
