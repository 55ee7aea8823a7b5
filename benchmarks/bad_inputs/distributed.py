"""Bad-input cases for data-parallel training and sharded sampling (genlab/training/distributed.py,
`genlab train --nproc`, `genlab sample --shards` / `-o FOLDER/`).

Each case is (name, argv after `genlab`); every one must end in one clear `error: ...` line (exit 2) and
leave no process behind (--nproc is checked before any launcher starts; a failure inside the ranks
is reported by the launcher as the failed rank's one line, genlab/training/launch.py).
"""
from __future__ import annotations


def cases(fx) -> list[tuple[str, list[str]]]:
    t = fx.tmp
    run = fx.run("gan", "ring8")
    out = lambda name: str(t / "distributed-runs" / name)  # noqa: E731
    return [
        ("train --nproc above the CPU cores", ["train", "gan", "--data", "ring8", "--out", out("many"), "--nproc", "4096"]),
        ("train --nproc 0", ["train", "gan", "--data", "ring8", "--out", out("zero"), "--nproc", "0"]),
        ("train --nproc -2", ["train", "gan", "--data", "ring8", "--out", out("neg"), "--nproc", "-2"]),
        ("train --nproc on more GPUs than present", ["train", "gan", "--data", "ring8", "--out", out("gpus"),
                                                     "--nproc", "2", "--device", "cuda"]),
        ("train --nproc 2 with data no rank can load (a failure inside the ranks)",
         ["train", "vae", "--data", str(t / "no-such-data"), "--out", out("baddata"), "--nproc", "2"]),
        ("sample --shards to a file, not a folder", ["sample", run, "-n", "10", "-o", str(t / "x.npz"), "--shards", "2"]),
        ("sample --shards 0", ["sample", run, "-n", "10", "-o", str(t / "shards0") + "/", "--shards", "0"]),
        ("sample more shards than samples", ["sample", run, "-n", "3", "-o", str(t / "shards5") + "/", "--shards", "5"]),
        ("sample shards into a path that is a file", ["sample", run, "-n", "10", "-o", fx.file("afile", "x") + "/",
                                                      "--shards", "2"]),
    ]
