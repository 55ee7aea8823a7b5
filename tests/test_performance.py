"""Hardware use: bf16 mixed precision, --threads, one generator pass per GAN step, light start-up, budgets."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import genlab
from genlab.errors import ConfigError
from genlab.training import checkpoint as ck
from genlab.training import hardware as hw

FAST = dict(progress=False, batch_size=64, log_every=1, seed=0)
ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300)


# ----------------------------------------------------------------------------- precision
def test_precision_resolution(tmp_path):
    cpu = torch.device("cpu")
    assert hw.resolve_precision("fp32", cpu) == "fp32"
    assert hw.resolve_precision("bf16", cpu) == "bf16"
    assert hw.resolve_precision("auto", cpu) == ("bf16" if hw.cpu_has_bf16() else "fp32")
    assert hw.resolve_precision("auto", cpu, amp=False) == "fp32"  # an old run folder's "amp": false
    with pytest.raises(ConfigError, match="train.precision"):
        genlab.train("vae", "digits", tmp_path / "r", precision="fp16", **FAST)
    assert not (tmp_path / "r").exists()


class _Probe(nn.Module):
    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.dtype)
        return x


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 8), _Probe(), nn.Linear(8, 4))
        self.sn = nn.utils.parametrizations.spectral_norm(nn.Linear(4, 4))


def test_mixed_precision_is_bf16_inside_networks_and_fp32_around_them():
    m = _Toy()
    mixed = hw.MixedPrecision(m, torch.device("cpu"))
    x = torch.randn(5, 8)
    with mixed:
        out = m.net(x)  # the model's own code calls a network: bf16 inside, fp32 out
        assert out.dtype == torch.float32
        assert m.net[1].seen == [torch.bfloat16]
        assert (out @ torch.ones(4, 4)).dtype == torch.float32  # the model's arithmetic: not under autocast
        assert m.sn(out).dtype == torch.float32
        assert m.sn.parametrizations.weight.original.dtype == torch.float32
    assert not torch.is_autocast_enabled("cpu")
    m.net(x)  # outside a training step: untouched
    assert m.net[1].seen[-1] == torch.float32
    ref = m.net(x)
    with mixed:
        close = m.net(x)
    torch.testing.assert_close(close, ref, rtol=0.05, atol=0.05)
    mixed.remove()
    with mixed:
        assert m.net(x).dtype == torch.float32 and m.net[1].seen[-1] == torch.float32


def _first_losses(model: str, data, tmp_path: Path, precision: str, **kw) -> tuple[dict, dict]:
    out = tmp_path / f"{model}-{precision}"
    genlab.train(model, data, out, max_steps=3, precision=precision, **{**FAST, **kw})
    recs = [r for r in ck.read_metrics(out) if r.get("split") == "train"]
    return recs[0], ck.read_state(out)


@pytest.mark.parametrize("model,data,kw", [
    ("vae", "digits", {}),
    ("dcgan", "digits", {}),
    ("pixelcnn", {"name": "digits", "binarize": "static"}, {"model_config": {"width": 8, "layers": 2, "head": 16}}),
    ("ae", "digits", {}),  # running code statistics (a covariance) next to the networks
])
def test_bf16_training_is_finite_and_close_to_fp32(model, data, kw, tmp_path, one_thread):
    ref, s32 = _first_losses(model, data, tmp_path, "fp32", **kw)
    low, s16 = _first_losses(model, data, tmp_path, "bf16", **kw)
    assert s32["precision"] == "fp32" and s16["precision"] == "bf16"
    keys = [k for k, v in ref.items() if k.startswith("loss") and isinstance(v, float)]
    assert keys
    for k in keys:  # same weights, same batch: the first step's losses agree to bf16 accuracy
        assert torch.isfinite(torch.tensor(low[k]))
        assert abs(low[k] - ref[k]) <= 0.01 * abs(ref[k]) + 1e-3, (k, low[k], ref[k])


def test_bf16_text_model_close_to_fp32(tmp_path, one_thread):
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    data = {"name": str(text), "block_size": 16}
    mc = {"model_config": {"layers": 1, "heads": 2, "width": 16}}
    ref, _ = _first_losses("transformer-lm", data, tmp_path, "fp32", **mc)
    low, _ = _first_losses("transformer-lm", data, tmp_path, "bf16", **mc)
    assert abs(low["loss"] - ref["loss"]) <= 0.01 * ref["loss"]


def test_fused_optimizers_and_exact_resume_under_bf16(tmp_path, one_thread):
    genlab.train("vae", "digits", tmp_path / "a", max_steps=4, precision="bf16", **FAST)
    genlab.train("vae", "digits", tmp_path / "b", max_steps=2, precision="bf16", **FAST)
    genlab.resume(tmp_path / "b", max_steps=4, progress=False)
    a, b = genlab.load(tmp_path / "a"), genlab.load(tmp_path / "b")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    state = ck.load_trainer_state(ck.checkpoint_dir(tmp_path / "a"))
    assert state["optimizers"]["main"]["param_groups"][0]["fused"] is True


# ----------------------------------------------------------------------------- GAN: one generator pass
@pytest.mark.parametrize("d_steps", [1, 2])
def test_gan_runs_the_generator_once_per_step(d_steps, tmp_path, one_thread, monkeypatch):
    from genlab.models.gan.gan import GAN

    calls = []
    original = GAN._generate

    def counting(self, *a, **k):
        calls.append(torch.is_grad_enabled())
        return original(self, *a, **k)

    monkeypatch.setattr(GAN, "_generate", counting)
    genlab.train("dcgan", "digits", tmp_path / "r", max_steps=4, model_config={"d_steps": d_steps}, **FAST)
    assert len(calls) == 4  # previews sample through GAN.sample, not _generate
    # steps that update G keep the graph (the batch is reused for G's update); critic-only steps do not
    assert calls == [step % d_steps == 0 for step in range(4)]
    recs = [r for r in ck.read_metrics(tmp_path / "r") if r.get("split") == "train"]
    assert sum("loss_g" in r for r in recs) == 4 // d_steps


# ----------------------------------------------------------------------------- threads
def test_threads_option_is_honoured_and_recorded(tmp_path):
    run = tmp_path / "r"
    code = ("import sys, torch\nfrom genlab.cli import main\n"
            "main(sys.argv[1:], standalone_mode=False)\nprint('THREADS', torch.get_num_threads())")
    r = _run(code, "train", "vae", "--max-steps", "2", "--out", str(run), "--quiet", "--threads", "3")
    assert r.returncode == 0, r.stderr
    assert "THREADS 3" in r.stdout
    assert json.loads((run / "config.json").read_text())["train_config"]["threads"] == 3
    assert ck.read_state(run)["threads"] == 3
    r = _run(code, "sample", str(run), "-n", "2", "-o", str(tmp_path / "s.npz"), "--threads", "2")
    assert r.returncode == 0, r.stderr
    assert "THREADS 2" in r.stdout
    r = _run(code.replace("print(", "import os; print(os.environ.get('OMP_NUM_THREADS'), "), "sample", str(run),
             "-n", "2", "-o", str(tmp_path / "s.npz"), env={"OMP_NUM_THREADS": "1"})
    assert "THREADS 1" in r.stdout  # no --threads: $OMP_NUM_THREADS is respected


def test_bad_threads_is_one_clear_error(tmp_path):
    r = _run("from genlab.cli import main; main()", "train", "vae", "--threads", "0", "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "--threads" in r.stderr and "Traceback" not in r.stderr


def test_default_threads():
    assert 1 <= hw.physical_cores() <= (os.cpu_count() or 1)
    assert hw.default_threads() == (1 if hw.distributed_world() else hw.physical_cores())


# ----------------------------------------------------------------------------- start-up
LIGHT = ("torch", "pandas", "sklearn", "matplotlib", "scipy")


@pytest.mark.parametrize("argv", [["--help"], ["models"], ["models", "--tree"], ["info", "RUN"], ["train", "--help"]])
def test_light_commands_import_no_heavy_libraries(argv, tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "vae", "model_config": {}, "data_info": {},
                                                 "train_config": {}, "data_config": {"name": "digits"}}))
    (run / "state.json").write_text(json.dumps({"status": "finished", "step": 1}))
    cache = tmp_path / "cache"
    code = ("import sys\nfrom genlab.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', sorted(m for m in {LIGHT!r} if m in sys.modules))")
    args = [str(run) if a == "RUN" else a for a in argv]
    if argv[0] == "models":  # the first call builds the cached model index (imports the families once)
        _run(code, "models", env={"GENLAB_CACHE": str(cache)})
    r = _run(code, *args, env={"GENLAB_CACHE": str(cache)})
    assert "HEAVY []" in r.stdout, (r.stdout[-500:], r.stderr[-2000:])


def test_model_index_matches_the_registry(tmp_path, monkeypatch):
    from genlab import model_index
    from genlab.registry import list_models

    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path))
    rows = model_index.rows()
    live = {n: c for n, c in list_models().items() if c.__module__.startswith("genlab.")}
    assert [r["name"] for r in rows] == list(live)
    assert all(r["description"] == live[r["name"]].description for r in rows)
    assert model_index.rows() == rows  # from the cache now
    assert model_index.module_of("dcgan") == live["dcgan"].__module__


# ----------------------------------------------------------------------------- budgets
def test_time_budget_replaces_the_epoch_default_and_resume_extends_it(tmp_path):
    from click.testing import CliRunner

    from genlab.cli import main
    from genlab.cli.cmd_core import BUDGET_EPOCHS, budget_rule

    assert budget_rule({"max_cpu_time": 5})["epochs"] == BUDGET_EPOCHS
    assert budget_rule({"max_time": 5, "epochs": 2})["epochs"] == 2  # explicit epochs still stop the run
    assert "epochs" not in budget_rule({"max_cpu_time": 5, "max_steps": 3})
    run = tmp_path / "r"
    runner = CliRunner()
    r = runner.invoke(main, ["train", "gmm", "--out", str(run), "--max-cpu-time", "30", "--quiet", "--threads", "1"],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert json.loads((run / "config.json").read_text())["train_config"]["epochs"] == BUDGET_EPOCHS
    run2 = tmp_path / "r2"
    r = runner.invoke(main, ["train", "vae", "--out", str(run2), "--max-steps", "3", "--quiet", "--threads", "1"],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["resume", str(run2), "--max-steps", "6", "--max-cpu-time", "1000", "--quiet"],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    cfg = json.loads((run2 / "config.json").read_text())["train_config"]
    assert cfg["max_cpu_time"] == 1000 and cfg["max_steps"] == 6
    assert ck.read_state(run2)["step"] == 6
