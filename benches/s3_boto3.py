"""The peer of aifbench's s3 workload for the CPU comparison in
tests/bench-s3.sh: the same operations (warp `mixed`: get 45, stat 30,
put 15, delete 10) on the same object size, with the same verification
(every GET's content is checked against a checksum recorded at write time),
through boto3 with `threads` workers.

Prints one JSON line: ops, errors, cpu_s (user+sys of this process from the
first request on, imports and client creation excluded), wall_s.

    python benches/s3_boto3.py --endpoint http://127.0.0.1:3900 --ops 2000 \
        --size 65536 --threads 4 --prepopulate 64 --credentials FILE
"""
import argparse
import json
import os
import random
import resource
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config


def creds(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--bucket", default="aifbench")
    p.add_argument("--region", default="garage")
    p.add_argument("--credentials", required=True)
    p.add_argument("--ops", type=int, default=2000)
    p.add_argument("--size", type=int, default=65536)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--prepopulate", type=int, default=64)
    p.add_argument("--prefix", default="boto3-bench")
    a = p.parse_args()
    c = creds(a.credentials)
    s3 = boto3.client(
        "s3",
        endpoint_url=a.endpoint,
        region_name=a.region,
        aws_access_key_id=c["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=c["AWS_SECRET_ACCESS_KEY"],
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1, "mode": "standard"},
            max_pool_connections=a.threads * 2,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
    pool = []  # (key, crc, size)
    lock = threading.Lock()
    counter = [0]
    stats = {"ops": 0, "errors": 0, "data_loss": 0}

    def new_obj():
        with lock:
            n = counter[0]
            counter[0] += 1
        body = os.urandom(a.size)
        return f"{a.prefix}/{n:010}", body, zlib.crc32(body)

    def put():
        key, body, crc = new_obj()
        s3.put_object(Bucket=a.bucket, Key=key, Body=body)
        with lock:
            pool.append((key, crc, len(body)))

    def take():
        with lock:
            if not pool:
                return None
            return pool.pop(random.randrange(len(pool)))

    def give(o):
        with lock:
            pool.append(o)

    def one(_):
        r = random.randrange(100)
        try:
            if r < 15:
                put()
            elif (o := take()) is None:
                put()  # nothing to read: a put, as aifbench does
            else:
                verify(r, o)
        except Exception:  # noqa: BLE001 - counted, as aifbench does
            with lock:
                stats["errors"] += 1
            return
        with lock:
            stats["ops"] += 1

    def verify(r, o):
        key, crc, size = o
        if r < 60:
            body = s3.get_object(Bucket=a.bucket, Key=key)["Body"].read()
            if len(body) != size or zlib.crc32(body) != crc:
                with lock:
                    stats["data_loss"] += 1
            give(o)
        elif r < 90:
            h = s3.head_object(Bucket=a.bucket, Key=key)
            if h["ContentLength"] != size:
                with lock:
                    stats["data_loss"] += 1
            give(o)
        else:
            s3.delete_object(Bucket=a.bucket, Key=key)

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    for _ in range(a.prepopulate):
        put()
    with ThreadPoolExecutor(a.threads) as ex:
        list(ex.map(one, range(a.ops)))
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({"client": "boto3", "ops": stats["ops"], "prepopulated": a.prepopulate,
                      "errors": stats["errors"], "data_loss": stats["data_loss"],
                      "cpu_s": round(cpu, 3), "wall_s": round(wall, 3)}))


if __name__ == "__main__":
    main()
