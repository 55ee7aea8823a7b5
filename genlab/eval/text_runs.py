"""Evaluation of text runs (language models): exact bits per character, bits per token and perplexity on the
held-out text (the run's test split, or ``--data``), plus a few samples for the report."""
from __future__ import annotations

import html

import torch

from . import register_evaluator


@register_evaluator("text")
def evaluate_text_run(model, run_dir, data_cfg, *, seed: int = 0, n: int = 3, **_) -> dict:
    from ..data import load_data
    from ..models.autoregressive.lm import evaluate_text

    test = load_data(data_cfg, "text", "test")
    metrics = evaluate_text(model, test)
    gen = torch.Generator(device=model.device).manual_seed(seed)
    k = max(1, min(n, 3))
    samples = model.sample(k, generator=gen, length=200) if "length" in model.option_specs() else model.sample(k, generator=gen)
    out = {"modality": "text", "model": model.name, "data": data_cfg.name, "split": "test",
           "held_out": metrics, "samples": list(samples)}
    out["_html"] = "".join(f"<h4>sample {i}</h4><pre>{html.escape(s)}</pre>" for i, s in enumerate(samples))
    return out


def text_summary(result: dict) -> str:
    """The terminal lines of a text evaluation."""
    m = result["held_out"]
    return (f"{result['model']} on {result['data']} (held-out, {m['tokens']:,} tokens): {m['bits_per_char']:.3f} bits/char, "
            f"{m['bits_per_token']:.3f} bits/token, perplexity {m['perplexity']:.2f} (per token)")
