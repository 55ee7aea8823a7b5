"""Tables: CSV / delimited text (with or without header, UCI ``.data`` + ``.names``), parquet, and the
built-in UCI Adult (``data.name=adult``).

The training split is read, its column types are inferred (overridden by ``data.schema``: a YAML file or
``"col=kind,..."``) and its encodings fitted; both splits are then turned into *codes* (see
``genlab/data/tabular/codes.py``): ``x`` float64 (rows, columns). The fitted schema goes into
``DataInfo.meta`` so a trained model can write records without the data. The test split is the
``data.test`` file when given, else ``adult.test`` for Adult, ``NAME.test`` beside a UCI ``NAME.data``
file, else a ``val_fraction`` holdout (``val_fraction=0``: none, every row trains). The split, the columns
that are not learned (identifiers, personal data, hidden rare values) and the share of real rows breaking
each declared constraint are printed when a table is first read.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from ..config import DataConfig
from ..errors import DataError
from .tabular.codes import to_codes, typed_frame
from .tabular.constraints import check_data
from .tabular.io import read_table
from .tabular.schema import infer_schema, parse_overrides
from . import download
from .base import DataInfo, TensorDataset
from .images import holdout_indices

ADULT_FILES = ("adult.data", "adult.test", "adult.names")
# the UCI archive's canonical files (SHA-256); registered with the downloader like the image mirrors
download.MIRRORS.setdefault("adult", ["https://archive.ics.uci.edu/ml/machine-learning-databases/adult/"])
download.CHECKSUMS.setdefault("adult", {
    "adult.data": "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
    "adult.test": "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
    "adult.names": "c248284c0b5de30c9e1958d6cdd168a34a654758b620e68f46aefa83fc0a576a",
})

_CACHE: dict[tuple, tuple] = {}  # the last prepared table, shared by the train and test loads
_SHOWN: set[tuple] = set()


def adult_folder(cfg: DataConfig) -> Path:
    """A folder holding ``adult.data`` and ``adult.test``: ``root/adult``, ``root/tabular``, ``root``,
    ``$GENLAB_DATA/adult`` or ``/tabular``, the cache; else downloaded (checksums verified)."""
    candidates = []
    for base in [cfg.root, os.environ.get("GENLAB_DATA")]:
        if base:
            b = Path(base).expanduser()
            candidates += [b / "adult", b / "tabular"] + ([b] if base == cfg.root else [])
    candidates.append(download.cache_dir("adult"))
    for folder in candidates:
        if all((folder / f).is_file() for f in ADULT_FILES[:2]):
            return folder
    if not cfg.download:
        raise DataError(f"UCI Adult not found; looked in: {', '.join(map(str, candidates))}. Set data.download=true "
                        f"to download it, or put adult.data and adult.test in one of those folders")
    dest = Path(cfg.root).expanduser() / "adult" if cfg.root else download.cache_dir("adult")
    return download.fetch("adult", list(ADULT_FILES), dest)


def table_source(cfg: DataConfig) -> tuple[Path, Path | None, str]:
    """(training file, test file or None, dataset name) for ``cfg.name``."""
    if cfg.name.lower() == "adult":
        folder = adult_folder(cfg)
        return folder / "adult.data", folder / "adult.test", "adult"
    path = Path(cfg.name).expanduser()
    if path.is_dir():
        raise DataError(f"{path} is a folder; table data is one file (.csv, .tsv, .data, .parquet)")
    if not path.is_file():
        raise DataError(f"unknown table dataset {cfg.name!r}: not the built-in 'adult' and no such file "
                        f"(table data is a .csv, .tsv, UCI .data or .parquet file)")
    test = path.with_suffix(".test")
    return path, (test if path.suffix == ".data" and test.is_file() else None), path.stem


def _key(cfg: DataConfig) -> tuple:
    def stamp(p):
        p = Path(p).expanduser()
        return (str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else str(p)

    test = getattr(cfg, "test", None)
    return (cfg.name, stamp(cfg.name), cfg.root, cfg.schema, stamp(cfg.schema) if cfg.schema else None,
            cfg.target, cfg.limit, cfg.val_fraction, test, stamp(test) if test else None)


def read_splits(cfg: DataConfig, names: list[str] | None = None) -> tuple:
    """(training rows, test rows or None, dataset name) as read, before any type inference: the ``data.test``
    file, else the dataset's test file when there is one, else a ``val_fraction`` holdout (none when it is
    0); ``limit`` applies to the training rows."""
    return _read_splits(cfg, names)[:3]


def _read_splits(cfg: DataConfig, names: list[str] | None = None) -> tuple:
    """:func:`read_splits` plus a line saying where the test rows came from."""
    train_path, test_path, name = table_source(cfg)
    given = getattr(cfg, "test", None)
    if given:
        test_path = Path(given).expanduser()
        if not test_path.is_file():
            what = "is a folder; give one table file" if test_path.is_dir() else "does not exist"
            raise DataError(f"test table {given} {what} (data.test / --test)")
    df = read_table(train_path, names)
    test_df = read_table(test_path, names) if test_path else None
    if test_df is not None:
        test_df = _same_columns(df, test_df, test_path, train_path)
        source = f"from {test_path.name}"
    elif cfg.val_fraction == 0 or len(df) < 2:
        source = "none (data.val_fraction=0: every row trains)" if cfg.val_fraction == 0 else "none (a one-row table)"
    else:
        test_df = df.iloc[holdout_indices(len(df), cfg.val_fraction, "test")]
        df = df.iloc[holdout_indices(len(df), cfg.val_fraction, "train")]
        source = (f"a seeded {cfg.val_fraction:g} holdout of the file: --set data.val_fraction=0 trains on every row, "
                  f"--test FILE (data.test) gives held-out rows")
    if cfg.limit:
        df = df.iloc[: cfg.limit]
    return df, test_df, name, source


def _same_columns(df, test_df, test_path: Path, train_path: Path):
    """The test rows with the training table's columns, in its order; a test table with other columns stops."""
    unnamed = [f"col{i}" for i in range(test_df.shape[1])]
    if list(test_df.columns) == unnamed and list(df.columns) != unnamed:  # no header line: the training names
        if test_df.shape[1] != df.shape[1]:
            raise DataError(f"test table {test_path.name} has no header and {test_df.shape[1]} columns; the training "
                            f"table {train_path.name} has {df.shape[1]} ({', '.join(map(str, df.columns))})")
        test_df.columns = df.columns
    missing = [c for c in df.columns if c not in test_df.columns]
    extra = [c for c in test_df.columns if c not in df.columns]
    if missing or extra:
        parts = ([f"lacks {', '.join(map(repr, missing))}"] if missing else []) + (
            [f"has {', '.join(map(repr, extra))} that the training table does not"] if extra else [])
        raise DataError(f"test table {test_path.name} does not have the columns of {train_path.name}: it "
                        f"{' and '.join(parts)} (data.test / --test needs the same columns)")
    return test_df[list(df.columns)]


def prepare_table(cfg: DataConfig) -> tuple:
    """Read the training table, infer and fit its schema; returns (schema, train codes, test codes or None,
    training DataFrame, test DataFrame or None), the frames as read. Cached for the last configuration, so
    the train and test loads share the work."""
    key = _key(cfg)
    if key in _CACHE:
        return _CACHE[key]
    overrides = parse_overrides(cfg.schema)
    df, test_df, name, split = _read_splits(cfg, overrides.get("names"))
    target = cfg.target or ("income" if name == "adult" and not overrides.get("target") else None)
    schema = infer_schema(df, overrides, target, source=name)
    train = to_codes(schema, df)
    test = to_codes(schema, test_df, unseen="nearest") if test_df is not None and len(test_df) else None
    checks = check_data(schema, typed_frame(schema, df)) if schema.constraints else []
    _CACHE.clear()
    _CACHE[key] = (schema, train, test, df.reset_index(drop=True),
                   test_df.reset_index(drop=True) if test_df is not None else None)
    if key not in _SHOWN:
        _SHOWN.add(key)
        n_test = 0 if test_df is None else len(test_df)
        lines = [f"genlab: table {name}: {len(df)} training rows, {n_test} test rows ({split}; the test rows are the "
                 f"validation rows while training and genlab evaluate's default test)" if n_test else
                 f"genlab: table {name}: {len(df)} training rows, no test rows ({split})",
                 f"column types (change with --schema FILE or `genlab schema {cfg.name} -o schema.yaml`):",
                 schema.summary()]
        if schema.not_learned():
            lines += ["not learned from the real values:"] + [f"  {x}" for x in schema.not_learned()]
        lines += checks
        print("\n".join(lines), file=sys.stderr)
    return _CACHE[key]


def load_table(cfg: DataConfig, split: str) -> TensorDataset:
    """The ``split`` of table ``cfg.name`` as codes ``x`` (rows, columns) with the schema in ``info.meta``."""
    schema, train, test, _, _ = prepare_table(cfg)
    codes = train if split == "train" else test
    if codes is None:
        raise DataError(f"{cfg.name} has no test split (a one-row table)")
    info = DataInfo("table", (len(schema.columns),), name=Path(schema.source).stem or "table", meta=schema.to_meta())
    return TensorDataset({"x": torch.from_numpy(codes)}, info)

