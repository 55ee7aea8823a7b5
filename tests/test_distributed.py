"""Data-parallel training and sharded sampling through torch.distributed (gloo on CPU, 2 processes started by
torchrun inside the test, 1 thread each)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from genlab.cli import main

WORKER = textwrap.dedent('''
    import os, sys, torch
    from safetensors.torch import save_file
    import genlab.training.trainer as T
    from genlab.training import train

    out, mode = sys.argv[1], sys.argv[2]
    orig = T.Trainer.fit
    def fit(self):
        T.LAST = self
        return orig(self)
    T.Trainer.fit = fit
    rank = int(os.environ["RANK"])
    if mode == "ae":   # one step of a deterministic loss (reconstruction): 2 x 32
        train("ae", "ring8", f"{out}/run", model_config={"decoder": "gaussian"}, max_steps=1, batch_size=32, precision="fp32", progress=False,
              seed=3, overwrite=True)
    else:                # a GAN (two optimisers, alternating) for 20 steps of 2 x 32
        train("gan", "ring8", f"{out}/run", max_steps=20, batch_size=32, precision="fp32", progress=False,
              seed=1, checkpoint_every=7)
    m = T.LAST.model
    tensors = {"w." + k: v.detach().clone().contiguous() for k, v in m.state_dict().items()}
    tensors.update({"g." + k: p.grad.detach().clone().contiguous() for k, p in m.named_parameters() if p.grad is not None})
    save_file(tensors, f"{out}/rank{rank}.safetensors")
''')


def torchrun(tmp: Path, *args: str) -> None:
    """``torchrun --standalone --nproc-per-node 2`` the worker (args: out, mode) or ``-m genlab ARGS``."""
    if args[0] != "-m":
        script = tmp / "worker.py"
        script.write_text(WORKER)
        args = (str(script), str(tmp), *args)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", *args],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the launcher and its ranks: no orphans
        out, _ = p.communicate()
    assert p.returncode == 0, out[-4000:]


def test_two_processes_of_32_equal_one_of_64(tmp_path, one_thread):
    torchrun(tmp_path, "ae")
    r0, r1 = (load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1))
    assert any(k.startswith("g.") for k in r0)
    for k in r0:  # the ranks hold the same averaged gradients and the same updated weights
        assert torch.equal(r0[k], r1[k]), k
    import genlab.training.trainer as T
    from genlab.training import train

    orig = T.Trainer.fit
    seen = {}

    def fit(self):
        seen["t"] = self
        return orig(self)

    T.Trainer.fit = fit
    try:
        train("ae", "ring8", tmp_path / "one", model_config={"decoder": "gaussian"}, max_steps=1, batch_size=64, precision="fp32", progress=False, seed=3)
    finally:
        T.Trainer.fit = orig
    m = seen["t"].model
    for k, p in m.named_parameters():
        assert torch.allclose(p.grad, r0["g." + k], atol=1e-5, rtol=1e-4), k
    for k, p in m.named_parameters():  # buffers (running code statistics) are rank 0's shard only, as in DDP
        assert torch.allclose(p.detach(), r0["w." + k], atol=1e-5, rtol=1e-4), k
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["distributed"]["world_size"] == 2 and cfg["distributed"]["effective_batch_size"] == 64


def test_gan_on_two_processes_then_resume_on_one_and_sharded_sampling(tmp_path, one_thread):
    torchrun(tmp_path, "gan")
    r0, r1 = (load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1))
    for k in r0:  # D and G identical on both ranks after 20 alternating updates
        assert torch.equal(r0[k], r1[k]), k
    run = tmp_path / "run"
    saved = load_file(run / "checkpoint" / "model.safetensors") if (run / "checkpoint").is_dir() else None
    if saved is not None:
        for k, v in saved.items():
            assert torch.equal(v, r0["w." + k]), k
    state = json.loads((run / "state.json").read_text())
    assert state["status"] == "finished" and state["step"] == 20 and state["world_size"] == 2

    # sharded sampling by two ranks: 3 shards, 101 rows, distinct seeds, same as one process writing them
    rows = tmp_path / "rows"
    torchrun(tmp_path, "-m", "genlab", "sample", str(run), "-n", "101", "-o", f"{rows}/", "--shards", "3", "--seed", "5")
    manifest = json.loads((rows / "manifest.json").read_text())
    assert [s["rows"] for s in manifest["shards"]] == [34, 34, 33]
    seeds = [s["seed"] for s in manifest["shards"]]
    assert len(set(seeds)) == 3
    parts = [np.load(rows / s["file"])["x"] for s in manifest["shards"]]
    assert sum(len(p) for p in parts) == 101 and all(np.isfinite(p).all() for p in parts)
    assert not np.allclose(parts[0][:33], parts[1][:33])  # other seeds, other samples
    res = CliRunner().invoke(main, ["sample", str(run), "-n", "101", "-o", str(tmp_path / "one") + "/",
                                    "--shards", "3", "--seed", "5"])
    assert res.exit_code == 0, res.output
    one = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert [s["seed"] for s in one["shards"]] == seeds
    for s in one["shards"]:
        np.testing.assert_array_equal(np.load(tmp_path / "one" / s["file"])["x"], np.load(rows / s["file"])["x"])

    # the 2-process run continues on 1 process; the data order restarts at the next epoch boundary
    from genlab.training import resume

    resume(run, max_steps=26, progress=False)
    state = json.loads((run / "state.json").read_text())
    assert state["status"] == "finished" and state["step"] == 26 and state["world_size"] == 1
    notes = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("split") == "note" and "epoch boundary" in r.get("note", "") for r in notes)


def test_bad_distributed_inputs(tmp_path, monkeypatch):
    runner = CliRunner()
    res = runner.invoke(main, ["train", "gan", "--data", "ring8", "--out", str(tmp_path / "r"), "--nproc", "9999"])
    assert res.exit_code == 2 and "CPU cores" in res.output and not (tmp_path / "r").exists()
    res = runner.invoke(main, ["train", "gan", "--data", "ring8", "--out", str(tmp_path / "r"), "--nproc", "0"])
    assert res.exit_code == 2 and "--nproc" in res.output
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    res = runner.invoke(main, ["train", "gan", "--data", "ring8", "--out", str(tmp_path / "r"), "--max-steps", "2"])
    assert res.exit_code == 2 and "MASTER_ADDR" in res.output and "Traceback" not in res.output
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("RANK")
    res = runner.invoke(main, ["sample", str(tmp_path / "nope"), "-n", "4", "-o", str(tmp_path / "x.npz"), "--shards", "2"])
    assert res.exit_code == 2 and "folder" in res.output
