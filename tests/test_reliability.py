"""Nothing lost, nothing unbounded: run locks, SIGTERM, killed runs, NaN weights, streamed sampling, config
validation, portable run folders and split image folders (issue 14)."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from genlab.cli import main
from genlab.training import checkpoint as ck

GENLAB = str(Path(sys.executable).parent / "genlab")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def cli(*args, cwd=None):
    runner = CliRunner()
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(old)


def proc(*args, cwd=None, **kw):
    return subprocess.Popen([GENLAB, *map(str, args)], cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def wait_for(cond, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False


def clear(r, message):
    return r.exit_code == 2 and message in r.output and "Traceback" not in r.output


@pytest.fixture(scope="module")
def gmm_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("gmm") / "g"
    assert cli("train", "gmm", "--out", run, "--quiet", "--set", "model.n_components=2").exit_code == 0
    return run


# ----------------------------------------------------------------------------- one writer per run


def test_second_writer_is_refused_naming_the_pid_and_lock_dies_with_its_process(tmp_path, one_thread):
    run = tmp_path / "r"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from genlab.training.checkpoint import RunLock
        lock = RunLock({str(run)!r}, "training").acquire()
        print("locked", flush=True)
        time.sleep(120)
        """)], env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        second = proc("train", "gmm", "--out", run, "--quiet", "--overwrite")  # a real second genlab process
        out, err = second.communicate(timeout=120)
        assert second.returncode == 2 and "Traceback" not in err
        assert f"in use by another genlab process (PID {holder.pid}" in err
        assert not (run / "config.json").exists()  # --overwrite did not touch the folder
        assert ck.lock_holder(run).startswith(f"PID {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    assert ck.lock_holder(run) is None  # released by the kernel when the holder died
    assert cli("train", "gmm", "--out", run, "--quiet", "--set", "model.n_components=2").exit_code == 0


# ----------------------------------------------------------------------------- SIGTERM, kill -9, restart


def test_sigterm_saves_marks_interrupted_and_exits_130_then_resumes(tmp_path, one_thread):
    run = tmp_path / "v"
    p = proc("train", "vae", "--out", run, "--quiet", "--max-steps", 100000, "--batch-size", 32,
             "--set", "model.width=4", "--set", "train.checkpoint_every=100000", "--set", "train.log_every=5")
    try:
        assert wait_for(lambda: len(ck.read_metrics(run)) >= 3)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130, err
    state = ck.read_state(run)
    step = state["step"]
    assert state["status"] == "interrupted" and step > 0 and state["checkpoint_step"] == step
    assert "continue with: genlab resume" in out
    info = cli("info", run).output
    assert f"interrupted at step {step} (last checkpoint {step})" in info
    r = cli("resume", run, "--max-steps", step + 3, "--quiet")
    assert r.exit_code == 0 and f"step {step + 3}" in r.output
    # a finished run is not silently "resumed" (trainer.pt would be rewritten)
    mtime = (run / "ckpt" / "trainer.pt").stat().st_mtime_ns
    r = cli("resume", run)
    assert clear(r, "already finished") and "--epochs" in r.output
    assert (run / "ckpt" / "trainer.pt").stat().st_mtime_ns == mtime


def test_killed_run_is_reported_cleaned_and_restartable(tmp_path, one_thread):
    run = tmp_path / "v"
    p = proc("train", "vae", "--out", run, "--quiet", "--max-steps", 100000, "--batch-size", 32,
             "--set", "model.width=4", "--set", "train.checkpoint_every=10", "--set", "train.log_every=5")
    try:
        assert wait_for(lambda: ck.read_state(run).get("checkpoint_step"))
        p.kill()  # kill -9: no handler runs
        p.wait()
    finally:
        p.kill()
    assert ck.read_state(run)["status"] == "running"
    info = cli("info", run).output
    assert "killed at step" in info and "last checkpoint" in info and "step None" not in info
    orphan = run / ".ckpt-crashed"
    orphan.mkdir()
    (orphan / "model.safetensors").write_bytes(b"partial")
    step = ck.read_state(run)["checkpoint_step"]
    r = cli("resume", run, "--max-steps", step + 2, "--quiet")
    assert r.exit_code == 0, r.output
    assert not orphan.exists()
    # a run that never saved a checkpoint is restarted in place, with no circular --overwrite advice
    import shutil

    shutil.rmtree(run / "ckpt")
    r = cli("resume", run)
    assert clear(r, "no checkpoint") and "--overwrite" not in r.output
    r = cli("train", "vae", "--out", run, "--quiet", "--max-steps", 2, "--set", "model.width=4")
    assert r.exit_code == 0 and ck.read_state(run)["status"] == "finished"


# ----------------------------------------------------------------------------- NaN weights and outputs


def test_nan_weights_are_refused_by_sample_and_resume(tmp_path, one_thread):
    run = tmp_path / "v"
    assert cli("train", "vae", "--out", run, "--quiet", "--max-steps", 2, "--set", "model.width=4",
               "--set", "train.checkpoint_every=1").exit_code == 0
    path = run / "ckpt" / "model.safetensors"
    w = load_file(str(path))
    key = next(k for k, v in w.items() if v.is_floating_point())
    w[key] = torch.full_like(w[key], float("nan"))
    save_file(w, str(path))
    for args in (("sample", run, "-o", tmp_path / "s.png"), ("resume", run, "--max-steps", 5),
                 ("evaluate", run, "-n", 10)):
        r = cli(*args)
        assert clear(r, "non-finite weights"), (args, r.output)
    assert not (tmp_path / "s.png").exists()


def test_nan_outputs_are_refused(gmm_run, tmp_path, monkeypatch):
    from genlab.models.classical.gmm import GMM

    monkeypatch.setattr(GMM, "sample", lambda self, n, **kw: torch.full((n, 1, 8, 8), float("nan")))
    r = cli("sample", gmm_run, "-n", 4, "-o", tmp_path / "s.npz")
    assert clear(r, "NaN or infinite samples") and not (tmp_path / "s.npz").exists()


def test_untrusted_trainer_state_is_refused_without_weights_only_advice(tmp_path, one_thread):
    run = tmp_path / "v"
    assert cli("train", "vae", "--out", run, "--quiet", "--max-steps", 2, "--set", "model.width=4").exit_code == 0
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    (run / "ckpt" / "trainer.pt").write_bytes(pickle.dumps({"step": Evil()}))
    r = cli("resume", run, "--max-steps", 4)
    assert clear(r, "could not be read safely") and "weights_only" not in r.output
    assert not (tmp_path / "pwned").exists()


# ----------------------------------------------------------------------------- bounded sampling


def test_sampling_memory_is_bounded_for_an_output_larger_than_2gb(gmm_run, tmp_path):
    """10 million 8x8 samples are 2.56 GB as float32: the sampler streams them, so the process's peak RSS
    stays far below that. The child stops itself after a few seconds of sampling and reports its peak."""
    out = tmp_path / "big.npz"
    code = textwrap.dedent(f"""
        import os, resource, threading, time, torch
        torch.set_num_threads(1)
        import genlab
        from genlab.sampling import sample_to_file
        model = genlab.load({str(gmm_run)!r})
        n = 10_000_000
        assert n * 64 * 4 > 2 * 2**30
        threading.Thread(target=sample_to_file, args=(model, n, {str(out)!r}), kwargs={{"progress": False}},
                         daemon=True).start()
        part = {str(out.with_name('.big.npz.part'))!r}
        end = time.time() + 60
        while time.time() < end and (not os.path.exists(part) or os.path.getsize(part) < 3_000_000):
            time.sleep(0.2)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, os.path.getsize(part), flush=True)
        os._exit(0)
        """)
    r = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    peak, written = map(int, r.stdout.split())
    assert written >= 3_000_000  # it writes as it goes
    # the interpreter with torch and its libraries is ~0.5-1.5 GB depending on what got imported; the point is that
    # the peak stays below the 2.56 GB the samples alone would take
    assert peak < 2.0 * 2**30, f"peak RSS {peak / 2**20:.0f} MB"


def test_sampled_npz_streams_exactly_and_checks_come_first(gmm_run, tmp_path):
    import genlab
    from genlab.sampling import sample_to_file

    model = genlab.load(gmm_run)
    a = sample_to_file(model, 10, tmp_path / "a.npz", generator=torch.Generator().manual_seed(3), chunk=3)
    x = np.load(a)["x"]
    assert x.shape == (10, 1, 8, 8) and x.dtype == np.uint8
    b = sample_to_file(model, 10, tmp_path / "b.npz", generator=torch.Generator().manual_seed(3), chunk=3)
    assert np.array_equal(x, np.load(b)["x"])
    (tmp_path / "file").write_text("x")
    for args, message in [
        (("-n", 10, "-o", tmp_path / "file" / "s.npz"), "is a file, not a folder"),
        (("-n", 10, "-o", tmp_path / "s.csv"), "not .csv"),
        (("-n", 10, "-o", tmp_path), "is a folder"),
        (("-n", 5000, "-o", tmp_path / "s.png"), "a grid holds at most"),
        (("-n", 10**12, "-o", tmp_path / "s.npz"), "above the limit"),
    ]:
        assert clear(cli("sample", gmm_run, *args), message), args
    r = cli("sample", gmm_run, "-n", 5, "-o", tmp_path / "new" / "dir" / "s.npz")
    assert r.exit_code == 0 and (tmp_path / "new" / "dir" / "s.npz").is_file()
    assert clear(cli("evaluate", gmm_run, "-n", 10**9), "-n")


# ----------------------------------------------------------------------------- config validation


@pytest.mark.parametrize("args,message", [
    (["--set", "train.lr=nan"], "train.lr"),
    (["--set", "train.checkpoint_every=0"], "train.checkpoint_every"),
    (["--set", "train.log_every=0"], "train.log_every"),
    (["--set", "train.betas=[2,3]"], "train.betas"),
    (["--max-steps", "-5"], "train.max_steps"),
    (["--lr", "1e6"], "far above"),
    (["--set", "model.hidden=[10]"], "model.hidden is not used"),
    (["--set", "model.arch=mlp", "--set", "model.hidden=[30000000]"], "of parameters"),
])
def test_bad_config_values_are_refused_before_training(tmp_path, args, message):
    r = cli("train", "vae", "--out", tmp_path / "r", "--quiet", *args)
    assert clear(r, message), r.output
    assert not (tmp_path / "r").exists()


def test_gmm_with_more_components_than_rows_and_huge_run_config(tmp_path, gmm_run):
    assert clear(cli("train", "gmm", "--out", tmp_path / "g", "--set", "model.n_components=5000"), "n_components")
    import shutil

    run = tmp_path / "huge"
    shutil.copytree(gmm_run, run)
    cfg = json.loads((run / "config.json").read_text())
    cfg.update(model="vae", model_config={"arch": "mlp", "hidden": [30_000_000]})
    (run / "config.json").write_text(json.dumps(cfg))
    assert clear(cli("sample", run, "-n", 4), "of parameters")  # refused from the estimate, nothing allocated


# ----------------------------------------------------------------------------- portable runs, split folders


def _image_folder(root: Path, layout: dict[str, int], size=8):
    from PIL import Image

    rng = np.random.default_rng(0)
    for folder, count in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(root / folder / f"{i}.png")


def test_relative_data_paths_resume_from_another_directory(tmp_path, one_thread):
    work, other = tmp_path / "work", tmp_path / "elsewhere"
    other.mkdir()
    _image_folder(work / "images", {"a": 12, "b": 12})
    r = cli("train", "vae", "--data", "images/", "--out", "runs/v", "--quiet", "--max-steps", 2,
            "--set", "model.width=4", cwd=work)
    assert r.exit_code == 0, r.output
    run = work / "runs" / "v"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data_config"]["name"] == str((work / "images").resolve()) and cfg["data_source"]["files"] == 24
    assert cli("resume", run, "--max-steps", 4, "--quiet", cwd=other).exit_code == 0
    (work / "images").rename(work / "moved")
    r = cli("resume", run, "--max-steps", 6, cwd=other)
    assert clear(r, "could not be loaded") and str(work / "images") in r.output and "--data" in r.output
    r = cli("resume", run, "--max-steps", 6, "--quiet", "--data", work / "moved", cwd=other)
    assert r.exit_code == 0, r.output


def test_train_test_folders_are_splits_not_classes(tmp_path):
    from genlab.config import DataConfig
    from genlab.data import load_data

    _image_folder(tmp_path / "d", {"train/cat": 6, "train/dog": 4, "test/cat": 2, "test/dog": 3})
    train = load_data(DataConfig(name=str(tmp_path / "d")), "image", "train")
    test = load_data(DataConfig(name=str(tmp_path / "d")), "image", "test")
    assert len(train) == 10 and len(test) == 5
    assert train.info.class_names == ["cat", "dog"] and test.info.class_names == ["cat", "dog"]
    assert train.tensors["y"].tolist().count(0) == 6 and test.tensors["y"].tolist().count(1) == 3


def test_tiny_data_does_not_write_files_every_step(tmp_path, one_thread):
    np.save(tmp_path / "tiny.npy", np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32))
    r = cli("train", "flow-mlp", "--data", tmp_path / "tiny.npy", "--out", tmp_path / "r", "--quiet",
            "--epochs", 30, "--batch-size", 64)
    assert r.exit_code == 0, r.output
    previews = list((tmp_path / "r" / "samples").iterdir())
    assert 1 <= len(previews) <= 2 * 4  # every 10th epoch (and the last), not 30 times
    val = [m for m in ck.read_metrics(tmp_path / "r") if m.get("split") == "val"]
    assert len(val) == 3
