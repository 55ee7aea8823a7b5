"""Crash, resume and security checks of run folders, through the real ``genlab`` command.

Crash / resume (a small VAE on digits, 96 steps, a checkpoint every 7 steps, one thread):

- the uninterrupted run is the reference;
- ``kill -9`` at random moments (seeded), then ``genlab info`` (must say "killed at step N") and ``genlab resume``
  to the end: the final weights must equal the reference bit for bit;
- ``kill -9`` inside a checkpoint write, at three points: half-way through writing the new files, between the
  two renames (``ckpt`` moved to ``ckpt.old``, the new one not yet in place) and after the renames; then resume;
- SIGTERM: exit status 130, status "interrupted", a checkpoint at the step it stopped, exact resume;
- two writers: a second ``genlab train --overwrite`` on a running run is refused naming the PID, the first run
  finishes unharmed.

Security (each must be one clear error, no code run, bounded memory):
a pickle that runs a command in ``trainer.pt``; a ``torch.save`` file holding an object; a safetensors header
claiming 2**62 bytes; a header describing a 40 GB tensor; ``model.safetensors`` as a symlink to ``/dev/zero``; a
70 MB ``config.json``; HTML in a run's folder name must come out escaped in ``report.html``.

Writes ``benchmarks/results/crash_resume.json``. About 1-2 CPU-minutes.
"""
from __future__ import annotations

import json
import os
import pickle
import platform
import random
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GENLAB = str(Path(sys.executable).parent / "genlab")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
STEPS = 96
TRAIN = ["train", "vae", "--data", "digits", "--quiet", "--max-steps", str(STEPS), "--batch-size", "64",
         "--set", "model.width=4", "--set", "train.checkpoint_every=7", "--set", "train.log_every=1"]


def genlab(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([GENLAB, *map(str, args)], env=ENV, capture_output=True, text=True, timeout=600, **kw)


def start(*args) -> subprocess.Popen:
    return subprocess.Popen([GENLAB, *map(str, args)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def weights(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run / "ckpt" / "model.safetensors"))


def same(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def logged_step(run: Path) -> int:
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
        return max((json.loads(ln).get("step", 0) for ln in lines if ln.strip().endswith("}")), default=0)
    except (OSError, ValueError):
        return 0


def wait_until(cond, timeout=120.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def resume_to_end(run: Path) -> tuple[bool, str]:
    """``genlab resume``; a run killed before its first checkpoint is started again in place with the same
    ``genlab train`` command (what the resume error tells the user to do)."""
    r = genlab("resume", run, "--quiet")
    if r.returncode != 0 and "no checkpoint" in r.stderr:
        r = genlab(*TRAIN, "--out", run)
    return r.returncode == 0, (r.stderr or r.stdout).strip().splitlines()[-1:]


CRASH_IN_WRITE = textwrap.dedent("""
    import os, signal, sys
    import safetensors.torch as st
    import genlab.training.checkpoint as ck
    from genlab.cli import main

    stage, at = sys.argv[1], int(sys.argv[2])
    real_replace, real_save_model = os.replace, st.save_model
    calls = {"n": 0}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def save_model(model, path):  # half of the new weights file written, then death
        if stage == "mid-file" and calls["n"] == at:
            real_save_model(model, path)
            data = open(path, "rb").read()
            open(path, "wb").write(data[: len(data) // 2])
            die()
        real_save_model(model, path)

    def replace(src, dst):
        real_replace(src, dst)
        if str(dst).endswith("ckpt.old") and stage == "between-renames" and calls["n"] == at:
            die()
        if str(dst).endswith("/ckpt") and stage == "after-renames" and calls["n"] == at:
            die()

    real_checkpoint = ck.save_checkpoint

    def save_checkpoint(*a, **k):
        calls["n"] += 1
        return real_checkpoint(*a, **k)

    st.save_model, ck.save_checkpoint = save_model, save_checkpoint
    ck.os.replace = replace
    import genlab.training.trainer as tr
    tr.ck.save_checkpoint = save_checkpoint
    main.main(args=sys.argv[3:], prog_name="genlab")
    """)


def main() -> None:
    import torch

    c0 = time.process_time()
    rng = random.Random(14)
    tmp = Path(tempfile.mkdtemp(prefix="genlab-crash-"))
    checks: list[dict] = []

    def record(name: str, ok: bool, detail: str = "") -> None:
        checks.append({"check": name, "ok": bool(ok), "detail": detail})
        print(f"{'ok ' if ok else 'FAIL'} {name}: {detail}", flush=True)

    # ---------------------------------------------------------------- reference
    ref_run = tmp / "ref"
    r = genlab(*TRAIN, "--out", ref_run)
    assert r.returncode == 0, r.stderr
    ref = weights(ref_run)

    # ---------------------------------------------------------------- kill -9 at random moments
    for i in range(5):
        run = tmp / f"kill{i}"
        target = rng.randint(3, STEPS - 5)
        p = start(*TRAIN, "--out", run)
        wait_until(lambda: logged_step(run) >= target or p.poll() is not None)
        time.sleep(rng.random() * 0.05)
        p.kill()
        p.wait()
        info = genlab("info", run).stdout
        status = next((ln for ln in info.splitlines() if ln.startswith("status")), "")
        ok, last = resume_to_end(run)
        record(f"kill -9 at step ~{target}", ok and "killed at step" in status and same(weights(run), ref),
               f"{status.split('   ')[1] if '   ' in status else status}; resumed: {ok}; final weights equal "
               f"reference: {ok and same(weights(run), ref)}")

    # ---------------------------------------------------------------- kill -9 inside a checkpoint write
    for stage in ("mid-file", "between-renames", "after-renames"):
        run = tmp / f"write-{stage}"
        at = rng.randint(2, 8)
        p = subprocess.run([sys.executable, "-c", CRASH_IN_WRITE, stage, str(at), *TRAIN, "--out", str(run)],
                           env=ENV, capture_output=True, text=True, timeout=600)
        died = p.returncode == -signal.SIGKILL
        leftovers = sorted(x.name for x in run.iterdir() if x.name.startswith((".ckpt-", "ckpt.old"))) if run.is_dir() else p.stderr[-300:]
        ok, last = resume_to_end(run)
        clean = not any(x.name.startswith(".ckpt-") or x.name == "ckpt.old" for x in run.iterdir())
        record(f"kill -9 {stage} of checkpoint {at}", died and ok and clean and same(weights(run), ref),
               f"killed: {died}; left behind: {leftovers or 'nothing'}; resumed: {ok}; cleaned: {clean}; "
               f"final weights equal reference: {ok and same(weights(run), ref)}")

    # ---------------------------------------------------------------- SIGTERM
    run = tmp / "sigterm"
    p = start(*TRAIN, "--out", run)
    wait_until(lambda: logged_step(run) >= 40 or p.poll() is not None)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    state = json.loads((run / "state.json").read_text())
    info = genlab("info", run).stdout
    ok, last = resume_to_end(run)
    record("SIGTERM saves and resumes exactly", p.returncode == 130 and state["status"] == "interrupted"
           and state.get("checkpoint_step") == state["step"] and ok and same(weights(run), ref),
           f"exit {p.returncode}; status {state['status']} at step {state['step']} (checkpoint "
           f"{state.get('checkpoint_step')}); info: {'interrupted at step' in info}; exact resume: {ok and same(weights(run), ref)}")

    # ---------------------------------------------------------------- two writers
    run = tmp / "two"
    long = [a if a != str(STEPS) else "100000" for a in TRAIN]
    p = start(*long, "--out", run)
    wait_until(lambda: logged_step(run) >= 5 or p.poll() is not None)
    seed_before = json.loads((run / "config.json").read_text())["seed"]
    second = genlab(*long, "--out", run, "--overwrite", "--seed", "7")
    alive = p.poll() is None
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=300)
    records = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    steps = [r["step"] for r in records if r.get("split") == "train"]
    intact = (json.loads((run / "config.json").read_text())["seed"] == seed_before
              and steps == sorted(steps) and len(steps) == len(set(steps)))
    record("second writer refused, first unharmed",
           second.returncode == 2 and f"PID {p.pid}" in second.stderr and alive and p.returncode == 130 and intact,
           (second.stderr.strip().splitlines() or [f"exit {second.returncode}"])[-1]
           + f"; first run still training: {alive}, its config and metrics intact: {intact}")
    second_resume = genlab("resume", ref_run, "--max-steps", STEPS + 5, "--quiet")  # not locked: works
    record("resume after the writer ended", second_resume.returncode == 0, "lock released with its process")

    # ---------------------------------------------------------------- security
    def damaged(name: str) -> Path:
        d = tmp / "sec" / name
        shutil.copytree(ref_run, d, ignore=shutil.ignore_patterns(".lock"))
        return d

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp / 'PWNED'}",))

    sec = []
    d = damaged("pickle")
    (d / "ckpt/trainer.pt").write_bytes(pickle.dumps({"step": Evil()}))
    sec.append(("crafted pickle in trainer.pt (resume)", ["resume", d, "--max-steps", STEPS + 2]))
    d = damaged("torchsave")
    torch.save({"step": 1, "x": Evil()}, d / "ckpt/trainer.pt")
    sec.append(("torch.save of an object in trainer.pt (resume)", ["resume", d, "--max-steps", STEPS + 2]))
    d = damaged("header")
    (d / "ckpt/model.safetensors").write_bytes(struct.pack("<Q", 2**62))
    sec.append(("safetensors header of 2**62 bytes (sample)", ["sample", d, "-o", tmp / "s.png"]))
    d = damaged("header40g")
    hdr = json.dumps({"w": {"dtype": "F32", "shape": [100000, 100000], "data_offsets": [0, 40_000_000_000]}}).encode()
    (d / "ckpt/model.safetensors").write_bytes(struct.pack("<Q", len(hdr)) + hdr)
    sec.append(("safetensors header for a 40 GB tensor (sample)", ["sample", d, "-o", tmp / "s.png"]))
    d = damaged("devzero")
    (d / "ckpt/model.safetensors").unlink()
    os.symlink("/dev/zero", d / "ckpt/model.safetensors")
    sec.append(("model.safetensors symlinked to /dev/zero (sample)", ["sample", d, "-o", tmp / "s.png"]))
    d = damaged("bigconfig")
    with open(d / "config.json", "w") as f:
        f.write('{"pad": "' + "x" * (70 * 2**20) + '"}')
    sec.append(("70 MB config.json (info)", ["info", d]))
    for name, argv in sec:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        r = genlab(*argv)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        line = (r.stderr.strip().splitlines() or [""])[-1]
        ok = r.returncode == 2 and line.startswith("error:") and "Traceback" not in r.stderr and not (tmp / "PWNED").exists()
        record(name, ok, f"{line[:160]} (peak RSS of children so far {max(peak, before) / 1024:.0f} MB)")

    # HTML in a run folder's name must be escaped in report.html
    html_run = tmp / "<script>alert(1)<" / "run"
    html_run.parent.mkdir(parents=True, exist_ok=True)
    r = genlab("train", "gmm", "--data", "ring8", "--out", html_run, "--quiet", "--set", "model.n_components=8")
    ev = genlab("evaluate", html_run, "-n", 500)
    report = (html_run / "report.html").read_text() if (html_run / "report.html").is_file() else ""
    record("HTML in a run name is escaped in report.html", ev.returncode == 0 and report and "<script>alert(1)" not in report
           and "&lt;script&gt;alert(1)" in report, f"evaluate exit {ev.returncode}; raw tag present: {'<script>alert(1)' in report}")

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    import sklearn

    result = {
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}",
        "torch": torch.__version__, "scikit-learn": sklearn.__version__, "threads": 1, "steps": STEPS,
        "cpu_seconds": round(time.process_time() - c0 + children.ru_utime + children.ru_stime, 1),
        "passed": sum(c["ok"] for c in checks), "checks": checks,
    }
    out = HERE / "results" / "crash_resume.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1).replace(str(tmp), "$TMP") + "\n")
    print(f"{result['passed']}/{len(checks)} checks passed, {result['cpu_seconds']} CPU-s; wrote {out}")
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if result["passed"] == len(checks) else 1)


if __name__ == "__main__":
    main()
