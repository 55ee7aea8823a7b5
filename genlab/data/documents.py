"""Document collections as bags of words (the ``documents`` modality, for topic models).

``--data`` is a text file or a folder of them (hidden files skipped). How files become documents follows
``data.documents``:

* ``stream`` (the default) — each file is split at lines holding only ``%`` (the BSD ``fortune`` format);
  a file without such lines is one document;
* ``files`` — one document per file;
* ``lines`` — one document per non-empty line.

Empty entries between ``%`` lines are skipped; an empty file in ``files`` mode, or a collection without any
words, is refused with one line. Every document is labelled by the file it came from (its path relative to the
folder, without suffix), so topics can be set against the files. Bytes that are not UTF-8 are replaced
(some fortune files mix Latin-1 into UTF-8); files with NUL bytes are refused as binary.

The vocabulary is the ``data.vocab_size`` most frequent words of the training documents (scikit-learn's
``CountVectorizer``: lower-cased, words of two or more letters/digits, English stop words removed), kept in
``DataInfo.meta["vocab"]`` so a model rebuilds without the data. A random ``data.val_fraction`` of the
documents (seed 0) is held out. The dataset holds document indices; its transform turns a batch into dense
word counts ``x`` (B, V) from a sparse matrix, so large collections stay small in memory.
"""
from __future__ import annotations

import functools
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import ConfigError, DataError
from .base import Batch, DataInfo, TensorDataset
from .images import holdout_indices
from .text import text_files

SEPARATOR = re.compile(r"^%[ \t]*\r?$", re.MULTILINE)


def _files(path: Path) -> list[Path]:
    return text_files(path, "give a folder of text documents (or one file with % lines)",
                      "documents {path!r} not found: give a text file or a folder of text files")


def _read(p: Path) -> str:
    raw = p.read_bytes()
    if b"\x00" in raw:
        raise DataError(f"{p} is a binary file (it holds NUL bytes), not text; give text documents only")
    return raw.decode("utf-8", errors="replace")


def read_documents(path: str | Path, documents: str = "stream") -> tuple[list[str], list[str], int]:
    """Texts and their labels (source file) of the collection at ``path``, and how many empty entries were
    skipped. Raises DataError for a collection without text or (``files`` mode) an empty file."""
    path = Path(path).expanduser()
    files = _files(path)
    texts, labels, skipped = [], [], 0
    for f in files:
        label = str(f.relative_to(path).with_suffix("")) if path.is_dir() else f.stem
        text = _read(f)
        if documents == "files":
            if not text.strip():
                raise DataError(f"{f} is an empty document; remove it or give it some text")
            parts = [text]
        elif documents == "lines":
            parts = [line for line in text.splitlines() if line.strip()]
        else:
            parts = SEPARATOR.split(text)
            if len(parts) > 1 and not parts[-1].strip():  # the usual closing % line
                parts = parts[:-1]
        for part in parts:
            if part.strip():
                texts.append(part.strip("\n"))
                labels.append(label)
            else:
                skipped += 1
    if not texts:
        where = f"{files[0]} holds" if len(files) == 1 else f"all {len(files)} files of {path} hold"
        raise DataError(f"{where} no text (empty or whitespace only); give documents with words")
    return texts, labels, skipped


def _vectorizer(vocab_size: int | None = None, vocabulary: list[str] | None = None):
    from sklearn.feature_extraction.text import CountVectorizer

    if vocabulary is not None:
        return CountVectorizer(vocabulary={w: i for i, w in enumerate(vocabulary)})
    return CountVectorizer(stop_words="english", max_features=vocab_size)


def count_words(texts: list[str], vocabulary: list[str]):
    """Sparse word counts (N, V) of ``texts`` over a fixed ``vocabulary`` (words outside it are dropped)."""
    return _vectorizer(vocabulary=vocabulary).transform(texts).tocsr().astype(np.float32)


def _signature(path: Path) -> tuple:
    return tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in _files(path))


@functools.lru_cache(maxsize=4)
def _collection(signature: tuple, path: str, documents: str, val_fraction: float, vocab_size: int):
    texts, labels, skipped = read_documents(path, documents)
    if len(texts) < 2:
        raise DataError(f"{path} holds {len(texts)} document; a topic model needs at least 2 (some are held out)")
    split = {s: holdout_indices(len(texts), val_fraction, s) for s in ("train", "test")}
    vec = _vectorizer(vocab_size)
    try:
        vec.fit([texts[i] for i in split["train"]])
    except ValueError:  # scikit-learn: "empty vocabulary; perhaps the documents only contain stop words"
        raise DataError(f"the documents of {path} hold no words (only stop words, numbers of one digit or "
                        "punctuation); give documents with text") from None
    vocab = list(vec.get_feature_names_out())
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[c] for c in labels], dtype=np.int64)
    counts = count_words(texts, vocab)
    return texts, y, classes, vocab, counts, split, skipped


class DocumentDataset(TensorDataset):
    """Documents as indices ``doc`` and labels ``y``; batches carry dense word counts ``x`` (B, V).

    ``counts`` (a SciPy CSR matrix, N x V) and ``texts`` hold the whole split for models fitted in one call.
    """

    def __init__(self, counts, texts: list[str], y: torch.Tensor, info: DataInfo):
        self.counts, self.texts = counts, texts

        def transform(batch: Batch) -> Batch:
            idx = batch["doc"]
            x = torch.from_numpy(self.counts[idx.cpu().numpy()].toarray()).to(idx.device)
            return {**batch, "x": x}

        super().__init__({"doc": torch.arange(counts.shape[0]), "y": y}, info, transform)


def load_documents(cfg: DataConfig, split: str) -> TensorDataset:
    """Split ``split`` of the document collection at ``cfg.name`` (see the module docstring)."""
    path = Path(cfg.name).expanduser()
    if cfg.vocab_size < 2:
        raise ConfigError(f"data.vocab_size must be >= 2 words for documents, got {cfg.vocab_size}")
    texts, y, classes, vocab, counts, idx, skipped = _collection(
        _signature(path), str(path), cfg.documents, cfg.val_fraction, cfg.vocab_size)
    rows = idx[split]
    if split == "train" and cfg.limit:
        rows = rows[: cfg.limit]
    if skipped and split == "train":
        warnings.warn(f"{path}: skipped {skipped} empty document(s) (nothing between two % lines)", stacklevel=2)
    sub = counts[rows]
    lengths = np.asarray(sub.sum(1)).ravel()
    meta = {"vocab": vocab, "documents": cfg.documents, "mean_length": float(lengths.mean()) if len(lengths) else 0.0,
            "skipped_empty": skipped}
    info = DataInfo("documents", (len(vocab),), name=path.name, num_classes=len(classes), class_names=classes, meta=meta)
    return DocumentDataset(sub, [texts[i] for i in rows], torch.from_numpy(y[rows]), info)


# ----------------------------------------------------------------------------- writing samples


def write_documents(samples: list[str], path: Path, info: DataInfo, labels=None) -> None:
    """Generated documents: ``.txt`` in the fortune format (``%`` lines between documents), ``-`` for the
    terminal, or ``.npz`` (array ``documents`` of strings)."""
    if isinstance(samples, str):
        samples = [samples]
    body = "%\n".join(s.rstrip("\n") + "\n" for s in samples)
    if str(path) == "-":
        sys.stdout.write(body)
        sys.stdout.flush()
    elif path.suffix in (".txt", ".md", ""):
        path.write_text(body, encoding="utf-8")
    elif path.suffix == ".npz":
        np.savez_compressed(path, documents=np.array(samples, dtype=str))
    else:
        raise ConfigError(f"documents are written as .txt (% between documents), .npz or - (terminal), not {path.suffix}")
