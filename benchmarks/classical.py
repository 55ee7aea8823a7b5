"""Classical generative models on real data, each for a fixed budget of process CPU seconds.

* ``rbm``: 784-500 Bernoulli RBMs on dynamically binarised MNIST trained by CD-1, CD-3 and PCD; test NLL by
  AIS (100 chains x 10,000 temperatures, the log Z error bar by the delta method) over all 10,000 MNIST test
  digits binarised by one fixed Bernoulli draw (seed 0, the test set of benchmarks/ar_mnist.py); pictures of
  Gibbs chains and filters.
* ``hmm``: character HMMs with several state counts on tiny-shakespeare, windows of 128 characters; exact
  validation bits/char over every window of the held-out last 10% (as benchmarks/text_shakespeare.py does for
  the LSTM and Transformer); a sample and a Viterbi state-path picture.
* ``lda``: topic models on the BSD fortunes (one document per ``%`` entry, labelled by file); held-out
  perplexity (variational bound), top words, agreement of main topics with files (NMI, confusion picture),
  generated documents.

    python benchmarks/classical.py --parts rbm,hmm,lda

On a busy machine the AIS of a trained RBM can be split into independent chunks of chains (different
seeds), run as separate processes, and pooled: ``--parts ais-chunk --run RUN --ais-chains 25 --ais-seed S
--chunk-out F`` for each chunk, then ``--parts rbm-combine --chunks NAME=RUN:F1,F2,...``.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch

import genlab
from genlab.config import DataConfig
from genlab.data import load_data

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SHAKESPEARE = SHARED / "text" / "tinyshakespeare.txt"
FORTUNES = SHARED / "text" / "fortunes"

RBMS = {"cd1": {"cd_k": 1}, "cd3": {"cd_k": 3}, "pcd": {"persistent": True, "persistent_chains": 100, "cd_k": 1}}


def cpu(fn):
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    return out, round(time.process_time() - c, 1), round(time.perf_counter() - w, 1)


def train(model, data, out, budget, model_config, train_config):
    tc = {"epochs": 10_000, "max_cpu_time": budget, "progress": False, "checkpoint_every": 10**9, "val_batches": 2,
          "grid_size": 1, "threads": 1, "seed": 0, **train_config}
    _, c, w = cpu(lambda: genlab.train(model, data, out, model_config=model_config, overwrite=True, train_config=tc))
    state = json.loads((Path(out) / "state.json").read_text())
    return {"steps": state["step"], "epochs_completed": state["epoch"], "train_cpu_s": state["cpu_time_s"],
            "total_cpu_s": c, "total_wall_s": w}


def bench_rbm(args, results, images):
    data = DataConfig(name="mnist", root=str(SHARED), download=False, binarize="dynamic")
    grey = load_data(DataConfig(name="mnist", root=str(SHARED), download=False), "image", "test").all()["x"]
    x_test = torch.bernoulli(grey, generator=torch.Generator().manual_seed(0))[: args.test_limit]
    for name in args.rbms.split(","):
        mcfg = {"hidden": 500, "sample_steps": 1000, "ais_chains": 100, "ais_temperatures": args.temperatures, **RBMS[name]}
        tcfg = {"batch_size": 100, "lr": args.rbm_lr}
        run = Path(args.runs) / f"rbm-{name}"
        rec = {"model": "rbm", "model_config": mcfg, "train_config": tcfg, "budget_cpu_s": args.budget,
               **train("rbm", data, run, args.budget, mcfg, tcfg)}
        model = genlab.load(run)
        ais, ais_cpu, ais_wall = cpu(model.ais)
        model._log_z = (ais["log_z"], ais["log_z_std"])
        ll = torch.cat([model.log_likelihood({"x": b}) for b in x_test.split(1000)]).double()
        rec.update({"log_z": round(ais["log_z"], 3), "log_z_std": round(ais["log_z_std"], 4),
                    "ais_chains": ais["chains"], "ais_temperatures": ais["temperatures"],
                    "ais_effective_sample_size": round(ais["effective_sample_size"], 1), "ais_cpu_s": ais_cpu,
                    "ais_wall_s": ais_wall, "test_images": len(x_test), "test_nll_nats": round(float(-ll.mean()), 2),
                    "test_nll_sem": round(float(ll.std() / math.sqrt(len(ll))), 2),
                    "test_nll_plus_minus_log_z_std": round(ais["log_z_std"], 3)})
        if name == args.picture_rbm:
            model.save_chain_picture(images / "classical_rbm_chains.png", n=10, sweeps=1000, every=100)
            model.save_filters_picture(images / "classical_rbm_filters.png", n=100)
            rec["pictures"] = ["docs/img/classical_rbm_chains.png", "docs/img/classical_rbm_filters.png"]
        results["rbm"][name + args.tag] = rec
        print(name, json.dumps(rec), flush=True)
        save(args, results)


def ais_chunk(args, results, images):
    """AIS for one trained RBM with ``--ais-chains`` chains and seed ``--ais-seed``: its log-weights to
    ``--chunk-out`` (chunks with different seeds are independent chains; ``rbm-combine`` pools them)."""
    model = genlab.load(args.run)
    r, c, w = cpu(lambda: model.ais(chains=args.ais_chains, seed=args.ais_seed))
    Path(args.chunk_out).write_text(json.dumps({"log_weights": r["log_weights"].tolist(), "base_log_z": model._base_log_z(),
                                                "temperatures": r["temperatures"], "cpu_s": c, "wall_s": w,
                                                "seed": args.ais_seed}))


def rbm_combine(args, results, images):
    """Pool AIS chunks of each run (``--chunks name=run:file1,file2,...;...``), score the binarised test set."""
    grey = load_data(DataConfig(name="mnist", root=str(SHARED), download=False), "image", "test").all()["x"]
    x_test = torch.bernoulli(grey, generator=torch.Generator().manual_seed(0))[: args.test_limit]
    for spec in args.chunks.split(";"):
        name, rest = spec.split("=", 1)
        run, files = rest.split(":", 1)
        chunks = [json.loads(Path(f).read_text()) for f in files.split(",")]
        log_w = torch.tensor([v for ch in chunks for v in ch["log_weights"]], dtype=torch.float64)
        m = log_w.max()
        w = (log_w - m).exp()
        log_z = chunks[0]["base_log_z"] + float(m + w.mean().log())
        std = float(w.std() / (math.sqrt(len(w)) * w.mean()))
        model = genlab.load(run)
        model._log_z = (log_z, std)
        ll = torch.cat([model.log_likelihood({"x": b}) for b in x_test.split(1000)]).double()
        state = json.loads((Path(run) / "state.json").read_text())
        cfg = json.loads((Path(run) / "config.json").read_text())
        rec = {"model": "rbm", "model_config": cfg["model_config"], "train_config": {
                   k: cfg["train_config"][k] for k in ("batch_size", "lr", "max_cpu_time", "optimizer")},
               "steps": state["step"], "epochs_completed": state["epoch"], "train_cpu_s": state["cpu_time_s"],
               "log_z": round(log_z, 3), "log_z_std": round(std, 4), "ais_chains": len(w),
               "ais_temperatures": chunks[0]["temperatures"], "ais_chunks": len(chunks),
               "ais_cpu_s": round(sum(ch["cpu_s"] for ch in chunks), 1),
               "ais_effective_sample_size": round(float(w.sum() ** 2 / (w ** 2).sum()), 1),
               "test_images": len(x_test), "test_nll_nats": round(float(-ll.mean()), 2),
               "test_nll_sem": round(float(ll.std() / math.sqrt(len(ll))), 2)}
        if name.startswith(args.picture_rbm):
            model.save_chain_picture(images / "classical_rbm_chains.png", n=10, sweeps=1000, every=100)
            model.save_filters_picture(images / "classical_rbm_filters.png", n=100)
            rec["pictures"] = ["docs/img/classical_rbm_chains.png", "docs/img/classical_rbm_filters.png"]
        results["rbm"][name] = rec
        print(name, json.dumps(rec), flush=True)
        save(args, results)


def bench_hmm(args, results, images):
    from genlab.models.autoregressive.lm import evaluate_text

    data = DataConfig(name=str(SHAKESPEARE), block_size=128)
    val_ds = load_data(data, "text", "test")
    for k in map(int, args.states.split(",")):
        mcfg = {"states": k}
        tcfg = {"batch_size": 64}
        run = Path(args.runs) / f"hmm-{k}"
        rec = {"model": "hmm", "model_config": mcfg, "train_config": tcfg,
               **train("hmm", data, run, args.hmm_budget, mcfg, tcfg)}
        model = genlab.load(run)
        val, c, _ = cpu(lambda: evaluate_text(model, val_ds, batch_size=64))
        gen = torch.Generator().manual_seed(0)
        rec.update({"validation": val, "eval_cpu_s": c,
                    "sample": model.sample(1, generator=gen, prompt="ROMEO:", length=300)[0]})
        if k == max(map(int, args.states.split(","))):
            text = "ROMEO:\nBut, soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n"
            model.save_state_path_picture(text, images / "classical_hmm_viterbi.png")
            rec["viterbi_text"] = text
            rec["viterbi_states"] = model.viterbi(text).tolist()
        results["hmm"][str(k)] = rec
        print(k, json.dumps({kk: v for kk, v in rec.items() if kk not in ("sample", "viterbi_states")}), flush=True)
        save(args, results)


def bench_lda(args, results, images):
    from genlab.eval.documents_runs import save_topic_label_picture

    data = DataConfig(name=str(FORTUNES), vocab_size=2000)
    test_ds = load_data(data, "documents", "test")
    for k in map(int, args.topics.split(",")):
        mcfg = {"topics": k, "max_iter": 20}
        run = Path(args.runs) / f"lda-{k}"
        rec = {"model": "lda", "model_config": mcfg, **train("lda", data, run, 10**6, mcfg, {})}
        model = genlab.load(run)
        held, c, _ = cpu(lambda: model.perplexity(test_ds))
        pic = images / f"classical_lda{k}_topics_vs_files.png"
        table = save_topic_label_picture(model, test_ds, pic)
        gen = torch.Generator().manual_seed(0)
        rec.update({"vocabulary": len(model.vocab), "documents_train": len(load_data(data, "documents", "train")),
                    "held_out": held, "held_out_cpu_s": c, "nmi_main_topic_vs_file": round(table["nmi"], 4),
                    "top_words": [" ".join(w) for w in model.top_words(8)],
                    "generated": model.sample(3, generator=gen, length=12), "picture": f"docs/img/{pic.name}"})
        results["lda"][str(k)] = rec
        print(k, json.dumps(rec)[:2000], flush=True)
        save(args, results)


def save(args, results):
    """Merge into the results file (parts may run in separate processes at the same time)."""
    path = Path(args.json)
    on_disk = json.loads(path.read_text()) if path.is_file() else {}
    for part in ("rbm", "hmm", "lda"):
        on_disk[part] = {**on_disk.get(part, {}), **results[part]}
    on_disk["setup"] = {**on_disk.get("setup", {}), **results["setup"]}
    path.write_text(json.dumps(on_disk, indent=1, ensure_ascii=False) + "\n")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="rbm,hmm,lda")
    p.add_argument("--budget", type=float, default=60, help="CPU seconds of training per RBM (docs/classical.md: 60)")
    p.add_argument("--rbms", default="cd1,cd3,pcd")
    p.add_argument("--rbm-lr", type=float, default=1e-3)
    p.add_argument("--temperatures", type=int, default=10_000)
    p.add_argument("--picture-rbm", default="pcd")
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--tag", default="", help="suffix of the RBM result keys (e.g. -60s for a second budget)")
    p.add_argument("--run", help="ais-chunk: the RBM run folder")
    p.add_argument("--ais-chains", type=int, default=25)
    p.add_argument("--ais-seed", type=int, default=0)
    p.add_argument("--chunk-out", help="ais-chunk: where to write the log-weights (JSON)")
    p.add_argument("--chunks", help="rbm-combine: name=run:chunk1.json,chunk2.json;...")
    p.add_argument("--hmm-budget", type=float, default=90, help="CPU seconds of training per HMM")
    p.add_argument("--states", default="16,64,256")
    p.add_argument("--topics", default="20,40")
    p.add_argument("--runs", default="/tmp/genlab-bench/classical")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "classical.json"))
    p.add_argument("--images", default=str(ROOT / "docs" / "img"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results = {"rbm": {}, "hmm": {}, "lda": {}}
    results["setup"] = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, 1 thread, 2-core CPU "
                        "shared with other jobs, no GPU", "torch": torch.__version__, "threads": 1,
                        "rbm_budget_cpu_s": args.budget, "hmm_budget_cpu_s": args.hmm_budget}
    images = Path(args.images)
    images.mkdir(parents=True, exist_ok=True)
    for part in args.parts.split(","):
        {"rbm": bench_rbm, "hmm": bench_hmm, "lda": bench_lda, "ais-chunk": ais_chunk,
         "rbm-combine": rbm_combine}[part](args, results, images)


if __name__ == "__main__":
    main()
