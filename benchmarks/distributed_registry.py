"""Every model of the registry under torch.distributed: 2 training steps on 2 gloo processes (CPU, 1 thread each).

    python benchmarks/distributed_registry.py                    # every registered model
    python benchmarks/distributed_registry.py --models gan,gmm --out /tmp/x.json

One torchrun launch trains the models one after another in the same process group (tiny data and settings
from tests/test_contract.py: FACTORIES, TINY, each model's ``tiny_config``; audience logs from
tests/test_audiences.py). Per model it records pass / fail /
skip with the reason, whether both ranks ended with bit-identical weights (they must: every rank applies the
same averaged update, and one-shot fits are fitted on rank 0 and loaded by the others), and rank 0's CPU
seconds. A model that fails on a rank ends that launch; the script records the error and launches again for
the models left. Results: benchmarks/results/distributed_registry.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
RESULT = ROOT / "benchmarks" / "results" / "distributed_registry.json"
STEPS = 2


def contract():
    sys.path.insert(0, str(ROOT / "tests"))
    import test_contract

    return test_contract


# audience data (grouped event logs) has no factory in test_contract: tests/test_audiences.py's tiny logs
AUDIENCE_TINY = {"audience-tvae": {"embedding_dim": 4, "latent_dim": 4, "encoder_dims": [16], "decoder_dims": [16]},
                 "audience-gan": {"embedding_dim": 4, "noise_dim": 8, "generator_dims": [16],
                                  "discriminator_dims": [16], "pac": 4},
                 "audience-nn": {}}


def audience_data(folder: Path) -> dict:
    import test_audiences

    if not (folder / "events.csv").is_file():
        test_audiences.write_logs(folder)
    return {"name": str(folder / "events.csv"), "group": "item", "context": str(folder / "items.csv")}


# ----------------------------------------------------------------------------- one rank
def worker(models: list[str], folder: Path) -> None:
    from datetime import timedelta

    import torch

    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", timeout=timedelta(seconds=120))
    rank = torch.distributed.get_rank()
    import genlab
    import genlab.training.trainer as T
    from genlab.config import DataConfig

    C = contract()
    orig = T.Trainer.fit

    def fit(self):
        T.LAST = self
        return orig(self)

    T.Trainer.fit = fit
    log = folder / f"results-rank{rank}.jsonl"
    for name in models:
        (folder / f"current-rank{rank}").write_text(name)
        cls = genlab.get_model_class(name)
        factories = {**C.FACTORIES, "audience": audience_data}
        modality = next((m for m in cls.modalities if m in factories), None)
        row = {"model": name, "family": cls.family, "iterative": bool(cls.iterative)}
        if modality is None:
            row.update(status="skip", reason=f"no tiny-data factory for {'/'.join(cls.modalities)} data "
                                             "(tests/test_contract.py FACTORIES)")
        else:
            tiny = AUDIENCE_TINY[name] if modality == "audience" and name in AUDIENCE_TINY else C._tiny(name)
            data = {**factories[modality](folder), **tiny.pop("data", {})}
            train = {"max_steps": STEPS, "batch_size": 16, "progress": False, "sample_every": 10**9, "val_batches": 1,
                     "grid_size": 4, "checkpoint_every": 10**9, **tiny.pop("train", {})}
            tiny.pop("sample", None)
            cpu = time.process_time()
            genlab.train(name, DataConfig(**data), folder / "runs" / name, model_config=tiny, train_config=train)
            state = T.LAST.model.state_dict()
            digest = hashlib.sha256()
            for k in sorted(state):
                digest.update(k.encode() + state[k].detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
            digests = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(digests, digest.hexdigest())
            run_cfg = json.loads((folder / "runs" / name / "config.json").read_text()) if rank == 0 else {}
            row.update(status="pass" if len(set(digests)) == 1 else "fail", data=modality,
                       identical_weights=len(set(digests)) == 1, steps=T.LAST.step if hasattr(T.LAST, "step") else None,
                       cpu_s_rank0=round(time.process_time() - cpu, 2), distributed=run_cfg.get("distributed"))
            if len(set(digests)) != 1:
                row["reason"] = "the ranks ended with different weights"
            if not cls.iterative and rank == 0:  # what the run says about it (metrics.jsonl, "split": "note")
                from genlab.training import checkpoint as ck

                notes = [r["note"] for r in ck.read_metrics(folder / "runs" / name) if r.get("split") == "note"]
                row["note"] = notes[0] if notes else None
        with log.open("a") as f:
            f.write(json.dumps(row) + "\n")
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


# ----------------------------------------------------------------------------- driver
def launch(models: list[str], folder: Path, timeout: float) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(HERE),
           "--worker", "--folder", str(folder), "--models", ",".join(models)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True, cwd=str(folder))
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the launcher and both ranks: no orphans
        out, _ = p.communicate()
        out += f"\n[timed out after {timeout:.0f} s]"
    return p.returncode, out


def error_line(out: str) -> str:
    """The most telling line of a failed launch: the last 'Error' line of a rank's traceback."""
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    picks = [ln for ln in lines if ("Error" in ln or "error:" in ln) and "ChildFailedError" not in ln
             and "elastic" not in ln and not ln.startswith(("File ", "raise "))]
    return (picks[0] if picks else (lines[-1] if lines else "no output"))[:400]


def run_all(models: list[str], folder: Path, timeout: float = 600, echo=print) -> dict[str, dict]:
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    left = list(models)
    while left:
        for f in folder.glob("results-rank*.jsonl"):
            f.unlink()
        for f in folder.glob("current-rank*"):
            f.unlink()
        rc, out = launch(left, folder, timeout)
        rows = [json.loads(ln) for ln in (folder / "results-rank0.jsonl").read_text().splitlines()] \
            if (folder / "results-rank0.jsonl").is_file() else []
        for row in rows:
            results[row["model"]] = row
            echo(f"{row['model']:>16}: {row['status']}" + (f" ({row.get('reason')})" if row.get("reason") else ""))
        done = {r["model"] for r in rows}
        left = [m for m in left if m not in done]
        if rc == 0 or not left:
            if left:  # a clean exit that skipped models cannot happen; guard against a loop anyway
                for m in left:
                    results[m] = {"model": m, "status": "fail", "reason": "not reached"}
            break
        current = next((p.read_text() for p in sorted(folder.glob("current-rank*")) if p.read_text() in left), left[0])
        import genlab

        cls = genlab.get_model_class(current)
        results[current] = {"model": current, "family": cls.family, "iterative": bool(cls.iterative), "status": "fail",
                            "reason": error_line(out), "log_tail": out[-3000:]}
        echo(f"{current:>16}: fail ({results[current]['reason']})")
        left = [m for m in left if m != current]
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--folder", default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--models", default=None, help="comma-separated models (default: every registered model)")
    ap.add_argument("--out", default=str(RESULT))
    args = ap.parse_args()
    if args.worker:
        return worker(args.models.split(","), Path(args.folder))
    import tempfile

    import genlab

    models = args.models.split(",") if args.models else contract()._registered()
    t0, ru0 = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory(prefix="genlab-ddp-registry-") as tmp:
        results = run_all(models, Path(args.folder or tmp))
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    import torch

    counts = {s: sum(r["status"] == s for r in results.values()) for s in ("pass", "fail", "skip")}
    report = {
        "what": f"{STEPS} training steps of every registered model on 2 processes (torchrun --standalone, gloo, CPU, "
                "1 thread each), tiny data and settings of tests/test_contract.py",
        "counts": counts, "models": [results[m] for m in models],
        "cpu_s_all_processes": round(ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime, 1),
        "wall_s": round(time.time() - t0, 1), "torch": torch.__version__, "genlab": genlab.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "date": time.strftime("%Y-%m-%d"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"{counts} in {report['cpu_s_all_processes']} CPU s ({report['wall_s']} s); written to {args.out}")


if __name__ == "__main__":
    main()
