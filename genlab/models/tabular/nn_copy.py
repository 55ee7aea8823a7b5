"""The nearest-neighbour copy baseline: new records are copies of known ones.

Without conditions it returns random training rows (perfect fidelity, no privacy: every row is an exact
copy). With ``--where`` it copies the known rows most similar to the request (those meeting the most
conditions) and sets the asked values, the way one would describe the users of a new product by those of
the most similar existing one. The weights file holds the rows it copies (up to ``max_rows``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...config import ModelConfig
from ...data.base import DataInfo, TensorDataset
from ...errors import ConfigError
from ...registry import register_model
from .conditions import Condition, matches
from .base import TabularModel
from .copula import subsample


@dataclass
class NNCopyConfig(ModelConfig):
    max_rows: int = 100_000  # training rows kept (a random subset of larger tables)

    def validate(self) -> None:
        if self.max_rows < 1:
            raise ConfigError(f"model.max_rows must be >= 1, got {self.max_rows}")


@register_model
class NNCopy(TabularModel):
    name = "nn-copy"
    description = "Baseline: copies of (the most similar) training rows; no privacy by construction"
    Config = NNCopyConfig
    iterative = False
    native_conditions = 1 << 30

    def __init__(self, config: NNCopyConfig, info: DataInfo):
        super().__init__(config, info)
        n = min(config.max_rows, max(1, self.schema.n_rows))
        self.register_buffer("rows", torch.zeros(n, len(self.schema.columns), dtype=torch.float64))
        self.register_buffer("missing", torch.zeros(n, len(self.schema.columns), dtype=torch.bool))  # NaN in codes

    def fit(self, data: TensorDataset) -> dict[str, float]:
        x = subsample(data.tensors["x"], self.config.max_rows)
        if len(x) != len(self.rows):
            raise ConfigError(f"nn-copy was built for {len(self.rows)} rows but the data has {len(x)}")
        self.missing.copy_(torch.isnan(x))
        self.rows.copy_(torch.nan_to_num(x, nan=0.0))
        return {"rows": float(len(x))}

    def _draw(self, n: int, conds: list[Condition], generator=None) -> torch.Tensor:
        pool = torch.arange(len(self.rows), device=self.device)
        if conds:  # the rows meeting the most conditions
            score = sum(matches(self.rows, [c]).long() for c in conds)
            pool = pool[score == score.max()]
        idx = pool[torch.randint(len(pool), (n,), generator=generator, device=self.device)]
        codes = self.rows[idx].masked_fill(self.missing[idx], float("nan"))
        for c in conds:
            codes[:, c.column] = c.code
        return codes
