"""Data-parallel scaling of `genlab train`: 1 process vs N processes (torchrun --standalone, gloo on CPU, NCCL on
CUDA), same model and data, a fixed number of steps.

Three settings per world size: one process with batch B; N processes with batch B/N each (the same effective
batch: strong scaling) and N processes with batch B each (N times the effective batch: weak scaling). For each:
wall seconds per step and examples per second (rank 0's training clock, start-up excluded), the process CPU
seconds of the whole launch (all ranks, the launcher and start-up included) and rank 0's training CPU seconds.

    python benchmarks/distributed_scaling.py                         # this 2-core CPU machine (about 1 CPU-minute)
    python benchmarks/distributed_scaling.py --device cuda --nproc 8 --model dcgan --data mnist --steps 300 \\
        --batch 256 --out benchmarks/results/distributed_scaling_gpu.json   # a GPU node

Writes ``benchmarks/results/distributed_scaling.json``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one(model: str, data: str, root: str, steps: int, batch: int, nproc: int, device: str, threads: int, tmp: Path) -> dict:
    out = tmp / f"{model}-{nproc}x{batch}"
    shutil.rmtree(out, ignore_errors=True)
    args = ["train", model, "--data", data, "--out", str(out), "--max-steps", str(steps), "--batch-size", str(batch),
            "--device", device, "--root", root, "--quiet", "--set", "train.checkpoint_every=100000", "--set", "train.log_every=100000",
            "--set", "train.val_batches=1", "--set", "train.grid_size=16", "--threads", str(threads)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m", "genlab", *args]
    else:
        cmd = [sys.executable, "-m", "genlab", *args]
    c0 = child_cpu()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu = child_cpu() - c0
    state = json.loads((out / "state.json").read_text())
    wall = state["train_time_s"]
    eff = batch * nproc
    return {"processes": nproc, "batch_per_process": batch, "effective_batch": eff, "steps": state["step"],
            "step_time_ms": round(1000 * wall / state["step"], 2), "examples_per_s": round(eff * state["step"] / wall, 1),
            "rank0_train_cpu_s": state["cpu_time_s"], "launch_cpu_s_all_processes": round(cpu, 2),
            "precision": state.get("precision")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="dcgan")
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"),
                    help="folder holding the built-in datasets (default: ../shared/data next to the repository)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=64, help="batch of the 1-process run")
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--out", default="benchmarks/results/distributed_scaling.json")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="genlab-dist-"))
    c0 = child_cpu()
    try:
        rows = [one(a.model, a.data, a.root, a.steps, a.batch, 1, a.device, a.threads, tmp),
                one(a.model, a.data, a.root, a.steps, a.batch // a.nproc, a.nproc, a.device, a.threads, tmp),
                one(a.model, a.data, a.root, a.steps, a.batch, a.nproc, a.device, a.threads, tmp)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for r, kind in zip(rows, ["baseline", "strong (same effective batch)", "weak (batch per process kept)"]):
        r["setting"] = kind
    result = {
        "date": datetime.date.today().isoformat(), "machine": f"{platform.machine()} {os.cpu_count()} CPUs"
        + (f", {torch.cuda.get_device_name(0)}" if a.device.startswith("cuda") else ", no GPU"),
        "torch": torch.__version__, "threads_per_process": a.threads, "model": a.model, "data": a.data,
        "device": a.device, "backend": "nccl" if a.device.startswith("cuda") else "gloo",
        "note": "machine shared with other jobs while measured; step times include the gradient all-reduce",
        "rows": rows, "total_cpu_s": round(child_cpu() - c0, 1),
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    for r in rows:
        print(f"{r['setting']:<32} {r['processes']} x {r['batch_per_process']:>4}: {r['step_time_ms']:>8.1f} ms/step "
              f"{r['examples_per_s']:>9.1f} ex/s  CPU {r['launch_cpu_s_all_processes']:.1f} s (rank 0 training "
              f"{r['rank0_train_cpu_s']:.1f} s)")
    print(f"total CPU {result['total_cpu_s']} s -> {a.out}")


if __name__ == "__main__":
    main()
