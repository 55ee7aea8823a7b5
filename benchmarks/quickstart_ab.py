"""The whole `genlab quickstart` command, A/B against another source tree (e.g. genlab as it was when an issue
was filed), alternating, one thread, in process CPU seconds (user + system of the child process).

    git worktree add /tmp/qs_old 215d145^            # the quickstart as it was before issue 15
    python benchmarks/quickstart_ab.py --old /tmp/qs_old --rounds 6

Each round runs the old tree's and this tree's `genlab quickstart` (seed 0) in fresh processes, one after the
other, with ``OMP_NUM_THREADS=1``; the FIDs are read from each run's comparison.json. Results (every run, means,
medians, paired ratios): ``benchmarks/results/quickstart_ab.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(tree: Path, out: Path) -> dict:
    """One whole quickstart command from ``tree``; its child CPU seconds and FIDs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); from genlab.cli import main; main()"
    cmd = [sys.executable, "-c", code, "quickstart", "--out", str(out), "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode:
        raise RuntimeError(f"quickstart from {tree} failed: {res.stderr[-2000:]}")
    rows = json.loads((out / "comparison.json").read_text())
    return {"cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
            "fid": {r["model"]: round(r["fid"]["value"], 1) for r in rows if isinstance(r.get("fid"), dict)}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True, help="the other source tree (a folder holding genlab/)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "quickstart_ab.json"))
    args = ap.parse_args()
    arms = {"old": Path(args.old).resolve(), "new": ROOT}
    runs: dict[str, list] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            for arm, tree in arms.items():
                r = run_once(tree, Path(tmp) / f"{arm}{i}")
                runs[arm].append(r)
                print(json.dumps({"round": i, "arm": arm, **r}), flush=True)
    cpu = {a: [r["cpu_s"] for r in rs] for a, rs in runs.items()}
    ratios = [n / o for o, n in zip(cpu["old"], cpu["new"])]
    result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
              "threads": 1, "old_tree": str(arms["old"]), "rounds": args.rounds, "runs": runs,
              "mean_cpu_s": {a: round(statistics.mean(v), 2) for a, v in cpu.items()},
              "median_cpu_s": {a: round(statistics.median(v), 2) for a, v in cpu.items()},
              "paired_ratios_new_over_old": [round(r, 3) for r in ratios],
              "geometric_mean_ratio": round(statistics.geometric_mean(ratios), 3)}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("mean_cpu_s", "median_cpu_s", "geometric_mean_ratio")}))


if __name__ == "__main__":
    main()
