"""Latent Dirichlet allocation (Blei, Ng & Jordan 2003) for document collections (the ``documents`` modality).

Fitted by scikit-learn's ``LatentDirichletAllocation`` (variational Bayes, batch or online); the fitted
topic-word parameters ``λ`` (K x V) are kept as a buffer, and everything after fitting is done here in PyTorch:

* generation follows the LDA story: a topic mixture ``θ ~ Dirichlet(α)``, a length ``N ~ Poisson(ξ)`` (``ξ``
  the mean training length in vocabulary words; the sample option ``length`` fixes it), then for every word a
  topic ``z ~ θ`` and a word ``w ~ β_z`` with ``β`` the posterior-mean topics ``λ / Σ λ``. Documents are bags of
  words, so a generated document is a list of vocabulary words;
* ``log_likelihood`` is the per-document variational lower bound (the document part of the bound scikit-learn
  uses for its perplexity: ``E_q[log p(w, θ, z | β)] - E_q[log q(θ, z)]`` with ``E[log β]`` under ``q(β)``),
  from a vectorised E-step over the batch; held-out perplexity is ``exp(-Σ bound / Σ words)``;
* ``top_words``, ``topic_mixture(texts)``, and a picture of topics against the documents' source files.

The evaluator for the documents modality (``genlab evaluate``) reports held-out perplexity, top words, the
agreement of each document's main topic with its source file (normalised mutual information and a
confusion picture, ``topics_vs_files.png`` in the run folder) and a few generated documents.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...config import ModelConfig
from ...data.base import Batch, DataInfo, TensorDataset
from ...errors import ConfigError, DataError
from ...registry import register_model
from ..base import GenerativeModel, SampleOption


@dataclass
class LDAConfig(ModelConfig):
    topics: int = 20
    doc_topic_prior: float | None = None  # alpha; None: 1 / topics
    topic_word_prior: float | None = None  # eta; None: 1 / topics
    learning_method: str = "batch"  # batch | online (scikit-learn)
    max_iter: int = 20  # passes over the documents
    e_step_iter: int = 100  # per-document variational updates when scoring
    max_length: int = 10_000  # longest generated document (words)

    def validate(self) -> None:
        if self.topics < 1:
            raise ConfigError(f"model.topics must be >= 1, got {self.topics}")
        for key in ("doc_topic_prior", "topic_word_prior"):
            v = getattr(self, key)
            if v is not None and not v > 0:
                raise ConfigError(f"model.{key} must be > 0, got {v}")
        if self.learning_method not in ("batch", "online"):
            raise ConfigError(f"model.learning_method must be batch or online, got {self.learning_method!r}")
        if self.max_iter < 1 or self.e_step_iter < 1 or self.max_length < 1:
            raise ConfigError("model.max_iter, model.e_step_iter and model.max_length must be >= 1")


@register_model
class LDA(GenerativeModel):
    name = "lda"
    family = "classical"
    description = "Latent Dirichlet allocation topic model for documents (scikit-learn VB); generation, top words, perplexity"
    Config = LDAConfig
    modalities = ("documents",)
    iterative = False
    sample_options = (SampleOption("length", int, None, "words per document (default: Poisson around the mean "
                                                      "training length)", min=1),)
    likelihood_estimator = "variational bound (per-document ELBO)"
    density = "approximate"

    def __init__(self, config: LDAConfig, info: DataInfo):
        super().__init__(config, info)
        self.vocab: list[str] = list(info.meta.get("vocab") or [])
        if len(self.vocab) != info.shape[0]:
            raise ConfigError("this model's data info holds no vocabulary; was it trained on documents?")
        k, v = config.topics, len(self.vocab)
        self.alpha = config.doc_topic_prior or 1.0 / k
        self.eta = config.topic_word_prior or 1.0 / k
        self.register_buffer("topic_word", torch.ones(k, v))  # variational Dirichlet parameters lambda
        self.register_buffer("mean_length", torch.tensor(float(info.meta.get("mean_length") or 1.0)))

    # ------------------------------------------------------------------ fitting
    def fit(self, data: TensorDataset) -> dict[str, float]:
        from sklearn.decomposition import LatentDirichletAllocation

        counts = getattr(data, "counts", None)
        if counts is None:
            raise DataError("lda needs a document collection (the documents loader); got another kind of data")
        if counts.shape[0] < self.config.topics:
            raise DataError(f"{counts.shape[0]} training documents for {self.config.topics} topics; lower model.topics")
        if counts.sum() == 0:
            raise DataError("the training documents hold no words of the vocabulary")
        seed = int(torch.randint(0, 2**31 - 1, ()))  # from the run's seed
        lda = LatentDirichletAllocation(n_components=self.config.topics, doc_topic_prior=self.alpha,
                                        topic_word_prior=self.eta, learning_method=self.config.learning_method,
                                        max_iter=self.config.max_iter, random_state=seed)
        lda.fit(counts)
        self.topic_word.copy_(torch.from_numpy(lda.components_).float())
        lengths = np.asarray(counts.sum(1)).ravel()
        self.mean_length.fill_(float(lengths.mean()))
        return {"iterations": int(lda.n_iter_), "train_perplexity_sklearn": float(lda.perplexity(counts))}

    # ------------------------------------------------------------------ topics
    @property
    def topics(self) -> torch.Tensor:
        """Posterior-mean topics ``β`` (K, V), rows summing to 1."""
        return self.topic_word / self.topic_word.sum(1, keepdim=True)

    def top_words(self, n: int = 10) -> list[list[str]]:
        idx = self.topics.topk(min(n, len(self.vocab)), dim=1).indices.tolist()
        return [[self.vocab[i] for i in row] for row in idx]

    @torch.no_grad()
    def _e_step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Variational E-step for counts ``x`` (B, V): Dirichlet parameters ``γ`` (B, K) and the per-document
        bound (B,), float64."""
        from torch.special import digamma

        x = x.double()
        lam = self.topic_word.double()
        exp_elog_beta = (digamma(lam) - digamma(lam.sum(1, keepdim=True))).exp()  # (K, V)
        gamma = torch.ones(len(x), lam.shape[0], dtype=torch.float64, device=x.device)
        for _ in range(self.config.e_step_iter):
            exp_elog_theta = (digamma(gamma) - digamma(gamma.sum(1, keepdim=True))).exp()
            phinorm = exp_elog_theta @ exp_elog_beta + 1e-100
            new = self.alpha + exp_elog_theta * ((x / phinorm) @ exp_elog_beta.t())
            done = (new - gamma).abs().mean(1).max() < 1e-3
            gamma = new
            if done:
                break
        elog_theta = digamma(gamma) - digamma(gamma.sum(1, keepdim=True))
        words = (x * (elog_theta.exp() @ exp_elog_beta + 1e-100).log()).sum(1)
        k, a = gamma.shape[1], self.alpha
        prior = ((a - gamma) * elog_theta).sum(1) + (torch.lgamma(gamma) - math.lgamma(a)).sum(1) \
            + math.lgamma(k * a) - torch.lgamma(gamma.sum(1))
        return gamma, words + prior

    def _counts(self, texts: list[str]) -> torch.Tensor:
        from ...data.documents import count_words

        if isinstance(texts, str):
            texts = [texts]
        x = torch.from_numpy(count_words(list(texts), self.vocab).toarray()).to(self.device)
        empty = (x.sum(1) == 0).nonzero().flatten().tolist()
        if empty:
            raise DataError(f"document {empty[0]} is empty (no words of the model's vocabulary); give documents with text")
        return x

    @torch.no_grad()
    def topic_mixture(self, texts: list[str] | str) -> torch.Tensor:
        """Posterior-mean topic mixture (N, K) of each text."""
        gamma, _ = self._e_step(self._counts(texts))
        return (gamma / gamma.sum(1, keepdim=True)).float()

    # ------------------------------------------------------------------ likelihood
    @torch.no_grad()
    def log_likelihood(self, batch: Batch) -> torch.Tensor:
        """Per-document variational lower bound on ``log p(words)`` (nats); 0 for a document without any
        vocabulary word."""
        x = batch["x"]
        if x.dim() != 2 or x.shape[1] != len(self.vocab):
            raise DataError(f"expected word counts (B, {len(self.vocab)}), got shape {tuple(x.shape)}")
        return self._e_step(x)[1].float()

    @torch.no_grad()
    def perplexity(self, data: TensorDataset, batch_size: int = 512) -> dict:
        """Held-out perplexity per word, ``exp(-Σ bound / Σ words)``, over every document of ``data``."""
        bound = words = 0.0
        for batch in data.batches(batch_size, shuffle=False, drop_last=False, device=self.device):
            bound += float(self.log_likelihood(batch).double().sum())
            words += float(batch["x"].sum())
        if words == 0:
            raise DataError("the held-out documents hold no words of the vocabulary")
        return {"perplexity": math.exp(-bound / words), "nats_per_word": -bound / words, "words": int(words),
                "documents": len(data)}

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, **options) -> list[str]:
        """``n`` documents by the LDA generative story (words separated by spaces)."""
        self.check_sample_args(n, labels, options)
        length = options.get("length")
        if length is not None and (not isinstance(length, int) or not 1 <= length <= self.config.max_length):
            raise ConfigError(f"--length must be a number of words in 1..{self.config.max_length}, got {length!r}")
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device if generator else "cpu"))
        rng = np.random.default_rng(seed)
        k = self.config.topics
        theta = rng.dirichlet(np.full(k, self.alpha), size=n)  # (n, K)
        lengths = np.full(n, length) if length else rng.poisson(float(self.mean_length), n).clip(1, self.config.max_length)
        doc = np.repeat(np.arange(n), lengths)
        z = (rng.random(len(doc))[:, None] > theta.cumsum(1)[doc]).sum(1).clip(max=k - 1)
        cum = self.topics.double().cumsum(1).cpu().numpy()
        words = np.empty(len(doc), dtype=np.int64)
        u = rng.random(len(doc))
        for t in np.unique(z):
            at = z == t
            words[at] = np.searchsorted(cum[t], u[at] * cum[t, -1], side="right").clip(max=len(self.vocab) - 1)
        out = [[] for _ in range(n)]
        for d, w in zip(doc.tolist(), words.tolist()):
            out[d].append(self.vocab[w])
        return [" ".join(ws) for ws in out]

    # ------------------------------------------------------------------ topics vs labels
    @torch.no_grad()
    def main_topics(self, data: TensorDataset, batch_size: int = 512) -> torch.Tensor:
        """The most probable topic of every document of ``data`` (N,)."""
        out = [self._e_step(b["x"])[0].argmax(1).cpu()
               for b in data.batches(batch_size, shuffle=False, drop_last=False, device=self.device)]
        return torch.cat(out)
