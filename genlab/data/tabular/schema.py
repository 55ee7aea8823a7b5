"""Column types of a table, inferred from its values and overridable by the user.

A :class:`Column` records everything needed to turn values into model inputs and back (its kind, kept
categories, rare categories, missing-value spelling, range, rounding, fitted modes), as plain JSON-friendly
values, so a trained model can write records that look like its input without the data at hand.

Kinds: ``continuous`` and ``discrete`` (integer) numbers, ``categorical``, ``boolean``, ``datetime``; and
``ignore`` in overrides to leave a column out. Columns of kind ``id`` (identifiers) and the personal-data
kinds ``email``, ``name``, ``phone``, ``address``, ``text`` are never learned: they are detected (or
declared) and regenerated at sampling from a format that holds no real value (``pii.py``); they sit in
``TableSchema.generated``, not in ``columns``. Text categories pooled as rare are not stored: they come
back as ``<rare>``. Columns with few distinct values (categories, booleans,
numbers with at most ``max_onehot`` values) are *one-hot* columns; the others are *mode* columns, encoded
by mode-specific normalisation with a per-column Bayesian Gaussian mixture.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd

from ...errors import ConfigError, DataError
from .pii import UNLEARNED, WHY

KINDS = ("continuous", "discrete", "categorical", "boolean", "datetime")
NA_TOKENS = ("", "?", "NA", "N/A", "n/a", "#N/A", "<NA>", "NaN", "nan", "null", "NULL", "None")
BOOL_SPELLINGS = ({"true", "false"}, {"yes", "no"}, {"t", "f"}, {"y", "n"})
RARE = "<rare>"  # how a text column's pooled rare values are stored and written (the values are not kept)
SCHEMA_KEYS = ("columns", "target", "names", "na_values", "constraints", "sensitive")


@dataclass
class Column:
    name: str
    kind: str
    levels: list | None = None  # one-hot columns: kept values (numbers ascending, others most frequent first)
    counts: list[int] | None = None  # training rows per code: each level, then rare (if any), then missing (if any)
    rare: list | None = None  # values pooled into the rare code
    rare_counts: list[int] | None = None
    n_missing: int = 0
    na_token: str | None = None  # how missing values were spelled in a text file ("?", ""); None: a real NaN
    min: float | None = None
    max: float | None = None
    decimals: int | None = None  # round numbers to this many decimals on output (None: no rounding;
    # datetimes: 0 rounds to whole days, None to whole seconds)
    datetime_format: str | None = None
    modes: dict | None = None  # mode columns: {"mean": [...], "std": [...], "weight": [...]} (frequent values
    # first, as point modes of width ~0; see bgm.fit_column_modes)
    format: dict | None = None  # unlearned columns (id, email, ...): how to generate them (pii.fit_format)
    declared: bool = False  # the kind came from the schema file

    @property
    def onehot(self) -> bool:
        return self.levels is not None

    @property
    def numeric(self) -> bool:
        return self.kind in ("continuous", "discrete", "datetime")

    @property
    def rare_code(self) -> int | None:
        return len(self.levels) if self.onehot and self.rare else None

    @property
    def missing_code(self) -> int | None:
        return len(self.levels) + bool(self.rare) if self.onehot and self.n_missing else None

    @property
    def n_codes(self) -> int:
        """One-hot columns: levels + rare + missing codes."""
        return len(self.levels) + bool(self.rare) + bool(self.n_missing)

    @property
    def hidden_rare(self) -> bool:
        """The rare values were pooled without being stored (they come back as ``<rare>``)."""
        return self.rare == [RARE]

    def describe(self) -> str:
        if self.kind in UNLEARNED:
            return f"{self.kind} (not learned: {WHY[self.kind]})"
        if self.onehot and self.hidden_rare:
            extra = f"{len(self.levels)} values + {self.rare_counts[0]} rows of rare values, not stored"
        elif self.onehot:
            extra = f"{len(self.levels)} values" + (f" + {len(self.rare)} rare" if self.rare else "")
        elif self.kind == "datetime":
            extra = f"format {self.datetime_format}"
        else:
            extra = f"{self.min:g}..{self.max:g}" + (f", {len(self.modes['mean'])} modes" if self.modes else "")
        miss = f", {self.n_missing} missing" + (f" as {self.na_token!r}" if self.na_token is not None else "") if self.n_missing else ""
        return f"{self.kind} ({extra}{miss})"


@dataclass
class TableSchema:
    columns: list[Column]
    target: str | None = None
    n_rows: int = 0
    source: str = ""
    options: dict = field(default_factory=dict)  # inference settings, kept for the record
    generated: list[Column] = field(default_factory=list)  # not learned, made up at sampling (ids, personal data)
    order: list[str] = field(default_factory=list)  # output column order (modelled and generated columns)
    dropped: list[dict] = field(default_factory=list)  # {"name", "reason"}: columns left out of the output
    constraints: list[dict] = field(default_factory=list)  # declared constraints (see constraints.py)
    sensitive: list[str] = field(default_factory=list)  # columns an attribute-inference attack targets

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        import difflib

        close = difflib.get_close_matches(name, self.names, n=3)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise ConfigError(f"no column {name!r} in this table{hint}; columns: {', '.join(self.names)}")

    def index(self, name: str) -> int:
        return self.names.index(self.column(name).name)

    @property
    def output_names(self) -> list[str]:
        """Columns of a generated table, in the input's order."""
        return self.order or self.names + [c.name for c in self.generated]

    def to_meta(self) -> dict:
        return {"columns": [asdict(c) for c in self.columns], "target": self.target, "n_rows": self.n_rows,
                "source": self.source, "options": self.options, "generated": [asdict(c) for c in self.generated],
                "order": self.order, "dropped": self.dropped, "constraints": self.constraints,
                "sensitive": self.sensitive}

    @classmethod
    def from_meta(cls, meta: dict) -> "TableSchema":
        if "columns" not in meta:
            raise DataError("this data description has no table schema (meta['columns']); it is not table data")
        known = {f.name for f in fields(Column)}
        cols = [Column(**{k: v for k, v in c.items() if k in known}) for c in meta["columns"]]
        gen = [Column(**{k: v for k, v in c.items() if k in known}) for c in meta.get("generated") or []]
        return cls(cols, meta.get("target"), meta.get("n_rows", 0), meta.get("source", ""), meta.get("options", {}),
                   gen, list(meta.get("order") or []), list(meta.get("dropped") or []),
                   list(meta.get("constraints") or []), list(meta.get("sensitive") or []))

    def summary(self) -> str:
        by_name = {c.name: c for c in self.columns + self.generated}
        names = [n for n in self.output_names if n in by_name] + [d["name"] for d in self.dropped]
        width = max(len(n) for n in names)
        reasons = {d["name"]: d["reason"] for d in self.dropped}
        lines = [f"  {n:<{width}}  " + (by_name[n].describe() if n in by_name else f"left out ({reasons[n]})")
                 + ("   <- target" if n == self.target else "") for n in names]
        return "\n".join(lines)

    def not_learned(self) -> list[str]:
        """One line per thing this schema will not learn from the real rows, and why."""
        out = [f"{c.name}: {c.kind} -- {WHY[c.kind]}" + (" (declared)" if c.declared else " (detected)")
               for c in self.generated]
        out += [f"{d['name']}: left out -- {d['reason']}" for d in self.dropped]
        out += [f"{c.name}: {c.rare_counts[0]} rows hold values seen fewer than "
                f"{max(2, int(self.options.get('rare_fraction', 5e-4) * self.n_rows))} times; pooled, not stored, "
                f"written as {RARE!r}" for c in self.columns if c.onehot and c.hidden_rare]
        return out


# ----------------------------------------------------------------------------- overrides


def parse_overrides(spec: str | dict | None) -> dict:
    """Schema overrides from a YAML/JSON file path, an inline ``"col=kind,col=kind"`` string or a dict.

    The file holds ``columns: {name: kind}`` (or ``{name: {kind: ...}}``) and optionally ``target``,
    ``names`` (column names for a file without header) and ``na_values`` (extra missing-value spellings).
    """
    if spec is None:
        return {}
    if isinstance(spec, dict):
        data = spec
    else:
        from pathlib import Path

        path = Path(spec).expanduser()
        if path.suffix.lower() in (".yaml", ".yml", ".json") or path.is_file():
            data = _read_schema_file(path)
        elif "=" in spec:
            data = {"columns": dict(item.split("=", 1) for item in spec.split(",") if item.strip())}
        else:
            raise ConfigError(f"data.schema {spec!r} is neither a schema file (.yaml) nor 'column=kind,...'")
    unknown = set(data) - set(SCHEMA_KEYS)
    if unknown:
        raise ConfigError(f"schema: unknown key(s) {', '.join(sorted(unknown))}; use {', '.join(SCHEMA_KEYS)}")
    if not isinstance(data.get("columns") or {}, dict):
        raise ConfigError("schema: columns must be a mapping of column name to kind, e.g. columns: {age: discrete}")
    cols, drop = {}, []
    allowed = KINDS + UNLEARNED + ("ignore",)
    for name, v in (data.get("columns") or {}).items():
        kind = v.get("kind") if isinstance(v, dict) else v
        kind = str(kind).strip().lower()
        if kind not in allowed:
            raise ConfigError(f"schema: column {name!r} has kind {kind!r}; use one of {', '.join(allowed)}")
        if isinstance(v, dict) and v.get("drop"):
            if kind not in UNLEARNED:
                raise ConfigError(f"schema: column {name!r}: drop applies to identifiers and personal data "
                                  f"({', '.join(UNLEARNED)}); use kind ignore to leave another column out")
            drop.append(str(name).strip())
        cols[str(name).strip()] = kind
    sensitive = data.get("sensitive") or []
    if isinstance(sensitive, str):
        sensitive = [x.strip() for x in sensitive.split(",") if x.strip()]
    if not isinstance(sensitive, list) or not all(isinstance(x, str) for x in sensitive):
        raise ConfigError("schema: sensitive must be a list of column names")
    constraints = data.get("constraints") or []
    if not isinstance(constraints, list):
        raise ConfigError("schema: constraints must be a list, e.g. constraints: [{positive: [price]}, {inequality: 'start < end'}]")
    names = data.get("names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise ConfigError("schema: names must be a list of column names")
    return {"columns": cols, "target": data.get("target"), "names": names, "na_values": list(data.get("na_values") or []),
            "drop": drop, "sensitive": list(sensitive), "constraints": list(constraints)}


def _read_schema_file(path) -> dict:
    import json

    import yaml

    if not path.is_file():
        raise ConfigError(f"schema file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"schema file {path} could not be read: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"schema file {path} must hold a mapping with a 'columns' section, e.g. columns: {{age: discrete}}")
    return data


# ----------------------------------------------------------------------------- inference


def distinct(s: pd.Series, na_values=()) -> tuple[np.ndarray, pd.Series, np.ndarray, str | None]:
    """A column as its distinct present values, so that string work runs once per value, not per row:
    (per row, the index of its value, -1 where missing; the values, text stripped, in order of first
    appearance; how many rows hold each; the most frequent spelling of missing text, else None).
    Missing: NaN/None, or text equal (after stripping) to a missing-value spelling."""
    inverse, uniq = pd.factorize(s)
    uniq, token = pd.Series(uniq), None
    if is_text_column(s) and len(uniq):
        remap, uniq = pd.factorize(uniq.astype("str").str.strip())  # equal once stripped: one value
        uniq = pd.Series(uniq, dtype="str")
        inverse = np.where(inverse >= 0, remap[inverse], -1)
        na = uniq.isin(set(NA_TOKENS) | set(na_values)).to_numpy()
        if na.any():
            n_na = pd.Series(np.bincount(inverse[inverse >= 0], minlength=len(uniq))[na], index=uniq[na].to_numpy())
            token = str(n_na[n_na == n_na.max()].index.min())  # ties: the first spelling in sort order
            new = np.where(na, -1, np.cumsum(~na) - 1)
            inverse = np.where(inverse >= 0, new[inverse], -1)
            uniq = uniq[~na].reset_index(drop=True)
    return inverse, uniq, np.bincount(inverse[inverse >= 0], minlength=len(uniq)), token


def is_text_column(s: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype)


def _decimals(text: pd.Series) -> int:
    """The most digits after the decimal point among numbers spelled in ``text`` (at most 6)."""
    frac = text[text.str.contains(r"\.\d+$", regex=True).to_numpy(dtype=bool)]  # numbers: one "." at most
    return int(min(6, (frac.str.len() - frac.str.find(".") - 1).max())) if len(frac) else 0


def examples_text(values, k: int = 3) -> str:
    return ", ".join(repr(v) for v in list(dict.fromkeys(values))[:k])


def infer_column(name: str, s: pd.Series, kind: str | None = None, na_values=(),
                 max_onehot: int = 20) -> tuple[Column, pd.Series | np.ndarray, np.ndarray, np.ndarray]:
    """Infer (or apply the forced ``kind`` of) one column. Returns it, its distinct present values (text:
    stripped strings; numbers, dates: float64, dates as days), their row counts, and per row the index
    of its value (-1: missing); see :func:`distinct`. All checks run on the distinct values."""
    inverse, values, counts, token = distinct(s, na_values)
    if len(values) == 0:
        if kind in UNLEARNED:
            from .pii import declared_format

            return (Column(name, kind, n_missing=len(s), na_token=token, format=declared_format(kind, name), declared=True),
                    values, counts, inverse)
        raise DataError(f"column {name!r} is empty: all {len(s)} values are missing; drop it from the file "
                        f"or mark it ignore in the schema ({name}: ignore)")
    col = Column(name, kind or "", n_missing=int((inverse < 0).sum()), na_token=token, declared=kind is not None)
    text = is_text_column(s)
    if kind is None:
        from .pii import detect

        kind = detect(name, values, counts, text) or _guess_kind(name, values, counts, inverse, text)
    col.kind = kind
    if kind in UNLEARNED:
        from .pii import fit_format

        col.format = fit_format(kind, name, values, counts, text)
        return col, values, counts, inverse
    if kind == "boolean" and len(values) > 2:
        raise DataError(f"column {name!r} is declared boolean but has {len(values)} distinct values "
                        f"(e.g. {examples_text(values)}); declare it categorical")
    if kind in ("categorical", "boolean"):
        return col, values, counts, inverse
    if kind == "datetime":
        fmt = pd.tseries.api.guess_datetime_format(values.iloc[0]) if text else None
        dt = pd.to_datetime(values, format=fmt, errors="coerce")
        bad = dt.isna().to_numpy()
        if bad.any():
            raise DataError(f"column {name!r} is datetime but {int(counts[bad].sum())} values are not dates in one "
                            f"format (e.g. {examples_text(values[bad])}); fix them or declare the column categorical")
        col.datetime_format = fmt
        nums = days_since_epoch(dt)
        col.decimals = 0 if np.all(nums == np.floor(nums)) else None  # dates: whole days; else seconds
    else:  # continuous | discrete
        parsed = pd.to_numeric(values, errors="coerce")
        bad = parsed.isna().to_numpy()
        if bad.any():
            raise DataError(f"column {name!r} is declared {kind} but {int(counts[bad].sum())} values are not numbers "
                            f"(e.g. {examples_text(values[bad])}); fix them or declare it categorical in the schema")
        nums = parsed.to_numpy(dtype=np.float64)
        if text:
            col.decimals = 0 if kind == "discrete" else _decimals(values)
        elif kind == "discrete":
            col.decimals = 0
    nums = np.asarray(nums, dtype=np.float64)
    col.min, col.max = float(nums.min()), float(nums.max())
    if kind == "datetime" or len(np.unique(nums)) > max_onehot:
        col.modes = {}  # a mode column; fitted by the caller (all columns at once)
    return col, nums, counts, inverse  # else few distinct numbers: one-hot levels (set by the caller)


def _guess_kind(name: str, values: pd.Series, counts: np.ndarray, inverse: np.ndarray, text: bool) -> str:
    """The kind of a column from its distinct present ``values`` (see :func:`infer_column`)."""
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    if not text and pd.api.types.is_numeric_dtype(values):
        v = values.to_numpy(dtype=np.float64)
        return "discrete" if np.all(v == np.round(v)) else "continuous"
    if len(values) <= 2 and any(set(values.str.lower()) <= spell for spell in BOOL_SPELLINGS):
        return "boolean"
    is_num = pd.to_numeric(values, errors="coerce").notna().to_numpy()
    n_num, n = int(counts[is_num].sum()), int(counts.sum())
    if n_num == n and values.str.match(r"0\d").any():  # zero-padded codes (zip codes, account numbers): text
        return "categorical"
    if n_num == n:  # integers, also when written as 181.0
        return "discrete" if values.str.fullmatch(r"[+-]?\d+(\.0*)?").all() else "continuous"
    if n_num >= 0.5 * n:
        raise DataError(f"column {name!r} mixes numbers and text: {n_num} numbers and {n - n_num} other values "
                        f"(e.g. {examples_text(values[~is_num])}); fix those values, add their spelling to na_values in a "
                        f"schema file if they mean 'missing', or declare the column categorical ({name}: categorical)")
    if n_num == 0 and _looks_like_dates(values, values.iloc[inverse[inverse >= 0][:200]]):
        return "datetime"
    return "categorical"


def _looks_like_dates(values: pd.Series, sample: pd.Series) -> bool:
    """Whether every distinct value parses as a date in the format of the first (``sample``: the first rows)."""
    if not sample.str.contains(r"\d").all() or not sample.str.contains(r"[-/:]").all():
        return False
    fmt = pd.tseries.api.guess_datetime_format(sample.iloc[0])
    return fmt is not None and pd.to_datetime(values, format=fmt, errors="coerce").notna().all()


def days_since_epoch(dt: pd.Series) -> np.ndarray:
    """Datetimes as float days since 1970-01-01."""
    return (dt.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 86_400e9).astype(np.float64)


def _set_levels(col: Column, values, counts: np.ndarray, n_rows: int, rare_fraction: float, max_levels: int,
                hide_rare: bool = True) -> None:
    """One-hot levels with their counts (numbers ascending, other values most frequent first, ties by
    value) from distinct ``values`` and their row ``counts``; values seen fewer than ``rare_fraction *
    n_rows`` times, or beyond ``max_levels``, are pooled into one rare code when there are at least two
    (numbers: kept and drawn back by frequency) or at least one (text, ``hide_rare``: the values are not
    stored, only their row count; they come back as ``<rare>``)."""
    counts = pd.Series(counts, index=np.asarray(values)).groupby(level=0, sort=False).sum()  # "1", "1.0": one number
    keys = [plain_value(v) for v in counts.index]
    n = counts.to_numpy()
    order = np.argsort(keys, kind="stable") if col.numeric else np.lexsort((np.array(keys, dtype=str), -n))
    keys, n = [keys[i] for i in order], n[order]
    rare = (n < max(2, rare_fraction * n_rows)) | (np.arange(len(n)) >= max_levels)
    if rare.all():
        rare[0] = False
    hide = hide_rare and col.kind == "categorical"  # text values seen in few rows are not stored
    if rare.sum() < (1 if hide else 2):
        rare[:] = False
    col.levels = [k for k, r in zip(keys, rare) if not r]
    col.rare = ([RARE] if hide else [k for k, r in zip(keys, rare) if r]) if rare.any() else None
    col.rare_counts = ([int(n[rare].sum())] if hide else [int(v) for v in n[rare]]) if rare.any() else None
    col.counts = [int(v) for v in n[~rare]] + ([int(n[rare].sum())] if col.rare else []) + (
        [col.n_missing] if col.n_missing else [])
    col.modes = None


def plain_value(v):
    """numpy scalars to plain Python values (JSON)."""
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return int(v) if float(v).is_integer() else float(v)
    return str(v)


def infer_schema(df: pd.DataFrame, overrides: dict | None = None, target: str | None = None, *,
                 max_onehot: int = 20, rare_fraction: float = 5e-4, max_levels: int = 1000,
                 n_modes: int = 10, source: str = "", hide_rare: bool = True) -> TableSchema:
    """Infer every column's kind (honouring ``overrides["columns"]``) and fit the encodings.

    Raises :class:`DataError` for empty or mixed-type columns and :class:`ConfigError` for overrides or a
    target that name columns the table does not have.
    """
    from .bgm import fit_column_modes

    overrides = overrides or {}
    forced = overrides.get("columns", {})
    missing = [n for n in forced if n not in df.columns]
    if missing:
        raise ConfigError(f"schema names column(s) {', '.join(map(repr, missing))} that the table does not have; "
                          f"columns: {', '.join(map(str, df.columns))}")
    target = target or overrides.get("target")
    if target is not None and target not in df.columns:
        import difflib

        close = difflib.get_close_matches(str(target), [str(c) for c in df.columns], n=2)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise ConfigError(f"target column {target!r} is not in the table{hint}; columns: {', '.join(map(str, df.columns))}")
    if len(df) == 0:
        raise DataError(f"{source or 'the table'} has a header but no rows")
    cols, mode_values, generated, dropped, order = [], [], [], [], []
    drop = set(overrides.get("drop", ()))
    for name in df.columns:
        kind = forced.get(str(name))
        if kind == "ignore":
            dropped.append({"name": str(name), "reason": "kind ignore in the schema"})
            continue
        col, values, counts, inverse = infer_column(str(name), df[name], kind, overrides.get("na_values", ()), max_onehot)
        if col.kind in UNLEARNED:
            if str(name) in drop:
                dropped.append({"name": str(name), "kind": col.kind,
                                "reason": f"{col.kind}, dropped by choice (drop: true in the schema)"})
            else:
                generated.append(col)
                order.append(col.name)
            continue
        if col.modes is None:
            _set_levels(col, values, counts, len(df), rare_fraction, max_levels, hide_rare)
        else:
            mode_values.append(np.where(inverse >= 0, values[inverse], np.nan))
        cols.append(col)
        order.append(col.name)
    if target is not None and str(target) not in [c.name for c in cols]:
        why = "marked ignore in the schema" if str(target) in [d["name"] for d in dropped] else \
            f"not learned ({next(c.kind for c in generated if c.name == str(target))})" if str(target) in order else "left out"
        raise ConfigError(f"target column {target!r} is {why}; a target must be a modelled column")
    if not cols:
        left = ", ".join(f"{c.name} ({c.kind})" for c in generated)
        raise DataError(f"{source or 'the table'} has no columns left to model (all are ignored"
                        + (f" or not learned: {left}" if left else "") + ")")
    sensitive = list(overrides.get("sensitive", ()))
    bad = [x for x in sensitive if x not in [c.name for c in cols]]
    if bad:
        raise ConfigError(f"schema: sensitive column(s) {', '.join(map(repr, bad))} are not modelled columns of the table; "
                          f"modelled: {', '.join(c.name for c in cols)}")
    if mode_values:
        fitted = iter(fit_column_modes(mode_values, n_modes=n_modes))
        for c in cols:
            if c.modes is not None:
                c.modes = next(fitted)
    options = {"max_onehot": max_onehot, "rare_fraction": rare_fraction, "max_levels": max_levels,
               "n_modes": n_modes, "na_values": list(overrides.get("na_values", ())), "hide_rare": hide_rare}
    schema = TableSchema(cols, str(target) if target is not None else None, len(df), source, options,
                         generated, order, dropped, [], sensitive)
    if overrides.get("constraints"):
        from .constraints import parse_constraints

        schema.constraints = parse_constraints(schema, overrides["constraints"])
    return schema


_SAFE_NAME = re.compile(r"^[A-Za-z_][\w\- .]*$")


def schema_yaml(schema: TableSchema) -> str:
    """The inferred kinds as an editable schema file."""
    lines = ["# genlab table schema: change a kind (continuous, discrete, categorical, boolean, datetime;",
             "# id, email, name, phone, address, text are never learned, only made up), write `ignore` to leave",
             "# a column out; use with --schema this-file.yaml"]
    if schema.target:
        lines.append(f"target: {schema.target}")
    lines.append("columns:")
    by_name = {c.name: c for c in schema.columns + schema.generated}
    for name in schema.output_names:
        c = by_name[name]
        key = c.name if _SAFE_NAME.match(c.name) else repr(c.name)
        lines.append(f"  {key}: {c.kind}   # {c.describe()}")
    for d in schema.dropped:
        key = d["name"] if _SAFE_NAME.match(d["name"]) else repr(d["name"])
        kind = f"{{kind: {d['kind']}, drop: true}}" if d.get("kind") else "ignore"
        lines.append(f"  {key}: {kind}   # {d['reason']}")
    if schema.sensitive:
        lines.append(f"sensitive: [{', '.join(schema.sensitive)}]")
    if schema.constraints:
        import json

        lines.append("constraints:")
        lines += [f"  - {json.dumps(c['spec'])}" for c in schema.constraints]
    return "\n".join(lines) + "\n"
