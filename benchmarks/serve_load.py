"""Load on `genlab serve`: concurrent sampling requests against a server on 127.0.0.1.

Trains three tiny runs (a Gaussian mixture and a VAE on digits, a character LSTM on a short text), starts
`genlab serve` in a subprocess with a model cache of 2 (so the three runs keep evicting each other), fires
``--requests`` POST /v1/runs/ID/samples requests ``--concurrency`` at a time (after one warm-up request per run) (mixed: 16-image PNG grids from the
two image runs, 64-character texts from the LSTM), and records p50/p99 latency, throughput, errors, the
server's CPU seconds and its peak resident memory (VmHWM) to benchmarks/results/serve_load.json.

Usage: ``python benchmarks/serve_load.py [--requests 500] [--concurrency 32]`` (about 20 CPU-seconds in all).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEXT = "the quick brown fox jumps over the lazy dog. ROMEO: what light through yonder window breaks?\n" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stats(pid: int) -> dict:
    """Peak and current resident memory (MB) and CPU seconds of process ``pid`` (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mem = {k: int(v.split()[0]) / 1024 for k, v in (ln.split(":", 1) for ln in status.splitlines())
           if k in ("VmHWM", "VmRSS")}
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return {"peak_rss_mb": round(mem["VmHWM"], 1), "rss_mb": round(mem["VmRSS"], 1),
            "cpu_seconds": round((int(fields[11]) + int(fields[12])) / tick, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--out", default=str(HERE / "results" / "serve_load.json"))
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    import httpx
    import torch

    import genlab

    torch.set_num_threads(1)
    c0 = time.process_time()
    tmp = Path(tempfile.mkdtemp(prefix="genlab-serve-load-"))
    root = tmp / "runs"
    genlab.train("gmm", "digits", root / "gmm", model_config={"n_components": 10}, progress=False)
    genlab.train("vae", "digits", root / "vae", epochs=2, batch_size=128, progress=False)
    (tmp / "t.txt").write_text(TEXT, encoding="utf-8")
    genlab.train("char-lstm", {"name": str(tmp / "t.txt"), "block_size": 32}, root / "lm",
                 model_config={"hidden": 64, "layers": 1}, max_steps=50, batch_size=32, progress=False)
    train_cpu = time.process_time() - c0

    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "genlab", "serve", str(root), "--port", str(port),
                               "--cache", "2", "--workers", "2", "--threads", "1"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=120) as client:
            for _ in range(300):  # wait for the server (up to 30 s)
                try:
                    if client.get(base + "/v1/runs").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise SystemExit("the server did not start:\n" + (server.stdout.read() if server.stdout else ""))
            idle = proc_stats(server.pid)
            cold = {}
            for kind in ("gmm", "vae", "lm"):  # first request per run: imports its model family and loads it
                t = time.perf_counter()
                client.post(f"{base}/v1/runs/{kind}/samples", json={"n": 1}).raise_for_status()
                cold[kind] = round((time.perf_counter() - t) * 1000, 1)
            jobs = []
            for i in range(args.requests):
                kind = ("gmm", "vae", "lm")[i % 3]
                body = ({"n": 1, "seed": i, "options": {"length": 64}} if kind == "lm" else {"n": 16, "seed": i})
                jobs.append((kind, body))

            def fire(job):
                kind, body = job
                t = time.perf_counter()
                r = client.post(f"{base}/v1/runs/{kind}/samples", json=body)
                return kind, r.status_code, time.perf_counter() - t, len(r.content)

            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                results = list(pool.map(fire, jobs))
            wall = time.perf_counter() - t0
            busy = proc_stats(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)

    import numpy as np

    def pct(values, q):
        return round(float(np.percentile(values, q)) * 1000, 1) if values else None

    lat = [r[2] for r in results if r[1] == 200]
    by_kind = {k: {"p50_ms": pct([r[2] for r in results if r[0] == k and r[1] == 200], 50),
                   "p99_ms": pct([r[2] for r in results if r[0] == k and r[1] == 200], 99),
                   "requests": sum(r[0] == k for r in results)} for k in ("gmm", "vae", "lm")}
    codes: dict[str, int] = {}
    for r in results:
        codes[str(r[1])] = codes.get(str(r[1]), 0) + 1
    out = {
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
        "torch": torch.__version__, "threads": 1, "server": "genlab serve --cache 2 --workers 2 --threads 1",
        "requests": args.requests, "concurrency": args.concurrency, "status_codes": codes,
        "wall_seconds": round(wall, 2), "throughput_rps": round(len(lat) / wall, 1),
        "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "by_run": by_kind,
        "first_request_ms": cold, "server_idle": idle, "server_after_load": busy,
        "server_cpu_seconds_under_load": round(busy["cpu_seconds"] - idle["cpu_seconds"], 2),
        "client_cpu_seconds": round(time.process_time() - c0 - train_cpu, 2),
        "training_cpu_seconds": round(train_cpu, 2),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
