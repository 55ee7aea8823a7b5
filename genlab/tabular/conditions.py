"""``--where "sex=Female,education=Masters"``: parsing conditions and drawing rows that meet them.

Conditions name one-hot columns (categories, booleans, numbers with few values). A model that conditions
natively is handed the rarest conditions it can meet itself (CTGAN one, table-gmm all of them); any other
condition is met by keeping matching rows, within a fixed budget of generated rows. When the budget runs
out the error says how rare the condition turned out to be, so sampling never loops forever.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import ConfigError
from .schema import TableSchema, _examples


@dataclass(frozen=True)
class Condition:
    column: int  # index in the schema (and in codes)
    name: str
    code: int
    value: object  # the value as spelled in the data
    share: float  # training share of the code


def parse_where(schema: TableSchema, where: str | dict | None) -> list[Condition]:
    """``"col=value,col=value"`` (or a dict) -> conditions, with one clear error per mistake."""
    if where is None or where == "" or where == {}:
        return []
    if isinstance(where, str):
        items = [w for w in where.split(",") if w.strip()]
        bad = [w for w in items if "=" not in w]
        if bad:
            raise ConfigError(f"--where takes column=value pairs separated by commas, e.g. \"sex=Female,race=White\"; "
                              f"got {bad[0].strip()!r}")
        pairs = [tuple(p.strip() for p in w.split("=", 1)) for w in items]
    else:
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
    raise ConfigError(f"--where {col.name}={text}: {text!r} never occurs in column {col.name!r} of the training data."
                      f"{hint} Known values: {_examples(candidates, 20)}" + (" ..." if len(candidates) > 20 else ""))


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
