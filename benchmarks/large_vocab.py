"""Training steps per CPU-minute of the char models on a large-vocabulary corpus (issue 15): full softmax
(before: model.softmax=full) against the adaptive softmax that model.softmax=auto now picks above 4,096 tokens.

A synthetic corpus of ~8,000 CJK characters with Zipf-like frequencies; one thread; process CPU seconds of
``--steps`` training steps after one warm-up step; the loss is each model's exact per-token NLL (nats).
Writes benchmarks/results/large_vocab.json.

    python benchmarks/large_vocab.py [--batch 32] [--block 128] [--steps 3]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402


def corpus(path: Path, vocab: int = 8000, n: int = 300_000) -> Path:
    rng = np.random.default_rng(0)
    chars = np.array([chr(0x4E00 + i) for i in range(vocab)])
    p = 1 / np.arange(1, vocab + 1)
    text = "".join(chars) + "".join(chars[rng.choice(vocab, size=n, p=p / p.sum())])
    path.write_text("\n".join(text[i:i + 80] for i in range(0, len(text), 80)), encoding="utf-8")
    return path


def measure(model_name: str, softmax: str, data, batch: int, steps: int) -> dict:
    from genlab.models.autoregressive.lm import step_memory
    from genlab.registry import get_model_class

    cls = get_model_class(model_name)
    torch.manual_seed(0)
    model = cls(cls.Config(softmax=softmax), data.info)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    batches = data.batches(batch, shuffle=True, drop_last=True)
    times, losses = [], []
    for i in range(steps + 1):
        x = next(batches)["x"]
        t = time.process_time()
        loss = model._token_nll(x).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i:  # the first step warms up
            times.append(time.process_time() - t)
            losses.append(loss.item())
    per_step = sum(times) / len(times)
    return {"model": model_name, "softmax": softmax, "head": type(model.head).__name__,
            "cpu_s_per_step": round(per_step, 3), "steps_per_cpu_minute": round(60 / per_step, 1),
            "loss_last": round(losses[-1], 3), "estimate_mb": round(step_memory(model, batch)["total"] / 2**20)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--block", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/large_vocab.json")
    a = ap.parse_args()
    torch.set_num_threads(1)
    from genlab.config import DataConfig
    from genlab.data.text import load_text

    path = corpus(Path("/tmp/genlab_large_vocab.txt"))
    data = load_text(DataConfig(name=str(path), block_size=a.block), "train")
    rows = [measure(m, s, data, a.batch, a.steps) for m in ("char-gru", "transformer-lm") for s in ("full", "auto")]
    for r in rows:
        print(r)
    result = {"vocab": data.info.meta["vocab_size"], "batch": a.batch, "block": a.block, "steps": a.steps,
              "threads": 1, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "rows": rows}
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
