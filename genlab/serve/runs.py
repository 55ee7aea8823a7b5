"""Finding runs under the served folder and resolving run ids safely.

A run id is the run folder's path relative to the served folder (``vae`` or ``bench/gan/dcgan``). An id
resolves only to a folder inside the served folder: no ``..`` parts, no absolute paths, and the resolved
path (symbolic links followed) must still lie inside it. Scanning does not follow symbolic links.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path, PurePosixPath

from ..errors import GenlabError, RunError
from ..training import checkpoint as ck

SKIP_DIRS = {ck.CKPT, ck.CKPT + ".old", "samples", "__pycache__", ".git"}
MAX_DEPTH = 6
ALLOWED_FILES = {"samples.png": "image/png", "samples.txt": "text/plain; charset=utf-8",
                 "report.html": "text/html; charset=utf-8", "eval.json": "application/json"}


class BadRunId(GenlabError):
    """A run id that can never name a run inside the served folder (``..``, absolute, odd characters)."""


class NotFound(RunError):
    """No run with this id under the served folder."""


def check_id(run_id: str) -> str:
    """``run_id`` as a clean relative POSIX path, or BadRunId."""
    if not run_id or len(run_id) > 1024 or "\x00" in run_id or "\\" in run_id:
        raise BadRunId(f"bad run id {run_id[:80]!r}")
    p = PurePosixPath(run_id)
    if p.is_absolute() or run_id.startswith("~") or any(part in ("..", ".", "") for part in run_id.split("/")):
        raise BadRunId(f"bad run id {run_id[:80]!r}: a run id is a path inside the served folder, without '..'")
    return str(p)


def inside(root: Path, path: Path) -> bool:
    """True when ``path`` (symbolic links followed) lies inside ``root`` (already resolved)."""
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):
        return False


class RunIndex:
    """The runs under ``root``; re-scanned on each listing (cheap: a walk plus a few small JSON files, cached by
    modification time), so runs that appear or finish while the server runs show up without a restart."""

    def __init__(self, root: str | Path, max_runs: int = 5_000):
        self.root = Path(root).expanduser().resolve()
        self.max_runs = max_runs
        self._cache: dict[str, tuple[tuple, tuple[dict, str | None]]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ ids
    def resolve(self, run_id: str) -> Path:
        """The folder of run ``run_id``; BadRunId for ids that can never be inside, NotFound otherwise."""
        rid = check_id(run_id)
        path = self.root / rid
        if not inside(self.root, path):
            raise NotFound(f"no run {rid!r} in the served folder")
        if not (path / ck.CONFIG).is_file() or not inside(self.root, path / ck.CONFIG):
            raise NotFound(f"no run {rid!r} in the served folder")
        return path.resolve()

    def run_file(self, run_id: str, name: str) -> Path | None:
        """A file of the run that the server may send (see ALLOWED_FILES), None when it is absent."""
        if name not in ALLOWED_FILES:
            raise NotFound(f"no file {name!r} for run {run_id!r}")
        p = self.resolve(run_id) / name
        return p if p.is_file() and inside(self.root, p) else None

    def checkpoint_inside(self, run_dir: Path) -> Path:
        d = ck.checkpoint_dir(run_dir)
        if not inside(self.root, d) or any(not inside(self.root, f) for f in d.iterdir()):
            raise NotFound(f"the checkpoint of {run_dir.name!r} lies outside the served folder; refusing to load it")
        return d

    # ------------------------------------------------------------------ listing
    def ids(self) -> list[str]:
        out: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            rel = Path(dirpath).relative_to(self.root)
            if ck.CONFIG in filenames and rel.parts:
                out.append(rel.as_posix())
                dirnames[:] = []  # runs do not nest
            elif len(rel.parts) >= MAX_DEPTH:
                dirnames[:] = []
            else:
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
            if len(out) >= self.max_runs:
                break
        return sorted(out)

    def list(self) -> list[dict]:
        rows = []
        for rid in self.ids():
            try:
                rows.append(self.summary(rid))
            except GenlabError as e:
                rows.append({"id": rid, "model": "?", "family": "?", "data": "?", "status": f"unreadable: {e}",
                             "modality": "?", "train_time_s": None, "metrics": {}, "has_grid": False,
                             "has_text": False, "has_report": False})
        return rows

    def summary(self, run_id: str) -> dict:
        """What the gallery and ``GET /v1/runs`` show of one run (cached until its files change)."""
        path = self.resolve(run_id)
        stamp = tuple(_mtime(path / n) for n in (ck.CONFIG, ck.STATE, "eval.json", "report.html", "samples.png",
                                                "samples.txt"))
        with self._lock:
            hit = self._cache.get(run_id)
        if hit and hit[0] == stamp:
            row, recorded = hit[1]
            if recorded != "running":
                return row
            # state.json says running: whether a process still holds the run's lock can change at any time
            return {**row, "status": ck.describe_status(path)}
        cfg = ck.read_run_config(path)
        state = ck.read_state(path)
        row = {
            "id": run_id,
            "model": str(cfg.get("model")),
            "family": _family(cfg.get("model")),
            "data": _data_name(cfg),
            "modality": str((cfg.get("data_info") or {}).get("modality", "?")),
            "status": ck.describe_status(path, state),
            "step": state.get("step"),
            "train_time_s": state.get("train_time_s"),
            "created": cfg.get("created"),
            "metrics": headline_metrics(path, state),
            "has_grid": (path / "samples.png").is_file(),
            "has_text": (path / "samples.txt").is_file(),
            "has_report": (path / "report.html").is_file(),
        }
        with self._lock:
            self._cache[run_id] = (stamp, (row, state.get("status")))
        return row


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def _family(model) -> str:
    from ..registry import get_model_class

    try:
        return get_model_class(str(model)).family or "?"
    except GenlabError:
        return "?"


def _data_name(cfg: dict) -> str:
    name = str((cfg.get("data_config") or {}).get("name") or (cfg.get("data_info") or {}).get("name") or "?")
    return Path(name).name if "/" in name else name


def headline_metrics(path: Path, state: dict, limit: int = 4) -> dict:
    """A few numbers: the evaluation's top-level numbers when eval.json exists, else the last validation (or
    training) metrics."""
    out: dict = {}
    ev = path / "eval.json"
    if ev.is_file():
        try:
            data = json.loads(ev.read_text(encoding="utf-8")) if ev.stat().st_size < 4 * 2**20 else {}
        except (OSError, ValueError):
            data = {}
        for k, v in (data.items() if isinstance(data, dict) else []):
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("n", "seed"):
                out[str(k)] = v
            if len(out) >= limit:
                return out
    final = state.get("final_metrics") or {}
    for split in ("val", "train"):
        for k, v in (final.get(split) or {}).items():
            if k in ("step", "epoch", "time") or isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            out.setdefault(f"{split}.{k}", v)
            if len(out) >= limit:
                return out
    return out
