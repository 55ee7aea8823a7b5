"""``genlab evaluate`` for document (topic) models: held-out perplexity, top words, and how topics line up
with the files the documents came from."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data import load_data
from ..data.base import TensorDataset
from ..errors import ConfigError, DataError
from .likelihood_runs import test_nll


def topic_label_table(model, data: TensorDataset) -> dict:
    """Counts (labels x topics) of documents by source file and main topic, and their normalised mutual
    information (0: unrelated, 1: topics reproduce the files)."""
    from sklearn.metrics import normalized_mutual_info_score

    topics = model.main_topics(data).numpy()
    y = data.tensors["y"].numpy()
    table = np.zeros((len(data.info.class_names or [0]), model.config.topics), dtype=np.int64)
    np.add.at(table, (y, topics), 1)
    return {"table": table, "nmi": float(normalized_mutual_info_score(y, topics)), "labels": list(data.info.class_names or [])}


def save_topic_label_picture(model, data: TensorDataset, path, min_docs: int = 5) -> dict:
    """Heatmap: for every source file (row, with at least ``min_docs`` documents) the share of its documents
    whose main topic is each topic (columns, ordered by the file they are most common in, labelled by their
    top words)."""
    from matplotlib.figure import Figure

    r = topic_label_table(model, data)
    table, labels = r["table"], r["labels"]
    keep = table.sum(1) >= min_docs
    if not keep.any():
        keep = table.sum(1) > 0
    table, labels = table[keep], [lab for lab, k in zip(labels, keep) if k]
    share = table / table.sum(1, keepdims=True).clip(min=1)
    order = np.lexsort((-share.max(0), share.argmax(0)))  # topics grouped by the file where they dominate
    share = share[:, order]
    words = model.top_words(3)
    fig = Figure(figsize=(2.5 + 0.32 * share.shape[1], 1.8 + 0.26 * share.shape[0]))
    ax = fig.add_subplot()
    im = ax.imshow(share, cmap="viridis", vmin=0, vmax=max(0.5, float(share.max())), aspect="auto")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xticks(range(share.shape[1]), [f"{t}: {' '.join(words[t])}" for t in order], rotation=90, fontsize=6)
    ax.set_title(f"share of each file's documents by main topic (NMI {r['nmi']:.3f})", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return r


def evaluate_documents_run(model, run_dir, data_cfg, *, n: int = 10_000, seed: int = 0, nll_limit=None, **_) -> dict:
    """``genlab evaluate`` for document models: held-out perplexity (variational bound), top words, topics
    against source files (NMI, ``topics_vs_files.png``) and a few generated documents."""
    if model.name != "lda":
        raise ConfigError(f"genlab has no evaluator for documents models other than lda ({model.name!r})")
    test_ds = load_data(data_cfg, "documents", "test")
    if test_ds.info.meta.get("vocab") != model.vocab:
        raise DataError(f"{data_cfg.name} gives another vocabulary than the one {model.name!r} was trained on; "
                        "evaluate on the collection it was trained on")
    result = {"model": model.name, "data": data_cfg.name, "topics": model.config.topics,
              "held_out": model.perplexity(test_ds),
              "likelihood": test_nll(model, test_ds, limit=nll_limit, seed=seed),
              "top_words": {str(i): " ".join(w) for i, w in enumerate(model.top_words(10))}}
    if (test_ds.info.num_classes or 0) > 1:
        r = save_topic_label_picture(model, test_ds, Path(run_dir) / "topics_vs_files.png")
        result["topics_vs_files"] = {"nmi": r["nmi"], "picture": "topics_vs_files.png", "files": len(r["labels"])}
    gen = torch.Generator().manual_seed(seed)
    result["generated"] = model.sample(min(3, n), generator=gen)
    return result
