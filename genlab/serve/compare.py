"""``/compare``: the leaderboard of ``genlab compare`` (``genlab.api.compare``: common samples, the reference
rows, best / tie marks), computed by the library in a worker thread and kept in the server's comparison cache.
Nothing is written: the printed table is captured and the rows are returned."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError


def check_kinds(summaries: list[dict]) -> None:
    """Refuse, before anything is computed, runs of different kinds of data (one leaderboard holds one kind)."""
    kinds: dict[str, list[str]] = {}
    for s in summaries:
        kinds.setdefault(str(s.get("modality")), []).append(s["id"])
    if len(kinds) > 1:
        parts = "; ".join(f"{k}: {', '.join(ids)}" for k, ids in sorted(kinds.items()))
        raise ConfigError(f"a comparison puts runs of one kind of data on one leaderboard; these are of "
                          f"{len(kinds)} kinds ({parts})")


def stamp(ckpt_dir: Path, run_dir: Path) -> tuple:
    """What changes when a run's model changes: size and modification time of its config and weight files."""
    out = []
    for p in (run_dir / "config.json", ckpt_dir / "model.safetensors", ckpt_dir / "ema.safetensors"):
        try:
            st = p.stat()
            out.append((p.name, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((p.name, None, None))
    return tuple(out)


def compute(ids: list[str], dirs: list[Path], n: int, seed: int) -> dict:
    """``genlab.api.compare`` of the runs (nothing written), with the table it prints and the rows made
    ready for a page and for JSON. Rows name their run by id; reference rows have ``reference: True``."""
    from ..api import compare

    printed: list[str] = []
    rows = compare(list(dirs), n=n, seed=seed, output=None, echo=lambda line="": printed.append(str(line)))
    by_dir = {str(d): rid for d, rid in zip(dirs, ids)}
    models = [r.get("model") for r in rows if str(r.get("run")) in by_dir]
    for r in rows:
        rid = by_dir.get(str(r.get("run")))
        r["reference"] = bool(r.get("reference")) or rid is None
        r["run"] = rid
        if rid is not None and models.count(r.get("model")) > 1:  # two runs of one model: tell them apart
            r["model"] = f"{r['model']} ({rid})"
    kind = rows[0].get("modality", "image") if rows else "image"
    return {"ids": ids, "n": n, "seed": seed, "modality": kind, "rows": rows, "printed": "\n".join(printed)}


def leaderboard(result: dict) -> list[dict]:
    """One dict per leaderboard row: its columns (as ``genlab compare`` prints them), ``reference``, ``run``
    and ``marks`` (column -> "*" best model, "~" tied with the best; images only, as the terminal table)."""
    rows = result["rows"]
    if result["modality"] == "image":
        from ..eval.image_runs import mark_ties, summary

        summ = [summary(r) for r in rows]
        marks = mark_ties(summ)
        return [{**{k: v for k, v in s.items() if not k.startswith("_")}, "run": r["run"],
                 "reference": r["reference"], "marks": m, "note": s.get("_warning") or s.get("_skipped")}
                for r, s, m in zip(rows, summ, marks)]
    return [{k: v for k, v in r.items() if not k.startswith("_") and k != "modality"} | {"marks": {}} for r in rows]


def as_json(result: dict) -> dict:
    """The JSON answer of ``GET /v1/compare``."""
    from ..eval import report as R

    return R.json_ready({"runs": result["ids"], "n": result["n"], "seed": result["seed"],
                         "modality": result["modality"], "leaderboard": leaderboard(result),
                         "printed": result["printed"]})


def leaderboard_html(result: dict) -> str:
    """The leaderboard as HTML: the library's own table for images (intervals, marks, reference notes, legend);
    a plain table of the same columns otherwise."""
    from html import escape

    if result["modality"] == "image":
        from ..eval import report as R
        from ..eval.compare import leaderboard_html as image_leaderboard

        grids = "".join(f"<div class='cmpcell'><b>{escape(str(r['model']))}</b><br>"
                        f"{R.grid_tag(r['_grid'][:36], str(r['model']), 200)}</div>" for r in result["rows"] if "_grid" in r)
        return image_leaderboard(result["rows"]) + (f"<h3>Samples</h3>{grids}" if grids else "")
    rows = leaderboard(result)
    cols = [c for c in rows[0] if c not in ("marks", "run", "reference")] if rows else []
    fmt = lambda v: ("-" if v is None else str(int(v)) if isinstance(v, float) and v.is_integer() and abs(v) >= 1  # noqa: E731
                     else f"{v:.3f}" if isinstance(v, float) else str(v))
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = "".join("<tr" + (" class='reference'" if r["reference"] else "") + ">"
                   + "".join(f"<td>{escape(fmt(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table id='leaderboard-table'><tr>{head}</tr>{body}</table>"
