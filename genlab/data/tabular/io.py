"""Reading tables (CSV and other delimited text, with or without header, UCI ``.data``/``.names``; parquet)
and writing samples back in the input's form (``write_table``, the table writer named in ``genlab/modalities/table.py``).

Text files are read as strings (column types are inferred afterwards, see ``schema.py``). The separator is
sniffed among ``, ; tab |``; spaces after separators are skipped (UCI Adult uses ``", "``). A file has no
header when a value of its first line is a number. Leading lines starting with ``|`` are UCI comments
(``adult.test`` begins with one). Column names of a headerless file come from a UCI ``.names`` file beside
it, else from the schema's ``names``, else ``col0, col1, ...``.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from ..base import DataInfo
from ...errors import ConfigError, DataError
from .schema import TableSchema

PARQUET = (".parquet", ".pq")
SNIFF_BYTES = 1 << 16


def read_table(path: str | Path, names: list[str] | None = None) -> pd.DataFrame:
    """The table in ``path`` as a DataFrame (text files: all columns as strings)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"table file {path} does not exist")
    if path.suffix.lower() in PARQUET:
        return _read_parquet(path)
    head = path.read_bytes()[:SNIFF_BYTES]
    if b"\x00" in head or head.startswith((b"PAR1", b"\x89PNG", b"PK\x03\x04", b"\x1f\x8b")):
        raise DataError(f"{path} is not a table: it is a binary file (genlab reads .csv/.tsv and other delimited "
                        f"text, or .parquet)")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = head.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
            raise DataError(f"{path} is not a text table") from None
    lines = text.splitlines()
    skip = 0
    while skip < len(lines) and (lines[skip].startswith("|") or not lines[skip].strip()):
        skip += 1  # UCI comment lines ("|1x3 Cross validator") and blank lines before the data
    body = [ln for ln in lines[skip:] if ln.strip()]
    if not body:
        raise DataError(f"{path} is empty: no rows to read")
    sep = _sniff_separator(path, body)
    first = [v.strip() for v in next(csv.reader([body[0]], delimiter=sep))]
    header = not any(_is_number(v) for v in first)
    if not header and names is None:
        names = _uci_names(path, len(first))
    try:
        df = pd.read_csv(path, sep=sep, header=0 if header else None, names=None if header else names,
                         skiprows=skip, dtype=str, keep_default_na=False, skipinitialspace=True,
                         skip_blank_lines=True, encoding="utf-8", encoding_errors="replace")
    except pd.errors.ParserError as e:
        raise DataError(f"{path} is not a well-formed table: {str(e).strip()}; every row needs the same number of "
                        f"'{sep}'-separated fields") from None
    except ValueError as e:  # e.g. names of the wrong length
        raise DataError(f"could not read {path}: {e}") from None
    if not header and names is None:
        df.columns = [f"col{i}" for i in range(df.shape[1])]
    df.columns = [str(c).strip() for c in df.columns]
    dup = df.columns[df.columns.duplicated()].tolist()
    if dup:
        raise DataError(f"{path}: column name(s) {', '.join(map(repr, dup))} appear more than once; rename them")
    df = df.apply(lambda s: s.str.strip())
    if not header and _uci_names(path, df.shape[1]) is not None:
        last = df.columns[-1]  # UCI test files end their labels with "." (">50K."): drop it
        if df[last].str.endswith(".").all():
            df[last] = df[last].str[:-1]
    return df


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except ImportError:
        raise DataError("reading .parquet needs pyarrow: pip install pyarrow") from None
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise DataError(f"{path} is not a readable parquet file: {e}") from None


def _sniff_separator(path: Path, body: list[str]) -> str:
    sample = "\n".join(body[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: body[0].count(d) for d in ",;\t|"}
        d = max(counts, key=counts.get)
        if counts[d] == 0:
            raise DataError(f"{path} does not look like a table: no column separator (, ; tab |) in its first line "
                            f"{body[0][:80]!r}") from None
        if len({ln.count(d) for ln in body[:50]}) > 1:
            raise DataError(f"{path} does not look like a table: its first lines have different numbers of "
                            f"{d!r}-separated fields") from None
        return d


def _is_number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _uci_names(path: Path, n_cols: int) -> list[str] | None:
    """Attribute names from a UCI ``.names`` file beside ``path`` (``name: continuous.`` lines); when it
    lists one column fewer than the file has, the last column is the class (``income`` for Adult)."""
    names_file = path.with_suffix(".names")
    if not names_file.is_file():
        return None
    attrs = re.findall(r"^([A-Za-z][\w\-]*):\s*[^\n]*\.\s*$", names_file.read_text(encoding="utf-8", errors="replace"), re.M)
    if len(attrs) == n_cols - 1:
        return attrs + ["income" if path.stem == "adult" else "class"]
    return attrs if len(attrs) == n_cols else None


# ----------------------------------------------------------------------------- writing


def write_table(samples: pd.DataFrame, path: Path, info: DataInfo, labels=None) -> None:
    """``.csv`` (missing values spelled as in the input, dates in the input's format) or ``.parquet``."""
    if not isinstance(samples, pd.DataFrame):
        raise ConfigError(f"table samples must be a pandas DataFrame, got {type(samples).__name__}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PARQUET:
        try:
            samples.to_parquet(path, index=False)
        except ImportError:
            raise ConfigError("writing .parquet needs pyarrow: pip install pyarrow") from None
        return
    if suffix not in (".csv", ".tsv", ".txt"):
        raise ConfigError(f"table samples are written as .csv, .tsv or .parquet, not {path.suffix or 'no suffix'}")
    schema = TableSchema.from_meta(info.meta)
    out = samples.copy()
    for col in schema.columns:
        if col.name not in out.columns:
            continue
        s = out[col.name]
        if col.kind == "datetime" and col.datetime_format:
            s = s.dt.strftime(col.datetime_format)
        if col.na_token is not None and s.isna().any():
            s = s.astype(object).where(s.notna(), col.na_token)
        out[col.name] = s
    out.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")

