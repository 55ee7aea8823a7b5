"""What every tabular model shares: the schema from ``info.meta``, ``sample(n, where=...)`` returning a
DataFrame, and the conversion from generated codes back to records.

A subclass implements ``_draw(n, conds, generator) -> codes`` (float64, rows x columns); it receives at most
``native_conditions`` conditions (the rarest asked for) and must return rows meeting them. Other conditions
are met by bounded rejection (``genlab/tabular/conditions.py``).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from ...data.base import DataInfo
from ...tabular.codes import from_codes
from ...tabular.conditions import Condition, draw_matching, parse_where
from ...tabular.schema import TableSchema
from ..base import GenerativeModel


def numpy_rng(generator: torch.Generator | None) -> np.random.Generator:
    """A numpy generator seeded from ``generator`` (or the global torch RNG), so samples stay reproducible."""
    device = generator.device if generator is not None else "cpu"
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator, device=device)))


class TabularModel(GenerativeModel):
    family = "tabular"
    modalities = ("table",)
    sample_options = ("where",)
    native_conditions: ClassVar[int] = 0  # how many conditions _draw meets itself

    def __init__(self, config, info: DataInfo):
        super().__init__(config, info)
        self.schema = TableSchema.from_meta(info.meta)

    def _draw(self, n: int, conds: list[Condition], generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def sample_codes(self, n: int, where=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` rows of codes meeting ``where``; see :func:`~genlab.tabular.conditions.draw_matching`."""
        conds = parse_where(self.schema, where)
        return draw_matching(lambda m, c: self._draw(m, c, generator), n, conds, self.native_conditions)

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, where=None, **options) -> pd.DataFrame:
        """``n`` records as a DataFrame with the training table's columns, types and spellings."""
        self.check_sample_args(n, labels, {"where": where, **options})
        was_training = self.training
        self.eval()
        try:
            codes = self.sample_codes(n, where, generator)
        finally:
            self.train(was_training)
        df = from_codes(self.schema, codes.cpu().numpy(), numpy_rng(generator))
        for c in parse_where(self.schema, where):  # a condition on a pooled rare value: spell it exactly
            if c.value is not None:
                df[c.name] = pd.Series([c.value] * n, dtype=df[c.name].dtype)
        return df
