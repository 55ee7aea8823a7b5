"""What every tabular model shares: the schema from ``info.meta``, ``sample(n, where=...)`` returning a
DataFrame, and the conversion from generated codes back to records.

A subclass implements ``_draw(n, conds, generator) -> codes`` (float64, rows x columns); it receives at most
``native_conditions`` conditions (the rarest asked for) and must return rows meeting them. Other conditions
are met by bounded rejection (``genlab/models/tabular/conditions.py``).
"""
from __future__ import annotations

import sys
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from ...data.base import DataInfo
from ...data.tabular.codes import from_codes
from ...errors import ConfigError
from .conditions import Condition, RangeCondition, draw_matching, estimated_share, parse_conditions, parse_where
from ...data.tabular.constraints import name as constraint_name
from ...data.tabular.constraints import rejected_mask
from ...data.tabular.constraints import transform as constraint_transform
from ...data.tabular.schema import TableSchema
from ..base import GenerativeModel, SampleOption


def numpy_rng(generator: torch.Generator | None) -> np.random.Generator:
    """A numpy generator seeded from ``generator`` (or the global torch RNG), so samples stay reproducible."""
    device = generator.device if generator is not None else "cpu"
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator, device=device)))


class TabularModel(GenerativeModel):
    family = "tabular"
    modalities = ("table",)
    sample_options = (SampleOption("where", str, help='conditions on columns, e.g. "sex=Female,age<30"'),)
    native_conditions: ClassVar[int] = 0  # how many conditions _draw meets itself

    def __init__(self, config, info: DataInfo):
        super().__init__(config, info)
        self.schema = TableSchema.from_meta(info.meta)

    def _draw(self, n: int, conds: list[Condition], generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def sample_codes(self, n: int, where=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` rows of codes meeting ``where``; see :func:`~genlab.models.tabular.conditions.draw_matching`."""
        conds = parse_where(self.schema, where)
        return draw_matching(lambda m, c: self._draw(m, c, generator), n, conds, self.native_conditions)

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, where=None, **options) -> pd.DataFrame:
        """``n`` records as a DataFrame with the training table's columns, types and spellings.

        ``where`` equalities on categories are met by the model where it can and by rejection otherwise;
        comparisons and intervals on numbers (``price>5000``, ``age in [30,40)``) and the schema's
        constraints by rejection (after the constraints' transforms), within a budget of
        ``50 n + 10,000`` generated rows. Identifier and personal-data columns are made up last
        (``genlab/data/tabular/pii.py``). What was met how is in ``self.last_sample_report``."""
        self.check_sample_args(n, labels, {"where": where, **options})
        eq, ranges = parse_conditions(self.schema, where)
        was_training = self.training
        self.eval()
        try:
            df = self._sample_frame(n, eq, ranges, generator)
        finally:
            self.train(was_training)
        return self._with_generated(df, generator)

    def _decode(self, codes: torch.Tensor, eq: list[Condition], rng: np.random.Generator) -> pd.DataFrame:
        df = from_codes(self.schema, codes.cpu().numpy(), rng)
        for c in eq:  # a condition on a pooled rare value: spell it exactly
            if c.value is not None:
                df[c.name] = pd.Series([c.value] * len(df), dtype=df[c.name].dtype)
        return df

    def _sample_frame(self, n: int, eq: list[Condition], ranges: list[RangeCondition], generator) -> pd.DataFrame:
        rng = numpy_rng(generator)
        draw = lambda m, c: self._draw(m, c, generator)  # noqa: E731
        native = sorted(eq, key=lambda c: c.share)[: self.native_conditions]
        report = {"conditioned_by_model": [f"{c.name}={c.value}" for c in native],
                  "rejection": [f"{c.name}={c.value}" for c in eq if c not in native] + [r.text for r in ranges]}
        self.last_sample_report = report
        cons = self.schema.constraints
        if not ranges and not cons:
            return self._decode(draw_matching(draw, n, eq, self.native_conditions), eq, rng)
        rate = 1.0
        for r in ranges:
            share = estimated_share(self.schema, r)
            if share == 0:
                col = self.schema.columns[r.column]
                raise ConfigError(f"--where {r.text}: no training row meets it (column {r.name!r} spans "
                                  f"{col.min:g}..{col.max:g}); synthetic values stay in the training range")
            rate *= share if share == share else 1.0
        if ranges and rate < 0.01:
            need = n / max(rate, 1e-12)
            _note(f"--where {', '.join(r.text for r in ranges)} is rare: about {rate:.2g} of training rows meet it "
                  f"(estimated from the column modes); met by rejection, which needs about "
                  f"{f'{need:,.0f}' if need < 1e12 else 'more than 10^12'} generated rows for {n:,} (at most "
                  f"{50 * n + 10_000:,} are generated)")
        budget, chunk = 50 * n + 10_000, 50_000
        kept, got, drawn, ok_rate = [], 0, 0, 1.0
        broken: dict[str, int] = {}
        while got < n:
            if drawn >= budget:
                what = ", ".join(report["rejection"] + [constraint_name(c) for c in cons])
                raise ConfigError(f"only {got} of {n} rows met {what} after generating {drawn} rows "
                                  f"({got / max(drawn, 1):.3%}): too rare for this model. Ask for fewer rows or "
                                  f"looser conditions, or use a model that conditions natively (table-gmm)")
            m = int(min(chunk, budget - drawn, max(64, (1.2 if drawn else 1.0) * (n - got) / max(ok_rate, 1e-3))))
            df = constraint_transform(self.schema, self._decode(draw_matching(draw, m, eq, self.native_conditions), eq, rng))
            ok, br = rejected_mask(self.schema, df) if cons else (np.ones(len(df), bool), {})
            for k, v in br.items():
                broken[k] = broken.get(k, 0) + v
            for r in ranges:
                ok &= r.mask(df[r.name])
            kept.append(df[ok])
            got += int(ok.sum())
            drawn += m
            ok_rate = max(got, 1) / drawn
        report.update(rows_generated=drawn, rows_kept=n, rejection_rate=1 - got / drawn,
                      broken_by_constraint=broken)
        if drawn > n and not getattr(self, "_noted", False):  # once per model (not at every training preview)
            self._noted = True
            parts = [f"{k}: {v / drawn:.2%}" for k, v in broken.items() if v]
            _note(f"{self.name}: {got:,} of {drawn:,} generated rows met the conditions ({1 - got / drawn:.1%} rejected"
                  + (f"; constraints broken: {', '.join(parts)}" if parts else "")
                  + (f"; by rejection: {', '.join(report['rejection'])}" if report["rejection"] else "") + ")")
        return pd.concat(kept, ignore_index=True).iloc[:n].reset_index(drop=True)

    def _with_generated(self, df: pd.DataFrame, generator) -> pd.DataFrame:
        """Add the unlearned columns (identifiers, personal data), made up per row, in the input's order."""
        if not self.schema.generated:
            return df
        from ...data.tabular.pii import People, generate

        rng = numpy_rng(generator)
        people = People(len(df), rng) if any(c.kind not in ("id", "phone") for c in self.schema.generated) else None
        for c in self.schema.generated:
            values = generate(c.kind, c.format or {}, len(df), people, rng)
            values.index = df.index
            df[c.name] = values
        return df[[c for c in self.schema.output_names if c in df.columns]]


def _note(line: str) -> None:
    print(f"genlab: {line}", file=sys.stderr)
