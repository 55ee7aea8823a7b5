"""What every token-level language model shares: next-token cross-entropy, bits per character, and
sampling with a prompt, temperature, top-k and top-p (nucleus) filtering, streamed or in a batch.

A subclass supplies ``features(idx)`` (B, T) -> (B, T, D) hidden states and ``logits(idx)`` (B, T) -> (B, T, V)
(its ``head`` applied to them) for training and scoring, and ``init_state(batch)`` plus ``step(idx, state) ->
(logits of the last position (B, V), state)`` for incremental decoding (an RNN's hidden state, a Transformer's
key/value cache).

Large vocabularies: the logits of one step take batch × block × vocabulary floats (several times over for the
softmax and its gradient), so a char model on a 7,807-character corpus needed ~4 GB and ~10 CPU-s per step.
``adaptive_head`` gives models with ``model.softmax=auto`` (the default) an adaptive softmax (Grave et al. 2017;
``torch.nn.AdaptiveLogSoftmaxWithLoss``) above ``ADAPTIVE_VOCAB`` tokens: frequent tokens in a small head, rare
ones in smaller clusters, with exact, normalised log-probabilities (a different model, not an approximation).
``check_step_memory`` prints one warning line with the estimate before training and refuses a configuration
whose estimate exceeds the memory available.
"""
from __future__ import annotations

import codecs
import dataclasses
import math
import sys
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ...data.base import Batch, DataInfo, TensorDataset
from ...data.text import LARGE_VOCAB, TextTokenizer
from ...errors import ConfigError
from ..base import GenerativeModel, SampleOption

DEFAULT_LENGTH = 200
SOFTMAX = ("auto", "full", "adaptive")
ADAPTIVE_VOCAB = 4096  # model.softmax=auto: an adaptive softmax above this many tokens (BPE's default 2,000: full)
LOGITS_BOUND = 256 * 2**20  # warn when one step's output-layer activations are estimated above this
MIN_AUTO_BATCH = 16  # the smallest batch the large-vocabulary scaling picks
CUTOFFS = (256, 2048, 16384)  # adaptive softmax: head of the 256 most frequent tokens, then clusters


def check_softmax(value: str) -> None:
    if value not in SOFTMAX:
        raise ConfigError(f"model.softmax must be auto, full or adaptive, got {value!r}")


class AdaptiveHead(nn.Module):
    """Adaptive softmax over the tokens sorted by training frequency (``counts``; code order without them):
    ``forward(h)`` gives exact log-probabilities (..., V) in token order, ``nll(h, target)`` only the targets'
    (cheap: a rare token's cluster is computed only for the positions whose target lies in it)."""

    def __init__(self, d: int, vocab: int, counts: list[int] | None = None):
        super().__init__()
        if vocab < 4:
            raise ConfigError(f"model.softmax=adaptive needs a vocabulary of at least 4 tokens, this one has {vocab}")
        order = torch.tensor(counts).argsort(descending=True, stable=True) if counts else torch.arange(vocab)
        rank = torch.empty(vocab, dtype=torch.long)
        rank[order] = torch.arange(vocab)
        self.register_buffer("rank", rank, persistent=False)  # token id -> frequency rank (from the data info)
        self.cutoffs = [c for c in CUTOFFS if c < vocab - 1] or [vocab // 2]
        self.asm = nn.AdaptiveLogSoftmaxWithLoss(d, vocab, self.cutoffs, div_value=4.0)

    def nll(self, h: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.autocast(h.device.type, enabled=False):  # log-likelihoods in fp32
            out = self.asm(h.reshape(-1, h.shape[-1]).float(), self.rank[target.reshape(-1)]).output
        return -out.view(target.shape)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        with torch.autocast(h.device.type, enabled=False):
            lp = self.asm.log_prob(h.reshape(-1, h.shape[-1]).float())
        return lp[:, self.rank].view(*h.shape[:-1], -1)


def adaptive_head(d: int, vocab: int, info: DataInfo, softmax: str) -> AdaptiveHead | None:
    """An :class:`AdaptiveHead` for ``softmax=adaptive``, and for ``auto`` above ``ADAPTIVE_VOCAB`` tokens; None:
    the model's own linear output layer (tied to its embedding where the model does that)."""
    if softmax == "adaptive" or (softmax == "auto" and vocab > ADAPTIVE_VOCAB):
        return AdaptiveHead(d, vocab, info.meta.get("token_counts"))
    return None


def step_memory(model: "LanguageModel", batch: int) -> dict:
    """Estimated bytes of one training step: the output layer's activations (logits, softmax and their
    gradients: 3 float32 copies of batch × block × outputs, where an adaptive softmax counts its head plus each
    cluster weighted by its share of the training tokens) and the parameters with their gradients and Adam's two
    moments (4 copies)."""
    rows = batch * model.block_size
    head = model.head
    if isinstance(head, AdaptiveHead):
        counts = torch.tensor(model.info.meta.get("token_counts") or [1] * model.vocab_size, dtype=torch.float64)
        share = counts.sort(descending=True).values / counts.sum().clamp_min(1)
        edges = [0, *head.cutoffs, model.vocab_size]
        tails = zip(edges[1:], edges[2:])
        outputs = edges[1] + len(head.cutoffs) + sum(float(share[a:b].sum()) * (b - a) for a, b in tails)
    else:
        outputs = model.vocab_size
    logits = int(rows * outputs * 4 * 3)
    params = sum(p.numel() for p in model.parameters()) * 4 * 4
    return {"logits": logits, "params": params, "total": logits + params}


def check_step_memory(model: "LanguageModel", batch: int, echo=None) -> dict:
    """One warning line (stderr) with the step's memory estimate when the vocabulary is large or the estimate
    exceeds ``LOGITS_BOUND``; ConfigError when it exceeds the memory available."""
    from ...resources import available_memory

    est = step_memory(model, batch)
    mb = lambda b: f"{b / 2**20:,.0f} MB"  # noqa: E731
    kind = (f"adaptive softmax (cutoffs {', '.join(map(str, model.head.cutoffs))})"
            if isinstance(model.head, AdaptiveHead) else "full softmax")
    what = (f"{model.name}: vocabulary of {model.vocab_size:,} tokens, {kind}, batch {batch} × block "
            f"{model.block_size}: one step needs ~{mb(est['total'])} (output layer {mb(est['logits'])}, parameters "
            f"and optimiser state {mb(est['params'])})")
    avail = available_memory()
    if est["total"] > avail:
        raise ConfigError(f"{what}, more than the {mb(avail)} available; lower train.batch_size or data.block_size"
                          + ("" if isinstance(model.head, AdaptiveHead) else ", or use model.softmax=adaptive"))
    if model.vocab_size > LARGE_VOCAB or est["logits"] > LOGITS_BOUND:
        (echo or (lambda m: print(m, file=sys.stderr, flush=True)))(f"warning: {what}")
    return est


def token_codec(info: DataInfo):
    """The tokenizer stored in a text or music run's data info."""
    if info.modality == "music":
        from ...data.music import MusicTokenizer

        return MusicTokenizer.from_meta(info.meta)
    return TextTokenizer.from_meta(info.meta)


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """Next-token logits (B, V) scaled by ``1 / temperature``, keeping the ``top_k`` most likely tokens and
    the smallest set whose probability reaches ``top_p``; the rest become ``-inf``."""
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs >= top_p  # mass before this token already reaches top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    return logits


def check_text_options(length=None, temperature=None, top_k=None, top_p=None) -> dict:
    """Sampling options with their defaults, or ConfigError naming the bad one."""
    length = DEFAULT_LENGTH if length is None else length
    temperature = 1.0 if temperature is None else temperature
    if not isinstance(length, int) or length < 1:
        raise ConfigError(f"--length must be a positive number of tokens, got {length!r}")
    if not temperature > 0:
        raise ConfigError(f"--temperature must be > 0, got {temperature}; use e.g. 0.1 for nearly greedy text")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"--top-k must be >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ConfigError(f"--top-p must be in (0, 1], got {top_p}")
    return {"length": length, "temperature": float(temperature), "top_k": top_k, "top_p": top_p}


class LanguageModel(GenerativeModel):
    """Base class of the text models (not registered itself)."""

    family = "autoregressive"
    modalities = ("text", "music")
    sample_options = (
        SampleOption("prompt", str, help="the text to continue"),
        SampleOption("length", int, DEFAULT_LENGTH, "tokens to generate", min=1),
        SampleOption("temperature", float, 1.0, "softmax temperature (lower: more conservative text)", min=0,
                     min_exclusive=True),
        SampleOption("top_k", int, help="sample among the k most likely tokens only", min=1),
        SampleOption("top_p", float, help="nucleus sampling: the smallest set of tokens with this probability",
                     min=0, max=1, min_exclusive=True),
        SampleOption("drop_unknown", bool, help="drop prompt characters that are not in the vocabulary"),
    )
    likelihood_estimator = "exact"

    def __init__(self, config, info: DataInfo):
        super().__init__(config, info)
        self.tokenizer = token_codec(info)
        self.vocab_size = self.tokenizer.vocab_size
        self.block_size = int(info.meta["block_size"])
        self.register_buffer("chars_per_token", self.tokenizer.chars_per_token(), persistent=False)

    # ------------------------------------------------------------------ subclass interface
    def features(self, idx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(idx))

    def init_state(self, batch: int):
        return None

    def step(self, idx: torch.Tensor, state):
        raise NotImplementedError

    # ------------------------------------------------------------------ training and scoring
    def _token_nll(self, x: torch.Tensor) -> torch.Tensor:
        """Per-token negative log-likelihood (B, T) in nats of windows ``x`` (B, T + 1)."""
        if isinstance(getattr(self, "head", None), AdaptiveHead):
            return self.head.nll(self.features(x[:, :-1]), x[:, 1:])
        logits = self.logits(x[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:].flatten(), reduction="none").view(len(x), -1)

    def scaled_train_config(self, train, given):
        """A batch small enough that one step's output layer stays under ``LOGITS_BOUND`` (halved from the
        default down to ``MIN_AUTO_BATCH``), unless the batch size was given."""
        if not hasattr(self, "head") or "batch_size" in given:
            return train, None
        batch = train.batch_size
        while batch > MIN_AUTO_BATCH and step_memory(self, batch)["logits"] > LOGITS_BOUND:
            batch = max(MIN_AUTO_BATCH, batch // 2)
        if batch == train.batch_size:
            return train, None
        mb = step_memory(self, batch)["logits"] / 2**20
        return dataclasses.replace(train, batch_size=batch), (
            f"{self.name}: vocabulary of {self.vocab_size:,} tokens: train.batch_size {train.batch_size} -> {batch}, so "
            f"that one step's output layer takes ~{mb:,.0f} MB (bound {LOGITS_BOUND // 2**20} MB); --batch-size sets it")

    def configure_optimizers(self, train):
        if hasattr(self, "head"):
            check_step_memory(self, train.batch_size)
        return super().configure_optimizers(train)

    def training_step(self, batch: Batch, step: int) -> dict:
        loss = self._token_nll(batch["x"]).mean()
        self.optimize(loss)
        return {"loss": loss.detach(), "bits_per_token": loss.detach() / math.log(2)}

    @torch.no_grad()
    def log_likelihood(self, batch: Batch) -> torch.Tensor:
        """Log-probability (nats) of each window's tokens after its first, given the tokens before them."""
        return -self._token_nll(batch["x"]).sum(1)

    @torch.no_grad()
    def validation_step(self, batch: Batch) -> dict:
        nll = self._token_nll(batch["x"])
        chars = self.chars_per_token[batch["x"][:, 1:]].sum()
        out = {"nll": float(nll.mean()), "bits_per_char": float(nll.sum() / chars / math.log(2))}
        if self.tokenizer.kind != "char":
            out["bits_per_token"] = float(nll.mean() / math.log(2))
        return out

    # ------------------------------------------------------------------ generation
    def _prompt(self, prompt: str | None, drop_unknown: bool | None) -> tuple[str, list[int]]:
        """The prompt text used and its token ids; no prompt starts from the newline (document) token."""
        if not prompt:
            return "", [int(self.info.meta.get("bos", 0))]
        bad = self.tokenizer.unknown(prompt)
        if bad and not drop_unknown:
            raise ConfigError(f"the prompt has characters that are not in this model's vocabulary: {bad}; "
                              "remove them, or pass --drop-unknown (drop_unknown=True) to leave them out")
        if bad:
            prompt = "".join(c for c in prompt if c not in set(bad))
            if not prompt:
                return "", [int(self.info.meta.get("bos", 0))]
        return prompt, self.tokenizer.encode(prompt).tolist()

    @torch.no_grad()
    def generate(self, ids: torch.Tensor, length: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
        """Yield ``length`` next tokens (B,) continuing ``ids`` (B, P), one position at a time."""
        logits, state = self.step(ids, self.init_state(len(ids)))
        for i in range(length):
            probs = filter_logits(logits, temperature, top_k, top_p).softmax(-1)
            nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]
            yield nxt
            if i + 1 < length:
                logits, state = self.step(nxt[:, None], state)

    def _setup(self, n, labels, options) -> tuple[str, torch.Tensor, dict]:
        self.check_sample_args(n, labels, options)
        text, ids = self._prompt(options.get("prompt"), options.get("drop_unknown"))
        opts = check_text_options(options.get("length"), options.get("temperature"), options.get("top_k"), options.get("top_p"))
        return text, torch.tensor(ids, device=self.device).expand(n, -1), opts

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, **options) -> list[str]:
        """``n`` texts: the prompt followed by ``length`` generated tokens each (sampled as one batch)."""
        text, ids, opts = self._setup(n, labels, options)
        out = torch.stack(list(self.generate(ids, generator=generator, **opts)), 1).tolist()
        return [text + self.tokenizer.decode(row) for row in out]

    @torch.no_grad()
    def stream(self, n: int = 1, labels=None, generator=None, **options) -> Iterator[str]:
        """Like :meth:`sample`, but yield the text as it is produced (one sample after another)."""
        text, ids, opts = self._setup(n, labels, options)
        for i in range(n):
            if n > 1:
                yield f"----- sample {i} -----\n"
            yield text
            dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
            for tok in self.generate(ids[:1], generator=generator, **opts):
                piece = dec.decode(self.tokenizer.token_bytes[int(tok)])
                if piece:
                    yield piece
            yield dec.decode(b"", final=True) + "\n"


@torch.no_grad()
def evaluate_text(model: LanguageModel, data: TensorDataset, batch_size: int = 32, device=None) -> dict:
    """Exact held-out metrics over every window of ``data``: nats and bits per token, bits per character
    and perplexity (per token)."""
    model.eval()
    device = device or model.device
    nll = chars = tokens = 0.0
    for batch in data.batches(batch_size, shuffle=False, drop_last=False, device=device):
        x = batch["x"]
        nll += float(model._token_nll(x).sum())
        chars += float(model.chars_per_token[x[:, 1:]].sum())
        tokens += x[:, 1:].numel()
    return {"nats_per_token": nll / tokens, "bits_per_token": nll / tokens / math.log(2),
            "bits_per_char": nll / chars / math.log(2), "perplexity": math.exp(nll / tokens), "tokens": int(tokens)}
