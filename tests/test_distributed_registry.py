"""Under torch.distributed: one model of every family trains on 2 gloo processes (the fast subset of
benchmarks/distributed_registry.py), and a failed rank ends `genlab train --nproc 2` with genlab's one line."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# one model per family: the cheapest of each (a one-shot fit among them: gmm)
SUBSET = ["gan", "vae", "tvae", "char-gru", "pix2pix", "ddpm-mlp", "flow-mlp", "gmm"]


def _benchmark():
    spec = importlib.util.spec_from_file_location("distributed_registry", ROOT / "benchmarks" / "distributed_registry.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _processes_mentioning(text: str) -> list[str]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmd:
                out.append(f"{pid}: {cmd[:200]}")
    return out


def test_one_model_per_family_trains_on_two_processes(tmp_path):
    import genlab

    families = {genlab.get_model_class(m).family for m in SUBSET}
    assert families == {c.family for n, c in genlab.list_models().items() if c.family != "test"}  # every family
    results = _benchmark().run_all(SUBSET, tmp_path, timeout=300, echo=lambda *_: None)
    bad = {m: r.get("reason") for m, r in results.items() if r["status"] != "pass"}
    assert not bad, bad
    assert all(results[m]["identical_weights"] and results[m]["distributed"]["world_size"] == 2 for m in SUBSET)
    assert "rank 0" in results["gmm"]["note"]  # a one-shot fit: fitted on rank 0, loaded by the other
    assert not _processes_mentioning(str(tmp_path))


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="--nproc 2 needs 2 CPU cores")
def test_a_failing_rank_ends_nproc_with_one_line(tmp_path):
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "genlab", "train", "vae", "--data", str(tmp_path / "no-such-data"),
                        "--out", str(out), "--nproc", "2"], capture_output=True, text=True, timeout=240,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]
    assert p.returncode == 2, p.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: could not load") and "no-such-data" in lines[0], lines
    assert not _processes_mentioning(str(tmp_path))  # neither torchrun nor a rank is left behind
    assert not out.exists()


def test_the_launcher_names_a_rank_that_died_without_a_line(tmp_path):
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    from genlab.training.launch import failure_line

    killed = ChildFailedError("genlab", {1: ProcessFailure(local_rank=1, pid=12345, exitcode=-9, error_file="")})
    line, code = failure_line(killed, tmp_path)
    assert line.startswith("error: rank 1 was killed by SIGKILL") and code == 137
    (tmp_path / "rank-0.txt").write_text("error: the data is bad\n")
    failed = ChildFailedError("genlab", {0: ProcessFailure(local_rank=0, pid=12345, exitcode=2, error_file="")})
    assert failure_line(failed, tmp_path) == ("error: the data is bad", 2)
