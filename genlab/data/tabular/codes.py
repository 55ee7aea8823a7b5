"""Tables to *codes* and back: a float64 matrix (rows, columns) that every tabular model starts from.

One-hot columns hold their code (a level, then the rare code, then the missing code, see
:class:`~genlab.data.tabular.schema.Column`); mode columns hold their number (datetimes as days since 1970),
NaN when missing. ``from_codes`` undoes it: rare codes become one of the pooled values (drawn by their
training frequency), numbers are clipped to the training range and rounded like the input, and missing
values come back as missing, so that a writer can spell them as the input did.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import DataError
from .schema import Column, TableSchema, days_since_epoch, examples_text, is_text_column, plain_value, distinct


def to_codes(schema: TableSchema, df: pd.DataFrame, unseen: str = "error") -> np.ndarray:
    """Codes of ``df``'s columns named in ``schema``.

    ``unseen="error"`` raises :class:`DataError` for a value the schema has never seen; ``"nearest"``
    maps it to the rare code, else the missing code, else the most frequent level (for held-out data).
    Each column's distinct values are coded once and spread to the rows (:func:`~.schema.distinct`).
    """
    absent = [c.name for c in schema.columns if c.name not in df.columns]
    if absent:
        raise DataError(f"the table has no column(s) {', '.join(map(repr, absent))} that the model was trained on; "
                        f"its columns: {', '.join(map(str, df.columns))}")
    na_values = schema.options.get("na_values", ())
    out = np.empty((len(df), len(schema.columns)), dtype=np.float64)
    for j, col in enumerate(schema.columns):
        inverse, values, counts, _ = distinct(df[col.name], na_values)
        coded = _level_codes(col, values, counts, inverse, unseen) if col.onehot else _numbers(col, values, counts)
        out[:, j] = np.where(inverse >= 0, coded[inverse] if len(coded) else np.nan, _missing_code(col))
    return out


def _keys(col: Column, s: pd.Series):
    if col.numeric:
        return pd.to_numeric(s.astype("str").str.strip() if is_text_column(s) else s, errors="coerce").to_numpy(np.float64)
    if is_text_column(s):
        return s.astype("str").str.strip().to_numpy(dtype=object)
    return np.array([plain_value(v) for v in s.to_numpy()], dtype=object) if len(s) else np.array([], dtype=object)


def _fallback(col: Column) -> int:
    """The code of a value a held-out table has and the training table had not."""
    return col.rare_code if col.rare else col.missing_code if col.n_missing else int(np.argmax(col.counts[: len(col.levels)]))


def _level_codes(col: Column, values: pd.Series, counts: np.ndarray, inverse: np.ndarray, unseen: str) -> np.ndarray:
    """Codes of a one-hot column's distinct present ``values``."""
    keys = _keys(col, values)
    index = pd.Index(np.array(col.levels, dtype=np.float64 if col.numeric else object))
    codes = index.get_indexer(keys).astype(np.float64)
    if col.hidden_rare:  # the pooled values were not stored: every value that is not a level is rare
        codes[codes < 0] = col.rare_code
    elif col.rare:
        rare = pd.Index(np.array(col.rare, dtype=np.float64 if col.numeric else object)).get_indexer(keys) >= 0
        codes[rare] = col.rare_code
    bad = codes < 0
    n_missing = 0 if col.n_missing else int((inverse < 0).sum())  # missing, and no code for it
    if (bad.any() or n_missing) and unseen == "error":
        what = f"values never seen in the training data (e.g. {examples_text(keys[bad])})" if bad.any() else "missing values"
        raise DataError(f"column {col.name!r} has {int(counts[bad].sum()) + n_missing} {what}; known values: "
                        f"{examples_text(col.levels + (col.rare or []), 12)}")
    codes[bad] = _fallback(col)
    return codes


def _missing_code(col: Column) -> float:
    """The code of a missing value: NaN for numbers, else the missing code (or the fallback, which
    :func:`_level_codes` allows only for held-out data)."""
    if not col.onehot:
        return np.nan
    return col.missing_code if col.n_missing else _fallback(col)


def _numbers(col: Column, values: pd.Series, counts: np.ndarray) -> np.ndarray:
    """A number column's distinct present ``values`` as float64 (datetimes: days since 1970)."""
    if col.kind == "datetime":
        dt = pd.to_datetime(values.astype("str").str.strip() if is_text_column(values) else values,
                            format=col.datetime_format, errors="coerce")
        nums, bad = days_since_epoch(dt.fillna(pd.Timestamp(0))), dt.isna().to_numpy()
    else:
        num = pd.to_numeric(values.astype("str").str.strip() if is_text_column(values) else values, errors="coerce")
        nums, bad = num.to_numpy(np.float64), num.isna().to_numpy()
    if bad.any():
        raise DataError(f"column {col.name!r} is {col.kind} but has {int(counts[bad].sum())} values that are not "
                        f"{'dates' if col.kind == 'datetime' else 'numbers'} (e.g. {examples_text(values[bad])})")
    return nums


def _column_numbers(col: Column, s: pd.Series, na_values=()) -> np.ndarray:
    """The numbers of column ``s`` per row, NaN where missing."""
    inverse, values, counts, _ = distinct(s, na_values)
    nums = _numbers(col, values, counts)
    return np.where(inverse >= 0, nums[inverse] if len(nums) else np.nan, np.nan)


# ----------------------------------------------------------------------------- back to a table


def typed_frame(schema: TableSchema, df: pd.DataFrame) -> pd.DataFrame:
    """``df``'s modelled columns, values unchanged, with the dtypes ``from_codes`` gives (numbers parsed,
    missing values as NA): real tables in the form of generated ones, for metrics."""
    na_values = schema.options.get("na_values", ())
    out = {}
    for col in schema.columns:
        if col.name not in df.columns:
            raise DataError(f"the table has no column {col.name!r}; its columns: {', '.join(map(str, df.columns))}")
        s = df[col.name]
        if col.numeric:
            out[col.name] = _numbers_out(col, _column_numbers(col, s, na_values), clip=False)
        else:
            inverse, uniq, _, _ = distinct(s, na_values)
            keys = _keys(col, uniq)
            values = np.where(inverse >= 0, keys[inverse] if len(keys) else None, None)
            out[col.name] = _boolean_or_text(col, values, inverse < 0)
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def from_codes(schema: TableSchema, codes: np.ndarray, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """The table that ``codes`` stand for, with the input's columns, types and spellings."""
    rng = rng or np.random.default_rng(0)
    codes = np.asarray(codes, dtype=np.float64)
    return pd.DataFrame({col.name: (_levels_out(col, codes[:, j], rng) if col.onehot else _numbers_out(col, codes[:, j]))
                         for j, col in enumerate(schema.columns)}, index=pd.RangeIndex(len(codes)))


def _levels_out(col: Column, code: np.ndarray, rng: np.random.Generator) -> pd.Series:
    code = np.clip(np.nan_to_num(np.rint(code), nan=0), 0, col.n_codes - 1).astype(np.int64)
    table = np.array(list(col.levels) + ([None] if col.rare else []) + ([None] if col.n_missing else []), dtype=object)
    values = table[code]
    if col.rare:
        is_rare = code == col.rare_code
        p = np.asarray(col.rare_counts, dtype=np.float64)
        values[is_rare] = np.array(col.rare, dtype=object)[rng.choice(len(p), int(is_rare.sum()), p=p / p.sum())]
    missing = code == col.missing_code if col.n_missing else np.zeros(len(code), bool)
    if col.numeric:
        nums = np.where(missing, np.nan, values).astype(np.float64)
        return _typed_numbers(col, nums, missing)
    return _boolean_or_text(col, values, missing)


BOOLEAN_SPELLINGS = {"true": True, "false": False}


def _boolean_or_text(col: Column, values: np.ndarray, missing: np.ndarray) -> pd.Series:
    """A boolean column whose levels are Python booleans or spelled ``True`` / ``False`` (as a CSV reader gives
    them) comes back as booleans (``boolean`` with missing values), so a .parquet keeps the type a .csv reader
    infers; other spellings (``yes`` / ``no``) and other kinds stay text in the input's spelling."""
    levels = list(col.levels) + list(col.rare or [])
    if col.kind == "boolean" and all(isinstance(v, bool) or str(v).lower() in BOOLEAN_SPELLINGS for v in levels):
        flag = {v: v if isinstance(v, bool) else BOOLEAN_SPELLINGS[str(v).lower()] for v in levels}  # per level, not row
        out = pd.Series(values, dtype=object).map(flag)
        other = out.isna().to_numpy() & ~np.asarray(missing, dtype=bool)
        if other.any():  # a value outside the levels (a test table's): by its own spelling
            out[other] = [v if isinstance(v, bool) else BOOLEAN_SPELLINGS[str(v).lower()] for v in values[other]]
        return out.astype("boolean" if missing.any() else bool)
    return pd.Series(values, dtype="str")


def _numbers_out(col: Column, x: np.ndarray, clip: bool = True) -> pd.Series:
    missing = np.isnan(x)
    if clip:
        x = np.clip(x, col.min, col.max)
    if col.kind == "datetime":
        seconds = np.rint(np.where(missing, 0, x) * (1 if col.decimals == 0 else 86_400)) * (86_400 if col.decimals == 0 else 1)
        ns = (seconds * 1e9).astype("int64")
        return pd.Series(np.where(missing, np.datetime64("NaT"), ns.astype("datetime64[ns]")), dtype="datetime64[ns]")
    return _typed_numbers(col, x, missing)


def _typed_numbers(col: Column, x: np.ndarray, missing: np.ndarray) -> pd.Series:
    if col.decimals is not None:
        x = np.round(x, col.decimals)
    if col.kind == "discrete":
        if missing.any():
            return pd.Series(pd.array(np.where(missing, 0, x).astype(np.int64), dtype="Int64")).mask(missing)
        return pd.Series(x.astype(np.int64))
    return pd.Series(x)
