"""Character-level language models on tiny-shakespeare for a fixed CPU-time budget each.

    python benchmarks/text_shakespeare.py [--budget 300] [--threads 1] [--models char-lstm,transformer-lm]

For each model: train for ``--budget`` process-CPU seconds (see ``ar_budget.py``), then report exact
validation bits per character over the whole held-out 10% (non-overlapping windows of ``block_size``), a
500-character sample continuing "ROMEO:" (temperature 0.8, top-k 40, top-p 0.95, seed 0), and sampling
speed in tokens/second (one sequence of 500 tokens; the Transformer with and without its key/value cache).
Results go to ``benchmarks/results/text_shakespeare.json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import genlab
from genlab.config import DataConfig
from genlab.data import load_data
from genlab.models.autoregressive.lm import evaluate_text

from ar_budget import cpu_and_wall, train_for_cpu_budget

ROOT = Path(__file__).resolve().parents[1]
TEXT = ROOT.parent / "shared" / "data" / "text" / "tinyshakespeare.txt"
LSTM = ({"hidden": 256, "layers": 2}, {"lr": 3e-3, "batch_size": 32})
GPT = ({"layers": 4, "heads": 4, "width": 128, "positions": "learned"}, {"lr": 1e-3, "batch_size": 32, "warmup_steps": 50})
# benchmark name -> (registered model, model config, train config, tokenizer)
MODELS = {
    "char-lstm": ("char-lstm", *LSTM, "char"),
    "char-lstm-drop": ("char-lstm", {**LSTM[0], "dropout": 0.2}, LSTM[1], "char"),  # for budgets past ~5 passes
    "transformer-lm": ("transformer-lm", *GPT, "char"),
    "transformer-lm-bpe": ("transformer-lm", {**GPT[0], "positions": "rotary"}, GPT[1], "bpe"),
}


def speed(model, length: int, cache: bool | None = None) -> dict:
    if cache is not None:
        model.kv_cache = cache
    gen = torch.Generator().manual_seed(0)
    _, cpu, wall = cpu_and_wall(lambda: model.sample(1, generator=gen, prompt="ROMEO:", length=length))
    model.kv_cache = True
    return {"tokens_per_cpu_s": round(length / cpu, 1), "tokens_per_wall_s": round(length / wall, 1)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=300, help="CPU seconds of training per model")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--block-size", type=int, default=128)
    p.add_argument("--models", default="char-lstm,transformer-lm")
    p.add_argument("--runs", default="/tmp/genlab-bench/text")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "text_shakespeare.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = json.loads(Path(args.json).read_text()) if Path(args.json).is_file() else {}
    results["setup"] = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {torch.get_num_threads()} "
                        "thread(s), 2-core CPU shared with other jobs, no GPU", "torch": torch.__version__,
                        "budget_cpu_s": args.budget, "block_size": args.block_size}
    for name in args.models.split(","):
        model_name, mcfg, tcfg, tokenizer = MODELS[name]
        data = DataConfig(name=str(TEXT), block_size=args.block_size, tokenizer=tokenizer, vocab_size=512)
        tcfg = {**tcfg, "val_batches": 5, "grid_size": 1, "checkpoint_every": 10_000, "seed": 0}
        run = Path(args.runs) / name
        train = train_for_cpu_budget(model_name, data, run, args.budget, mcfg, tcfg)
        model = genlab.load(run)
        val = evaluate_text(model, load_data(data, "text", "test"), batch_size=32)
        gen = torch.Generator().manual_seed(0)
        text = model.sample(1, generator=gen, prompt="ROMEO:", length=500, temperature=0.8, top_k=40, top_p=0.95)[0]
        rec = {"model": model_name, "model_config": mcfg, "train_config": tcfg, "data": {"tokenizer": data.tokenizer, "vocab_size": model.vocab_size},
               "parameters": sum(p.numel() for p in model.parameters()), **train, "validation": val,
               "speed": speed(model, 500), "sample": text}
        if model_name == "transformer-lm":
            rec["speed_no_cache"] = speed(model, 500, cache=False)
        results[name] = rec
        print(json.dumps({k: v for k, v in rec.items() if k != "sample"}, indent=1), "\n", text, flush=True)
        Path(args.json).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
