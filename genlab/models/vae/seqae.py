"""Sequence autoencoder (Dai & Le 2015; the deterministic half of Bowman et al. 2016): a recurrent
encoder maps a variable-length character sequence (a word or a line) to a fixed ``latent_dim`` vector and a
recurrent decoder spells it back. Trained by teacher forcing to maximise log p(sequence | z).

Data: modality ``words`` (see ``genlab/data/words.py``), e.g. ``--data words:tinyshakespeare.txt``.
Nearby vectors belong to similarly spelled items, which ``nearest(words)`` shows. Like the AE, samples
come from a Gaussian with the running moments of the training codes, or a fitted mixture.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...data.base import Batch, DataInfo
from ...data.words import EOS, PAD, cut_at_end, to_ids, to_text
from ...errors import ConfigError
from .sequence import SeqDecoder, SeqEncoder
from ...registry import register_model
from ..base import SampleOption
from .latent import LatentConfig, LatentModel, RunningGaussian


@dataclass
class SeqAEConfig(LatentConfig):
    latent_dim: int = 32
    embed_dim: int = 32
    hidden: int = 256  # GRU state size
    layers: int = 1

    def validate(self) -> None:
        super().validate()
        if min(self.embed_dim, self.hidden, self.layers) < 1:
            raise ConfigError("model.embed_dim, model.hidden and model.layers must be >= 1")


@register_model
class SeqAE(LatentModel):
    name = "seq-ae"
    description = "Sequence autoencoder: GRU encoder-decoder from a word or line to a fixed vector and back"
    Config = SeqAEConfig
    modalities = ("words",)
    sample_options = LatentModel.sample_options + (
        SampleOption("temperature", float, help="word sampling temperature (0: greedy decoding)", min=0),)

    def __init__(self, config: SeqAEConfig, info: DataInfo):
        super().__init__(config, info)
        v = len(info.meta["vocab"]) + 2
        self.encoder = SeqEncoder(v, config.embed_dim, config.hidden, config.latent_dim, config.layers)
        self.decoder = SeqDecoder(v, config.embed_dim, config.hidden, config.latent_dim, config.layers)
        self.code_stats = RunningGaussian(config.latent_dim)

    def _nll(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """-log p(x | z) per sequence in nats (teacher forcing; padding ignored)."""
        inputs = torch.cat([torch.full_like(x[:, :1], EOS), x[:, :-1]], dim=1)
        logits = self.decoder(z, inputs)
        return F.cross_entropy(logits.transpose(1, 2), x, ignore_index=PAD, reduction="none").sum(1)

    def training_step(self, batch: Batch, step: int) -> dict:
        x = batch["x"]
        z = self.encoder(x)
        loss = self._nll(x, z).mean()
        self.optimize(loss)
        self.code_stats.update(z)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def validation_step(self, batch: Batch) -> dict:
        x = batch["x"]
        spelled = cut_at_end(self.decoder.generate(self.encode(x), x.shape[1], EOS))
        return {"rec_nll": float(self.anomaly_score(batch).mean()), "exact": float((spelled == x).all(1).float().mean())}

    @torch.no_grad()
    def anomaly_score(self, batch: Batch, num_samples: int = 1) -> torch.Tensor:
        return self._nll(batch["x"], self.encode(batch["x"]))

    @torch.no_grad()
    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder(x)

    def encode_items(self, items: list[str]) -> torch.Tensor:
        """Codes of strings (characters outside the training vocabulary are an error)."""
        return self.encode(to_ids(items, self.info.meta["vocab"], self.info.shape[0]).to(self.device))

    @torch.no_grad()
    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None, temperature: float | None = None,
               generator: torch.Generator | None = None) -> list[str]:
        ids = self.decoder.generate(z, self.info.shape[0], EOS, temperature or 0.0, generator)
        return to_text(ids, self.info.meta["vocab"])

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, sampler: str | None = None, temperature: float | None = None,
               **options):
        self.check_sample_args(n, labels, {"sampler": sampler, "temperature": temperature, **options})
        if temperature is not None and temperature < 0:
            raise ConfigError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
        return self.decode(self.latent_z(n, generator, sampler), temperature=temperature, generator=generator)

    def prior_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.code_stats.sample(n, generator)

    @torch.no_grad()
    def nearest(self, queries: list[str], items: list[str], k: int = 5, codes: torch.Tensor | None = None) -> dict:
        """The ``k`` items nearest (Euclidean, in code space) to each query, excluding the query itself."""
        codes = self.encode_items(items) if codes is None else codes
        d = torch.cdist(self.encode_items(queries), codes)
        d[torch.tensor([[q == s for s in items] for q in queries], device=d.device)] = float("inf")
        top = d.topk(min(k, len(items)), largest=False).indices.tolist()
        return {q: [items[i] for i in row] for q, row in zip(queries, top)}
