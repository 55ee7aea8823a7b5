"""Bad-input cases for the last gaps of issue 14: a run whose one-call fit (gmm, gaussian-copula, ...) was
stopped by SIGTERM (config.json and an "interrupted" state.json, no checkpoint), and Parquet sample paths.
Each must end in one clear `error: ...` line (exit 2)."""
from __future__ import annotations

import json
import shutil


def _interrupted(fx, run: str, name: str) -> str:
    """A copy of ``run`` as a SIGTERM during its fit leaves it: no checkpoint, state.json "interrupted"."""
    dest = fx.copy(run, name)
    for p in dest.iterdir():
        if p.name not in ("config.json", "state.json"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    state = json.loads((dest / "state.json").read_text())
    state.update(status="interrupted", step=0, checkpoint_step=None)
    (dest / "state.json").write_text(json.dumps(state))
    return str(dest)


def cases(fx) -> list[tuple[str, list[str]]]:
    gmm = _interrupted(fx, fx.run("gmm", "digits", "model.n_components=2"), "gmm-sigterm")
    csv = fx.file("extra/t.csv", "a,b,c\n" + "".join(f"{i % 7},{i * 0.5},{'xyz'[i % 3]}\n" for i in range(60)))
    copula = fx.run("gaussian-copula", csv)
    cop = _interrupted(fx, copula, "copula-sigterm")
    blocker = fx.file("extra/blocker", "a file, not a folder")
    return [
        ("resume a gmm stopped during its fit", ["resume", gmm]),
        ("sample a gmm stopped during its fit", ["sample", gmm, "-n", "4", "-o", str(fx.tmp / "extra" / "g.npz")]),
        ("evaluate a gmm stopped during its fit", ["evaluate", gmm, "-n", "200"]),
        ("resume a copula stopped during its fit", ["resume", cop]),
        ("sample a copula stopped during its fit", ["sample", cop, "-n", "4", "-o", str(fx.tmp / "extra" / "c.parquet")]),
        ("sample .parquet under a file", ["sample", copula, "-n", "10", "-o", blocker + "/s.parquet"]),
        ("sample .parquet -n 0", ["sample", copula, "-n", "0", "-o", str(fx.tmp / "extra" / "z.parquet")]),
        ("sample .parquet -n above the cap", ["sample", copula, "-n", "1000000000", "-o", str(fx.tmp / "extra" / "h.parquet")]),
    ]
