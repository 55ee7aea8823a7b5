"""Evaluation of text runs (language models): exact bits per character, bits per token and perplexity on the
held-out text (the run's test split, or ``--data``), plus a few samples for the report."""
from __future__ import annotations

import html

import torch

from . import progress



def evaluate_text_run(model, run_dir, data_cfg, *, seed: int = 0, n: int = 3, **_) -> dict:
    from ..data import load_data
    from ..models.autoregressive.lm import evaluate_text

    test = load_data(data_cfg, "text", "test")
    t = test.info.meta.get("block_size", test.info.shape[0])
    progress.stage(f"held-out likelihood of {model.name} on {len(test):,} windows of {t} tokens of {data_cfg.name}")
    metrics = evaluate_text(model, _Counted(test, f"held-out likelihood ({model.name})"))
    gen = torch.Generator(device=model.device).manual_seed(seed)
    k = max(1, min(n, 3))
    progress.stage(f"drawing {k} sample{'s' if k > 1 else ''} for the report")
    samples = model.sample(k, generator=gen, length=200) if "length" in model.option_specs() else model.sample(k, generator=gen)
    out = {"modality": "text", "model": model.name, "data": data_cfg.name, "split": "test",
           "held_out": metrics, "samples": list(samples)}
    out["_html"] = "".join(f"<h4>sample {i}</h4><pre>{html.escape(s)}</pre>" for i, s in enumerate(samples))
    return out


class _Counted:
    """A dataset whose batches advance a progress bar (``evaluate_text`` reads every test window once)."""

    def __init__(self, ds, desc: str):
        self.ds, self.desc = ds, desc

    def batches(self, batch_size: int, **kwargs):
        with progress.bar(len(self.ds), self.desc, unit="window") as bar:
            for batch in self.ds.batches(batch_size, **kwargs):
                yield batch
                bar.update(len(next(iter(batch.values()))))

    def __getattr__(self, name):
        return getattr(self.ds, name)


def text_summary(result: dict) -> str:
    """The terminal lines of a text evaluation."""
    m = result["held_out"]
    return (f"{result['model']} on {result['data']} (held-out, {m['tokens']:,} tokens): {m['bits_per_char']:.3f} bits/char, "
            f"{m['bits_per_token']:.3f} bits/token, perplexity {m['perplexity']:.2f} (per token)")
