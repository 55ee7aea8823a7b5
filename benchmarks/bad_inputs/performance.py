"""Bad-input cases for the hardware options: --threads, train.precision / train.threads, --max-cpu-time, and
resume budgets (issue 15). Each must end in one clear `error: ...` line (exit 2)."""
from __future__ import annotations


def cases(fx) -> list[tuple[str, list[str]]]:
    out = lambda name: str(fx.tmp / "perf-runs" / name)  # noqa: E731
    run = fx.run("vae", "digits")
    return [
        ("threads zero", ["train", "vae", "--threads", "0", "--out", out("t0")]),
        ("threads negative", ["sample", run, "--threads", "-2"]),
        ("threads not a number", ["train", "vae", "--threads", "many", "--out", out("t1")]),
        ("threads absurd", ["evaluate", run, "--threads", "100000"]),
        ("train.threads zero", ["train", "vae", "--set", "train.threads=0", "--out", out("t2")]),
        ("precision unknown", ["train", "vae", "--set", "train.precision=fp16", "--out", out("p0")]),
        ("precision wrong type", ["train", "vae", "--set", "train.precision=[1,2]", "--out", out("p1")]),
        ("max-cpu-time negative", ["train", "vae", "--max-cpu-time", "-5", "--out", out("b1")]),
        ("max-cpu-time not a number", ["train", "vae", "--max-cpu-time", "soon", "--out", out("b0")]),
        ("resume max-cpu-time not a number", ["resume", run, "--max-cpu-time", "later"]),
        ("resume threads zero", ["resume", run, "--threads", "0"]),
    ]
