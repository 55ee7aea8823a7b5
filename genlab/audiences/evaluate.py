"""``genlab evaluate RUN`` for audience runs (the kind of data ``audience``): the trained model on its run's own
held-out items, one draw, beside the nearest-item, global and resampled-real rows."""
from __future__ import annotations

from .protocol import evaluate_trained, format_table
from .report import item_sections, results_table


def evaluate_audience_run(model, run_dir, data_cfg, seed: int = 0, **options) -> dict:
    """One draw of held-out items; ``genlab audiences evaluate RUN`` repeats training over draws."""
    result = evaluate_trained(model, data_cfg, seed)
    labels = None
    if result["data"] == "movielens-100k":
        from ..data.movielens import titles

        labels = titles(data_cfg)
    rows = [model.name, "NN (nearest item)"]
    html = results_table(result) + item_sections(result["first"], rows, labels)
    return {"modality": "audience", "held_out_items": result["n_novel"],
            "rows": {k: v["mean"] for k, v in result["rows"].items()}, "table": format_table(result).splitlines(),
            "_html": html}


def terminal_summary(result: dict) -> str:
    """The leaderboard of the held-out items as ``genlab audiences`` prints it."""
    return "\n".join(result.get("table", [])) or f"{result.get('held_out_items', 0)} held-out items"
