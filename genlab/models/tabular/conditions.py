"""``--where "sex=Female,education=Masters"``, ``--where "price>5000,cut=Ideal"``, ``--where "age in [30,40)"``:
parsing conditions and drawing rows that meet them.

Equalities on one-hot columns are :class:`Condition` s, met by the model where it can (below). Comparisons
(``< <= > >=``), intervals (``in [a,b)``, brackets choose open or closed ends) and equalities on numbers
with many values are :class:`RangeCondition` s, met by rejection on the decoded rows
(``genlab/models/tabular/base.py``), with the share of training rows that meet them estimated first so a
rare condition gets a clear line.

Conditions name one-hot columns (categories, booleans, numbers with few values). A model that conditions
natively is handed the rarest conditions it can meet itself (CTGAN one, table-gmm all of them); any other
condition is met by keeping matching rows, within a fixed budget of generated rows. When the budget runs
out the error says how rare the condition turned out to be, so sampling never loops forever.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ...errors import ConfigError
from ...data.tabular.schema import TableSchema, examples_text


@dataclass(frozen=True)
class Condition:
    column: int  # index in the schema (and in codes)
    name: str
    code: int
    value: object  # the value as spelled in the data
    share: float  # training share of the code


@dataclass(frozen=True)
class RangeCondition:
    column: int  # index in the schema
    name: str
    low: float | None
    high: float | None
    low_closed: bool
    high_closed: bool
    text: str  # as written

    def mask(self, s: pd.Series) -> np.ndarray:
        """Rows of the decoded column ``s`` meeting the condition (missing values never do)."""
        if pd.api.types.is_datetime64_any_dtype(s):
            x = s.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64) / 86_400e9
            x[s.isna().to_numpy()] = np.nan
        else:
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        ok = ~np.isnan(x)
        if self.low is not None:
            ok &= (x >= self.low) if self.low_closed else (x > self.low)
        if self.high is not None:
            ok &= (x <= self.high) if self.high_closed else (x < self.high)
        return ok


_CMP = re.compile(r"^\s*(.+?)\s*(<=|>=|==|!=|=|<|>)\s*(.*?)\s*$")
_IN = re.compile(r"^\s*(.+?)\s+in\s*([\[(])\s*([^,]*?)\s*,\s*([^,]*?)\s*([\])])\s*$", re.I)


def split_where(where: str) -> list[str]:
    """Items of a ``--where`` string: commas separate them except inside brackets (``age in [30,40)``)."""
    items, depth, cur = [], 0, ""
    for ch in where:
        depth += ch in "[(" 
        depth -= ch in ")]" and depth > 0
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    return [w.strip() for w in items + [cur] if w.strip()]


def _number(col, text: str, item: str) -> float:
    if col.kind == "datetime":
        try:
            ts = pd.Timestamp(text)
        except (ValueError, TypeError):
            raise ConfigError(f"--where {item}: {text!r} is not a date") from None
        return float(ts.value / 86_400e9)
    try:
        v = float(text)
    except ValueError:
        raise ConfigError(f"--where {item}: {text!r} is not a number; column {col.name!r} is {col.kind}") from None
    if not np.isfinite(v):
        raise ConfigError(f"--where {item}: the bound must be a finite number, got {text!r}")
    return v


def parse_conditions(schema: TableSchema, where: str | dict | None) -> tuple[list[Condition], list[RangeCondition]]:
    """``--where`` -> (equalities on one-hot columns, comparisons and intervals), one clear error per mistake."""
    if where is None or where == "" or where == {}:
        return [], []
    if not isinstance(where, str):
        return parse_where(schema, where), []
    eq, ranges, seen = [], [], set()
    unlearned = {c.name: c.kind for c in schema.generated}
    for item in split_where(where):
        m_in = _IN.match(item)
        m = m_in or _CMP.match(item)
        if not m or not m.group(1).strip():
            raise ConfigError(f"--where takes conditions separated by commas, e.g. \"sex=Female,age>30\" or "
                              f"\"age in [30,40)\"; got {item!r}")
        name = m.group(1).strip()
        if name in unlearned:
            raise ConfigError(f"--where {item}: column {name!r} is not learned ({unlearned[name]}: made up at sampling), "
                              f"so it cannot be conditioned on")
        j = schema.index(name)
        col = schema.columns[j]
        if name in seen:
            raise ConfigError(f"--where names column {name!r} twice; give one condition per column "
                              f"(an interval: \"{name} in [a,b)\")")
        seen.add(name)
        if m_in:
            lo, hi = _number(col, m.group(3), item) if m.group(3) else None, _number(col, m.group(4), item) if m.group(4) else None
            if not col.numeric:
                raise ConfigError(f"--where {item}: intervals need a numeric column; {name!r} is {col.kind}")
            if lo is not None and hi is not None and (lo > hi or (lo == hi and not (m.group(2) == "[" and m.group(5) == "]"))):
                raise ConfigError(f"--where {item}: the interval is empty")
            ranges.append(RangeCondition(j, name, lo, hi, m.group(2) == "[", m.group(5) == "]", item))
            continue
        op, value = m.group(2), m.group(3)
        if op == "!=":
            raise ConfigError(f"--where {item}: != is not supported; use =, <, <=, >, >= or 'in [a,b)'")
        if op in ("=", "=="):
            if col.onehot:
                code, spelled = _code_of(col, value)
                eq.append(Condition(j, name, code, spelled, col.counts[code] / max(1, sum(col.counts))))
            elif col.numeric:
                v = _number(col, value, item)
                ranges.append(RangeCondition(j, name, v, v, True, True, item))
            else:  # pragma: no cover - every non-numeric column is one-hot
                raise ConfigError(f"--where cannot condition on {name!r}")
            continue
        if not col.numeric:
            raise ConfigError(f"--where {item}: {op} needs a numeric column; {name!r} is {col.kind} (use {name}=value)")
        v = _number(col, value, item)
        lo, hi = (v, None) if op in (">", ">=") else (None, v)
        ranges.append(RangeCondition(j, name, lo, hi, op == ">=", op == "<=", item))
    return eq, ranges


def _phi(z: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(z)


def estimated_share(schema: TableSchema, rc: RangeCondition) -> float:
    """Share of training rows meeting ``rc``: exact for one-hot columns (from the counts), from the fitted
    column modes (a Gaussian mixture) otherwise."""
    col = schema.columns[rc.column]
    total = max(1, sum(col.counts) if col.onehot else schema.n_rows)
    if col.onehot:
        vals = np.array([float(v) for v in col.levels], dtype=np.float64)
        cnt = np.array(col.counts[: len(col.levels)], dtype=np.float64)
        return float(cnt[rc.mask(pd.Series(vals))].sum() / total)
    if not col.modes:
        return float("nan")
    mean, std, w = (np.asarray(col.modes[k], dtype=np.float64) for k in ("mean", "std", "weight"))
    std = np.maximum(std, 1e-9)
    lo = -np.inf if rc.low is None else rc.low
    hi = np.inf if rc.high is None else rc.high
    eps = 1e-9 * max(1.0, abs(lo) if np.isfinite(lo) else 1.0, abs(hi) if np.isfinite(hi) else 1.0)
    lo_b, hi_b = (lo - eps if rc.low_closed else lo + eps), (hi + eps if rc.high_closed else hi - eps)
    p = (w * (_phi((hi_b - mean) / std) - _phi((lo_b - mean) / std))).sum() / max(w.sum(), 1e-12)
    present = 1 - col.n_missing / max(1, schema.n_rows)
    return float(np.clip(p * present, 0, 1))


def parse_where(schema: TableSchema, where: str | dict | None) -> list[Condition]:
    """``"col=value,col=value"`` (or a dict) -> equality conditions on one-hot columns, with one clear error
    per mistake. Comparisons and intervals need :func:`parse_conditions`."""
    if where is None or where == "" or where == {}:
        return []
    if isinstance(where, str):
        eq, ranges = parse_conditions(schema, where)
        if ranges:
            raise ConfigError(f"{ranges[0].text!r} is a comparison; this call takes equalities on categories only")
        return eq
    pairs = [(str(k), v) for k, v in where.items()]
    seen, out = set(), []
    for name, value in pairs:
        j = schema.index(name)  # ConfigError naming the columns when unknown
        col = schema.columns[j]
        if name in seen:
            raise ConfigError(f"--where names column {name!r} twice; give one value per column")
        seen.add(name)
        if not col.onehot:
            raise ConfigError(f"--where cannot condition on {name!r}: it is a {col.kind} column with many values; "
                              f"conditions work on categorical and boolean columns and numbers with few values")
        code, spelled = _code_of(col, value)
        out.append(Condition(j, name, code, spelled, col.counts[code] / max(1, sum(col.counts))))
    return out


def _code_of(col, value) -> tuple[int, object]:
    text = str(value).strip()
    if col.n_missing and (value is None or text == (col.na_token or "")):
        return col.missing_code, None
    candidates = list(col.levels) + list(col.rare or [])
    for i, v in enumerate(candidates):
        if str(v) == text or (col.numeric and _num_equal(v, text)) or (isinstance(v, bool) and text.lower() == str(v).lower()):
            return (i if i < len(col.levels) else col.rare_code), v
    folded = [v for v in candidates if str(v).lower() == text.lower()]
    if len(folded) == 1:
        return _code_of(col, folded[0])
    close = difflib.get_close_matches(text, [str(v) for v in candidates], n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    if col.hidden_rare:
        hint += (f" Values seen in few training rows are pooled and not stored; {col.name}=<rare> asks for them.")
    raise ConfigError(f"--where {col.name}={text}: {text!r} never occurs in column {col.name!r} of the training data."
                      f"{hint} Known values: {examples_text(candidates, 20)}" + (" ..." if len(candidates) > 20 else ""))


def _num_equal(v, text: str) -> bool:
    try:
        return float(v) == float(text)
    except ValueError:
        return False


def matches(codes: torch.Tensor, conds: list[Condition]) -> torch.Tensor:
    ok = torch.ones(len(codes), dtype=torch.bool, device=codes.device)
    for c in conds:
        ok &= codes[:, c.column] == c.code
    return ok


def draw_matching(draw: Callable[[int, list[Condition]], torch.Tensor], n: int, conds: list[Condition],
                  native: int = 0, budget: int | None = None, chunk: int = 50_000) -> torch.Tensor:
    """``n`` rows of codes meeting every condition. ``draw(m, given)`` returns ``m`` rows meeting the
    conditions ``given`` (the ``native`` rarest ones); at most ``budget`` rows are generated in all."""
    if not conds:
        return torch.cat([draw(min(chunk, n - s), []) for s in range(0, n, chunk)])
    given = sorted(conds, key=lambda c: c.share)[:native]
    budget = budget or 50 * n + 10_000
    kept, got, drawn, rate = [], 0, 0, 1.0
    while got < n:
        if drawn >= budget:
            where = ", ".join(f"{c.name}={c.value}" for c in conds)
            raise ConfigError(
                f"only {got} of {n} rows met \"{where}\" after generating {drawn} rows ({got / drawn:.3%}): this "
                f"combination is too rare for this model. Ask for fewer conditions or fewer rows, or use a model "
                f"that meets all conditions itself (table-gmm, nn-copy)")
        m = int(min(chunk, budget - drawn, max(64, (1.2 if drawn else 1.0) * (n - got) / max(rate, 1e-3))))
        rows = draw(m, given)
        ok = matches(rows, conds)
        kept.append(rows[ok])
        got += int(ok.sum())
        drawn += m
        rate = max(got, 1) / drawn
    return torch.cat(kept)[:n]
