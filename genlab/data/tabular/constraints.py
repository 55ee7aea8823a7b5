"""Constraints declared in the schema file, enforced on every sampled row.

```yaml
constraints:
  - positive: [price, carat]              # > 0 (discrete columns: >= 1)
  - inequality: start < end               # also <=, >, >= between two numeric or date columns
  - range: {column: age, min: 18, max: 90}
  - fixed_combinations: [city, zip]       # only combinations seen in the training rows
  - expression: "price / carat < 20000"   # any pandas expression over the columns (backticks for odd names)
```

``positive`` and ``range`` are enforced by a transform (values clipped into the allowed interval, so no
row is lost); the others by rejection: rows that break them are dropped and more are drawn, within a
bounded budget, and the rejection rate is reported. At load the share of real rows breaking each
constraint is measured (``check``), so a constraint the data itself does not meet is visible.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ...errors import ConfigError, DataError

TYPES = ("positive", "inequality", "range", "fixed_combinations", "expression")
_INEQ = re.compile(r"^\s*(.+?)\s*(<=|>=|<|>)\s*(.+?)\s*$")


def parse_constraints(schema, specs: list) -> list[dict]:
    """Schema-file constraints -> normalised dicts (``type`` and its fields, ``spec``: as written)."""
    out = []
    by_name = {c.name: c for c in schema.columns}
    unlearned = {c.name: c.kind for c in schema.generated}

    def column(name, what: str, numeric: bool = True):
        name = str(name).strip()
        if name in unlearned:
            raise ConfigError(f"constraint {what}: column {name!r} is not learned ({unlearned[name]}); constraints apply "
                              f"to modelled columns")
        if name not in by_name:
            schema.column(name)  # the error naming the columns
        if numeric and not by_name[name].numeric:
            raise ConfigError(f"constraint {what}: column {name!r} is {by_name[name].kind}; this constraint needs a "
                              f"numeric or date column")
        return name

    for spec in specs:
        if isinstance(spec, str):
            spec = {"inequality" if _INEQ.match(spec) and all(p.strip() in by_name for p in re.split(r"<=|>=|<|>", spec))
                    else "expression": spec}
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in TYPES:
            raise ConfigError(f"schema: each constraint is one of {', '.join(TYPES)}, e.g. {{positive: [price]}}; "
                              f"got {spec!r}")
        kind, value = next(iter(spec.items()))
        what = f"{kind}: {value}"
        if kind == "positive":
            cols = value if isinstance(value, list) else [value]
            out.append({"type": kind, "columns": [column(c, what) for c in cols], "spec": spec})
        elif kind == "inequality":
            m = _INEQ.match(str(value))
            if not m:
                raise ConfigError(f"constraint {what}: write it as 'a < b' (or <=, >, >=) between two columns")
            a, op, b = m.groups()
            low, high = (a, b) if op in ("<", "<=") else (b, a)
            out.append({"type": kind, "low": column(low, what), "high": column(high, what), "strict": op in ("<", ">"),
                        "spec": spec})
        elif kind == "range":
            if not isinstance(value, dict) or "column" not in value or not ({"min", "max"} & set(value)):
                raise ConfigError(f"constraint {what}: write it as {{column: age, min: 18, max: 90}} (min or max may be left out)")
            lo, hi = value.get("min"), value.get("max")
            try:
                lo, hi = (None if lo is None else float(lo)), (None if hi is None else float(hi))
            except (TypeError, ValueError):
                raise ConfigError(f"constraint {what}: min and max must be numbers") from None
            if lo is not None and hi is not None and lo > hi:
                raise ConfigError(f"constraint {what}: min {lo:g} is above max {hi:g}")
            col = column(value["column"], what)
            if by_name[col].kind == "datetime":
                raise ConfigError(f"constraint {what}: ranges work on numbers; {col!r} is a date column")
            out.append({"type": kind, "column": col, "min": lo, "max": hi, "spec": spec})
        elif kind == "fixed_combinations":
            if not isinstance(value, list) or len(value) < 2:
                raise ConfigError(f"constraint {what}: list two or more columns, e.g. fixed_combinations: [city, zip]")
            cols = [column(c, what, numeric=False) for c in value]
            out.append({"type": kind, "columns": cols, "allowed": None, "spec": spec})
        else:
            expr = str(value).strip()
            if not expr:
                raise ConfigError("constraint expression: empty")
            out.append({"type": kind, "expr": expr, "spec": spec})
    return out


def name(c: dict) -> str:
    """The constraint as written, on one line (``positive: price, carat``)."""
    v = next(iter(c["spec"].values()))
    if isinstance(v, list):
        v = ", ".join(map(str, v))
    elif isinstance(v, dict):
        v = ", ".join(f"{k}={x}" for k, x in v.items())
    return f"{next(iter(c['spec']))}: {v}"


def fit(schema, frame: pd.DataFrame) -> None:
    """Record the allowed combinations of ``fixed_combinations`` (values as the model writes them) from the
    typed training rows ``frame``."""
    for c in schema.constraints:
        if c["type"] == "fixed_combinations":
            keys = _combo_keys(schema, frame, c["columns"])
            c["allowed"] = sorted(set(keys.tolist()))


def _combo_keys(schema, frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
    from .schema import RARE

    parts = []
    for col in cols:
        s = frame[col].astype(object).where(frame[col].notna(), "<NA>").astype(str)
        spec = schema.column(col)
        if spec.onehot and spec.hidden_rare:  # values not stored are written as <rare>
            s = s.where(s.isin([str(v) for v in spec.levels]) | (s == "<NA>"), RARE)
        parts.append(s.to_numpy(dtype=object))
    out = parts[0]
    for p in parts[1:]:
        out = out + "\x1f" + p
    return out


def satisfied(schema, frame: pd.DataFrame, c: dict) -> np.ndarray:
    """Per row of ``frame``, whether it meets constraint ``c`` (missing values: met)."""
    t = c["type"]
    if t == "positive":
        ok = np.ones(len(frame), bool)
        for col in c["columns"]:
            x = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            ok &= ~(x <= 0)
        return ok
    if t == "inequality":
        a, b = frame[c["low"]], frame[c["high"]]
        res = (a < b) if c["strict"] else (a <= b)
        return (res | a.isna() | b.isna()).to_numpy(dtype=bool)
    if t == "range":
        x = pd.to_numeric(frame[c["column"]], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        ok = np.ones(len(frame), bool)
        if c["min"] is not None:
            ok &= ~(x < c["min"])
        if c["max"] is not None:
            ok &= ~(x > c["max"])
        return ok
    if t == "fixed_combinations":
        if c.get("allowed") is None:
            return np.ones(len(frame), bool)
        return np.isin(_combo_keys(schema, frame, c["columns"]), np.array(c["allowed"], dtype=object))
    try:
        res = frame.eval(c["expr"], engine="python")
    except Exception as e:  # pandas raises many types for a bad expression
        raise ConfigError(f"constraint expression {c['expr']!r} cannot be evaluated on the table: {e}") from None
    if not isinstance(res, pd.Series) or len(res) != len(frame):
        raise ConfigError(f"constraint expression {c['expr']!r} must give one true/false value per row")
    return res.fillna(True).to_numpy(dtype=bool)


def check(schema, frame: pd.DataFrame) -> dict[str, float]:
    """Share of the rows of ``frame`` breaking each constraint (also validates expressions)."""
    return {name(c): float(1 - satisfied(schema, frame, c).mean()) if len(frame) else 0.0 for c in schema.constraints}


def transform(schema, frame: pd.DataFrame) -> pd.DataFrame:
    """Clip the columns of ``positive`` and ``range`` constraints into their interval (in place, returned)."""
    for c in schema.constraints:
        cols = c["columns"] if c["type"] == "positive" else [c["column"]] if c["type"] == "range" else []
        for col in cols:
            spec = schema.column(col)
            if spec.kind == "datetime":
                continue
            lo = c.get("min") if c["type"] == "range" else (1.0 if spec.kind == "discrete" else 10.0 ** -(spec.decimals or 6))
            hi = c.get("max") if c["type"] == "range" else None
            s = frame[col]
            if spec.kind == "discrete" and lo is not None:
                lo = float(np.ceil(lo))
            if spec.kind == "discrete" and hi is not None:
                hi = float(np.floor(hi))
            clipped = s.clip(lower=lo, upper=hi)
            frame[col] = clipped.round().astype(s.dtype) if spec.kind == "discrete" else clipped
    return frame


def rejected_mask(schema, frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, int]]:
    """(rows meeting every constraint, rows broken per constraint)."""
    ok = np.ones(len(frame), bool)
    broken = {}
    for c in schema.constraints:
        m = satisfied(schema, frame, c)
        broken[name(c)] = int((~m).sum())
        ok &= m
    return ok, broken


def check_data(schema, frame: pd.DataFrame) -> list[str]:
    """Lines about real rows breaking declared constraints (fits fixed combinations first)."""
    if not schema.constraints:
        return []
    fit(schema, frame)
    lines = []
    for c, share in zip(schema.constraints, check(schema, frame).values()):
        c["real_violations"] = share
        how = "clipped" if c["type"] in ("positive", "range") else "rejected"
        lines.append(f"constraint {name(c)}: {share:.2%} of the {len(frame)} real training rows break it "
                     f"(synthetic rows always meet it: {how})")
    if not len(frame):
        raise DataError("no rows to check the constraints on")
    return lines
