"""Tables: CSV / delimited text (with or without header, UCI ``.data`` + ``.names``), parquet, and the
built-in UCI Adult (``data.name=adult``).

The training split is read, its column types are inferred (overridden by ``data.schema``: a YAML file or
``"col=kind,..."``) and its encodings fitted; both splits are then turned into *codes* (see
``genlab/tabular/codes.py``): ``x`` float64 (rows, columns). The fitted schema goes into
``DataInfo.meta`` so a trained model can write records without the data. The test split is
``adult.test`` for Adult, ``NAME.test`` beside a UCI ``NAME.data`` file, else a ``val_fraction`` holdout.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from ..config import DataConfig
from ..errors import DataError
from ..tabular.codes import to_codes
from ..tabular.io import read_table
from ..tabular.schema import infer_schema, parse_overrides
from . import download, register_loader
from .base import DataInfo, TensorDataset
from .images import _holdout

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

    return (cfg.name, stamp(cfg.name), cfg.root, cfg.schema, stamp(cfg.schema) if cfg.schema else None,
            cfg.target, cfg.limit, cfg.val_fraction)


def read_splits(cfg: DataConfig, names: list[str] | None = None) -> tuple:
    """(training rows, test rows or None, dataset name) as read, before any type inference: the test file
    when there is one, else a ``val_fraction`` holdout; ``limit`` applies to the training rows."""
    train_path, test_path, name = table_source(cfg)
    df = read_table(train_path, names)
    test_df = read_table(test_path, names or list(df.columns)) if test_path else None
    if test_df is None:
        test_df = df.iloc[_holdout(len(df), cfg.val_fraction, "test")] if len(df) > 1 else None
        df = df.iloc[_holdout(len(df), cfg.val_fraction, "train")] if len(df) > 1 else df
    if cfg.limit:
        df = df.iloc[: cfg.limit]
    return df, test_df, name


def prepare_table(cfg: DataConfig) -> tuple:
    """Read the training table, infer and fit its schema; returns (schema, train codes, test codes or None,
    training DataFrame, test DataFrame or None), the frames as read. Cached for the last configuration, so
    the train and test loads share the work."""
    key = _key(cfg)
    if key in _CACHE:
        return _CACHE[key]
    overrides = parse_overrides(cfg.schema)
    df, test_df, name = read_splits(cfg, overrides.get("names"))
    target = cfg.target or ("income" if name == "adult" and not overrides.get("target") else None)
    schema = infer_schema(df, overrides, target, source=name)
    train = to_codes(schema, df)
    test = to_codes(schema, test_df, unseen="nearest") if test_df is not None and len(test_df) else None
    _CACHE.clear()
    _CACHE[key] = (schema, train, test, df.reset_index(drop=True),
                   test_df.reset_index(drop=True) if test_df is not None else None)
    if key not in _SHOWN:
        _SHOWN.add(key)
        print(f"genlab: table {name}: {len(df)} rows; column types (change with --schema FILE or "
              f"`genlab schema {cfg.name} -o schema.yaml`):\n{schema.summary()}", file=sys.stderr)
    return _CACHE[key]


@register_loader("table")
def load_table(cfg: DataConfig, split: str) -> TensorDataset:
    """The ``split`` of table ``cfg.name`` as codes ``x`` (rows, columns) with the schema in ``info.meta``."""
    schema, train, test, _, _ = prepare_table(cfg)
    codes = train if split == "train" else test
    if codes is None:
        raise DataError(f"{cfg.name} has no test split (a one-row table)")
    info = DataInfo("table", (len(schema.columns),), name=Path(schema.source).stem or "table", meta=schema.to_meta())
    return TensorDataset({"x": torch.from_numpy(codes)}, info)

