"""The bad-input catalogue: every case in ``benchmarks/bad_inputs/*.py`` through the ``genlab`` command line.

Each module there defines ``cases(fx) -> list[tuple[str, list[str]]]``: (case name, argv after ``genlab``).
``fx`` gives a scratch folder ``fx.tmp``, ``fx.run(model, data="digits", *set_args)`` (the path of a tiny run
trained through the CLI with ``--max-steps 3``, cached) and ``fx.file(name, content)`` (writes a file in
``fx.tmp``, returns its path); ``fx.copy(run, name)`` and ``fx.hold_lock(run)`` help cases that damage or lock
a run.

Every case runs as its own process with a time limit and a memory limit (``RLIMIT_AS``). By default the runner
imports genlab once and forks a child per case (the CLI's ``main`` runs in the child exactly as the ``genlab``
script runs it: same arguments, same exit codes, same output streams), which keeps the CPU cost of ~150 cases to
a few CPU-minutes on a 2-core machine; ``--spawn`` starts a fresh ``genlab`` executable per case instead.

Each case is classified:

- ``clear``: exit status != 0, an ``error: ...`` (or click usage ``Error: ...``) line, no traceback;
- ``traceback``: a Python traceback was printed;
- ``silent``: exit status 0 (a bad input accepted without a word);
- ``timeout`` / ``killed``: ran past the time limit / died from a signal;
- ``unclear``: failed without a traceback but without an error line either.

Usage: ``python benchmarks/bad_input_catalogue.py [--only core] [--timeout 60] [--mem-gb 3] [--spawn]``.
Writes ``benchmarks/results/bad_inputs.json`` (all cases with their class and first error line).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "bad_inputs"
RESULTS = HERE / "results" / "bad_inputs.json"


# ----------------------------------------------------------------------------- running one command


class Runner:
    def __init__(self, cwd: Path, timeout: float, mem_bytes: int, spawn: bool):
        self.cwd, self.timeout, self.mem_bytes, self.spawn = cwd, timeout, mem_bytes, spawn
        self.out_dir = cwd / "_out"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def __call__(self, argv: list[str]) -> dict:
        self.n += 1
        out, err = self.out_dir / f"{self.n}.out", self.out_dir / f"{self.n}.err"
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                fo, fe = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(fo, 1)
                os.dup2(fe, 2)
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                os.chdir(self.cwd)
                os.setsid()
                limit = _vm_size() + self.mem_bytes
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
                if self.spawn:
                    exe = str(Path(sys.executable).parent / "genlab")
                    os.execv(exe, [exe, *argv])
                sys.stdout = open(1, "w", closefd=False)
                sys.stderr = open(2, "w", closefd=False)
                sys.argv = ["genlab", *argv]
                from genlab.cli import main

                try:
                    main.main(args=list(argv), prog_name="genlab", standalone_mode=True)
                    code = 0
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                except BaseException:
                    traceback.print_exc()
                    code = 1
            except BaseException:
                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                except Exception:
                    pass
                os._exit(code)
        status, usage, timed_out = None, None, False
        while True:
            wpid, status, usage = os.wait4(pid, os.WNOHANG)
            if wpid:
                break
            if time.perf_counter() - t0 > self.timeout:
                timed_out = True
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    os.kill(pid, signal.SIGKILL)
                _, status, usage = os.wait4(pid, 0)
                break
            time.sleep(0.01)
        text_out = out.read_text(errors="replace")
        text_err = err.read_text(errors="replace")
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        return {"exit": code, "signal": sig, "timed_out": timed_out, "stdout": text_out, "stderr": text_err,
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "maxrss_mb": round(usage.ru_maxrss / 1024, 1),
                "wall_s": round(time.perf_counter() - t0, 3)}


def _vm_size() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def classify(r: dict) -> tuple[str, str]:
    text = r["stderr"] + r["stdout"]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    first = next((ln for ln in lines if ln.startswith(("error:", "Error:"))), lines[-1] if lines else "")
    if r["timed_out"]:
        return "timeout", first
    if "Traceback (most recent call last)" in text:
        tail = next((ln for ln in reversed(lines) if ln and not ln.startswith(("File ", "^"))), "")
        return "traceback", tail
    if r["signal"] is not None:
        return "killed", f"signal {r['signal']}"
    if r["exit"] == 0:
        return "silent", lines[-1] if lines else ""
    if any(ln.startswith(("error:", "Error:")) for ln in lines):
        return "clear", first
    return "unclear", first


# ----------------------------------------------------------------------------- the fixture cases get


class Fixture:
    def __init__(self, tmp: Path, runner: Runner):
        self.tmp, self._runner, self._runs, self._locks = tmp, runner, {}, []

    def file(self, name: str, content: str | bytes) -> str:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        return str(path)

    def run(self, model: str, data: str = "digits", *set_args: str) -> str:
        """A tiny run (3 steps) of ``model`` on ``data`` trained through the CLI; cached per arguments."""
        key = hashlib.sha1(json.dumps([model, data, *set_args]).encode()).hexdigest()[:10]
        if key not in self._runs:
            out = self.tmp / "runs" / f"{model}-{key}"
            argv = ["train", model, "--data", data, "--out", str(out), "--quiet", "--max-steps", "3"]
            for s in set_args:
                argv += ["--set", s]
            if not (out / "ckpt").is_dir():
                r = self._runner(argv)
                if r["exit"] != 0:
                    raise RuntimeError(f"fixture run failed: genlab {' '.join(argv)}\n{r['stderr'][-2000:]}")
            self._runs[key] = str(out)
        return self._runs[key]

    def copy(self, run: str, name: str) -> Path:
        """A private copy of a run folder that a case may damage."""
        dest = self.tmp / "copies" / name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(run, dest, ignore=shutil.ignore_patterns(".lock"))
        return dest

    def hold_lock(self, run: str | Path) -> None:
        """Hold the run's lock in the runner process while the cases run (a live second writer)."""
        from genlab.training.checkpoint import RunLock

        self._locks.append(RunLock(run, "training").acquire())


# ----------------------------------------------------------------------------- main


def discover(only: list[str] | None):
    mods = []
    for path in sorted(CASES_DIR.glob("*.py")):
        if path.name.startswith("_") or (only and path.stem not in only):
            continue
        spec = importlib.util.spec_from_file_location(f"bad_inputs_{path.stem}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        if hasattr(mod, "cases"):
            mods.append((path.stem, mod))
    return mods


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", action="append", help="case module(s) to run (file stem), default all")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    ap.add_argument("--mem-gb", type=float, default=3.0, help="address space each case may add (GiB)")
    ap.add_argument("--spawn", action="store_true", help="a fresh genlab process per case instead of fork")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = ap.parse_args()

    c0 = time.process_time()
    import torch

    torch.set_num_threads(1)
    import genlab.cli  # noqa: F401  (imported once; forked children inherit it)

    tmp = Path(tempfile.mkdtemp(prefix="genlab-bad-inputs-"))
    runner = Runner(tmp, args.timeout, int(args.mem_gb * 2**30), args.spawn)
    fx = Fixture(tmp, runner)
    results, setup_cpu = [], 0.0
    for stem, mod in discover(args.only):
        usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            cases = mod.cases(fx)
        except Exception as e:
            print(f"{stem}: could not build its cases: {e}", file=sys.stderr)
            results.append({"module": stem, "case": "(setup)", "argv": [], "class": "setup-failed",
                            "message": str(e)[-500:]})
            continue
        usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        setup_cpu += (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
        for name, argv in cases:
            r = runner([str(a) for a in argv])
            cls, msg = classify(r)
            results.append({"module": stem, "case": name, "argv": [str(a) for a in argv], "class": cls,
                            "exit": r["exit"], "message": msg[:300], "cpu_s": r["cpu_s"], "maxrss_mb": r["maxrss_mb"]})
            mark = "ok " if cls == "clear" else "!! "
            print(f"{mark}{cls:<9} {stem}:{name:<40} {msg[:110]}", flush=True)
    counts = {}
    for r in results:
        counts[r["class"]] = counts.get(r["class"], 0) + 1
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    import sklearn

    summary = {
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}",
        "torch": torch.__version__, "scikit-learn": sklearn.__version__, "threads": 1,
        "mode": "spawn" if args.spawn else "fork", "timeout_s": args.timeout, "mem_limit_gb": args.mem_gb,
        "cases": len(results), "counts": counts,
        "cpu_seconds": round(time.process_time() - c0 + children.ru_utime + children.ru_stime, 1),
        "fixture_training_cpu_seconds": round(setup_cpu, 1),
    }
    print("\n" + "  ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + f"   ({len(results)} cases, "
          f"{summary['cpu_seconds']} CPU-s)")
    bad = [r for r in results if r["class"] != "clear"]
    for r in bad:
        print(f"  {r['class']}: {r['module']}:{r['case']}  genlab {' '.join(r['argv'])}\n      {r['message']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    for r in results:  # scratch paths are not interesting in the record
        r["argv"] = [a.replace(str(tmp), "$TMP") for a in r["argv"]]
        r["message"] = r["message"].replace(str(tmp), "$TMP")
    Path(args.out).write_text(json.dumps({**summary, "results": results}, indent=1) + "\n")
    print(f"wrote {args.out}")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if not bad else 1)


if __name__ == "__main__":
    main()
