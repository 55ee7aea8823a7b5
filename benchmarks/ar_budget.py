"""Train a genlab model for a budget of process CPU seconds (not wall-clock: the benchmark machine is shared).

A short probe run measures the CPU cost of a training step (``cpu_time_s`` in the run's ``state.json``,
counted by the trainer over training steps only); the run is then resumed, exactly, up to the number of
steps that fills the budget. The result is the same model as one uninterrupted run of that many steps.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import genlab


def train_for_cpu_budget(model: str, data, out: Path, budget_s: float, model_config: dict, train_config: dict,
                         probe_steps: int = 20) -> dict:
    wall = time.perf_counter()
    genlab.train(model, data, out, model_config=model_config, overwrite=True,
                 train_config={**train_config, "max_steps": probe_steps, "progress": False})
    state = json.loads((Path(out) / "state.json").read_text())
    per_step = state["cpu_time_s"] / max(1, state["step"])
    total = max(probe_steps, int(budget_s / per_step))
    if total > probe_steps:
        genlab.resume(out, max_steps=total, progress=False)
    state = json.loads((Path(out) / "state.json").read_text())
    return {"steps": state["step"], "epochs_completed": state["epoch"], "train_cpu_s": state["cpu_time_s"],
            "train_wall_s": state["train_time_s"], "total_wall_s": round(time.perf_counter() - wall, 1)}


def cpu_and_wall(fn):
    """Run ``fn()``; return its result, process CPU seconds and wall seconds."""
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c, time.perf_counter() - w
