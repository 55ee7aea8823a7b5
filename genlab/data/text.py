"""Text datasets: any UTF-8 file or folder of files, as character or byte-level BPE tokens.

The text is encoded once into one long stream of token ids per split. A dataset holds the start of every
``block_size``-token window (``{"start": int64}``); its transform gathers ``x = tokens[s : s + block_size + 1]``
for a whole batch at once (inputs ``x[:, :-1]``, targets ``x[:, 1:]``). Training windows are shifted by a
fresh random offset each batch, so every position is a window start over time; validation windows tile the
held-out text once.

``data.documents``: ``stream`` (one long text; the last ``val_fraction`` of it is held out), ``lines`` (one
document per line) or ``files`` (one per file; random documents are held out). The tokenizer is stored in
``DataInfo.meta`` so a model rebuilds without the data.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import ConfigError, DataError
from .base import Batch, DataInfo, TensorDataset
from .images import holdout_indices


def _byte_alphabet() -> list[str]:
    """The printable stand-in character byte-level BPE uses for each byte 0..255 (the GPT-2 convention)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in keep else chr(next(extra)) for b in range(256)]


class TextTokenizer:
    """Characters (``kind="char"``) or byte-level BPE (``kind="bpe"``, from the ``tokenizers`` library).

    Every token maps to its UTF-8 bytes (``token_bytes``), so any token sequence decodes, and streamed
    output can be decoded incrementally even when a BPE token ends inside a multi-byte character.
    """

    def __init__(self, kind: str, vocab: str = "", bpe: str = ""):
        self.kind = kind
        if kind == "char":
            self.chars = vocab
            self._codes = np.array([ord(c) for c in vocab], dtype=np.uint32)  # sorted
            self.token_bytes = [c.encode("utf-8") for c in vocab]
            self._bpe = None
        else:
            from tokenizers import Tokenizer

            self._bpe = Tokenizer.from_str(bpe)
            to_byte = {c: b for b, c in enumerate(_byte_alphabet())}
            inv = sorted(self._bpe.get_vocab().items(), key=lambda kv: kv[1])
            self.token_bytes = [bytes(to_byte[c] for c in tok) for tok, _ in inv]
        self.vocab_size = len(self.token_bytes)

    # ------------------------------------------------------------------ building and storing
    @classmethod
    def fit(cls, kind: str, full_text: str, train_text: str, vocab_size: int) -> "TextTokenizer":
        """A char vocabulary from all the text (no unknown characters in validation), BPE merges from
        the training text only."""
        if kind == "char":
            return cls("char", vocab="".join(sorted(set(full_text))))
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        if vocab_size < 257:
            raise ConfigError(f"data.vocab_size must be > 256 for byte-level BPE (256 byte tokens + merges), got {vocab_size}")
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        tok.train_from_iterator(train_text.splitlines(keepends=True), trainer=trainer)
        return cls("bpe", bpe=tok.to_str())

    def to_meta(self) -> dict:
        return {"tokenizer": "char", "vocab": self.chars} if self.kind == "char" else {"tokenizer": "bpe", "bpe": self._bpe.to_str()}

    @classmethod
    def from_meta(cls, meta: dict) -> "TextTokenizer":
        if meta.get("tokenizer") == "char":
            return cls("char", vocab=meta["vocab"])
        if meta.get("tokenizer") == "bpe":
            return cls("bpe", bpe=meta["bpe"])
        raise ConfigError("this model's data info holds no text tokenizer; was it trained on text data?")

    # ------------------------------------------------------------------ use
    def unknown(self, text: str) -> list[str]:
        """Characters of ``text`` that the vocabulary cannot encode (byte-level BPE encodes everything)."""
        if self.kind != "char":
            return []
        return sorted(set(text) - set(self.chars))

    def encode(self, text: str) -> np.ndarray:
        """Token ids (int64). Raises ConfigError naming any characters that are not in the vocabulary."""
        if self.kind == "char":
            codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
            idx = np.searchsorted(self._codes, codes).clip(max=max(len(self._codes) - 1, 0))
            if len(codes) and not np.array_equal(self._codes[idx], codes):
                bad = "".join(self.unknown(text))
                raise ConfigError(f"characters not in the vocabulary: {bad!r}")
            return idx.astype(np.int64)
        enc = self._bpe.encode_batch(text.splitlines(keepends=True))
        return np.fromiter((i for e in enc for i in e.ids), dtype=np.int64)

    def decode(self, ids) -> str:
        return b"".join(self.token_bytes[int(i)] for i in ids).decode("utf-8", errors="replace")

    def chars_per_token(self) -> torch.Tensor:
        """Characters each token ends (UTF-8 lead bytes it holds): summed over tokens, the number of characters."""
        return torch.tensor([sum((b & 0xC0) != 0x80 for b in t) for t in self.token_bytes], dtype=torch.float32)


# ----------------------------------------------------------------------------- reading


def text_files(path: Path, empty_hint: str = "give a UTF-8 text file or a folder of them",
               missing: str = "text data {path!r} not found: give a UTF-8 text file or a folder of text files") -> list[Path]:
    """``path`` itself, or every file below the folder ``path`` (hidden ones left out), sorted; a DataError with
    ``empty_hint`` / ``missing`` (``{path}`` filled in) when there is nothing to read."""
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts))
        if not files:
            raise DataError(f"{path} holds no files; {empty_hint}")
        return files
    raise DataError(missing.format(path=str(path)))


def read_text_file(p: Path) -> str:
    raw = p.read_bytes()
    if b"\x00" in raw:
        raise DataError(f"{p} is a binary file (it holds NUL bytes), not text; give UTF-8 text files only")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{p} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                        "convert it to UTF-8 (e.g. iconv -t UTF-8) or remove it") from None


def _join(docs: list[str]) -> str:
    return "".join(d if d.endswith("\n") else d + "\n" for d in docs)


def _split_texts(texts: list[str], documents: str, val_fraction: float) -> dict[str, str]:
    """The training and validation text for ``data.documents``."""
    if documents == "stream":
        full = _join(texts) if len(texts) > 1 else texts[0]
        cut = len(full) - max(1, round(len(full) * val_fraction))
        return {"train": full[:cut], "test": full[cut:]}
    docs = [line for t in texts for line in t.splitlines() if line.strip()] if documents == "lines" else \
        [t for t in texts if t.strip()]
    if len(docs) < 2:
        raise DataError(f"data.documents={documents} needs at least 2 non-empty documents to hold some out for "
                        f"validation, found {len(docs)}; use data.documents=stream for one long text")
    return {s: _join([docs[i] for i in holdout_indices(len(docs), val_fraction, s)]) for s in ("train", "test")}


def _signature(files: list[Path]) -> tuple:
    return tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files)


@functools.lru_cache(maxsize=4)
def _encoded(signature: tuple, documents: str, val_fraction: float, kind: str, vocab_size: int):
    """Tokenizer and token streams of both splits; cached so that loading train and test reads once."""
    texts = [read_text_file(Path(p)) for p, _, _ in signature]
    if not any(t.strip() for t in texts):
        names = signature[0][0] if len(signature) == 1 else f"all {len(signature)} files"
        raise DataError(f"{names} holds no text (empty or whitespace only)")
    split = _split_texts(texts, documents, val_fraction)
    tok = TextTokenizer.fit(kind, split["train"] + split["test"], split["train"], vocab_size)
    streams = {s: torch.from_numpy(tok.encode(t)) for s, t in split.items()}
    return tok, streams


# ----------------------------------------------------------------------------- dataset


LARGE_VOCAB = 2048  # above this many tokens a run's data info keeps the training counts of each token


def window_transform(stream: torch.Tensor, block_size: int, shift: bool):
    """Batch ``{"start": (B,)}`` -> ``{"x": (B, block_size + 1)}`` gathered from ``stream`` in one indexing op;
    ``shift`` adds a random offset in ``[0, block_size)`` (global RNG of the batch's device)."""
    on_device: dict[str, torch.Tensor] = {}
    last = len(stream) - block_size - 1

    def transform(batch: Batch) -> Batch:
        s = batch["start"]
        key = str(s.device)
        if key not in on_device:
            on_device[key] = stream.to(s.device)
        if shift:
            s = (s + torch.randint(0, block_size, s.shape, device=s.device)).clamp_(max=last)
        idx = s[:, None] + torch.arange(block_size + 1, device=s.device)
        return {"x": on_device[key][idx]}

    return transform


def load_text(cfg: DataConfig, split: str) -> TensorDataset:
    """Split ``split`` of the text at ``cfg.name`` as windows of ``cfg.block_size`` tokens."""
    files = text_files(Path(cfg.name).expanduser())
    tok, streams = _encoded(_signature(files), cfg.documents, cfg.val_fraction, cfg.tokenizer, cfg.vocab_size)
    stream, t = streams[split], cfg.block_size
    if split == "train" and cfg.limit:
        stream = stream[: cfg.limit * t + 1]
    if len(stream) < t + 1:
        which = "training" if split == "train" else "validation"
        raise DataError(f"the {which} text of {cfg.name} has {len(stream)} tokens, fewer than data.block_size + 1 = "
                        f"{t + 1}; lower data.block_size (e.g. --set data.block_size=64) or give more text")
    starts = torch.arange(0, len(stream) - t, t, dtype=torch.int64)
    newline = tok.encode("\n") if not tok.unknown("\n") else np.array([0])
    meta = {**tok.to_meta(), "vocab_size": tok.vocab_size, "block_size": t, "documents": cfg.documents,
            "bos": int(newline[0]) if len(newline) == 1 else 0}
    if tok.vocab_size > LARGE_VOCAB:  # training counts: the language models' adaptive softmax sorts tokens by them
        meta["token_counts"] = torch.bincount(streams["train"], minlength=tok.vocab_size).tolist()
    info = DataInfo("text", (t,), name=Path(cfg.name).name, meta=meta)
    return TensorDataset({"start": starts}, info, transform=window_transform(stream, t, shift=split == "train"))


# ----------------------------------------------------------------------------- writing samples


def write_text(samples: list[str], path: Path, info: DataInfo, labels=None) -> None:
    """Text samples to a ``.txt`` file (or stdout for ``-``), separated by ``----- sample i -----`` lines."""
    if isinstance(samples, str):
        samples = [samples]
    body = samples[0] if len(samples) == 1 else "".join(f"----- sample {i} -----\n{s}\n" for i, s in enumerate(samples))
    if str(path) == "-":
        sys.stdout.write(body if body.endswith("\n") else body + "\n")
        sys.stdout.flush()
    elif path.suffix in (".txt", ".md", ""):
        path.write_text(body, encoding="utf-8")
    else:
        raise ConfigError(f"text samples are written as .txt (or - for the terminal), not {path.suffix}")
