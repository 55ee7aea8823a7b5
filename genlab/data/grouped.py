"""Events grouped by item, with an items table describing every item (modality ``audience``).

Two sources:

* ``--data movielens-100k`` (``genlab/data/movielens.py``): ratings grouped by film, films described by
  genres and year;
* a user's own logs: ``--data events.csv --set data.group=ITEM_COLUMN --set data.context=items.csv``: an
  events table (one row per interaction: the item's id and the user's attributes) and an items table (the
  item's id in the same column name and its features). CSV/TSV or Parquet; column types are inferred by the
  table code (``genlab/data/tabular/schema.py``), ``data.schema`` overrides the events' kinds. A column of the
  events table named ``user``/``user_id``/``userid`` identifies users (for the recommendation embedding) and
  is not generated; without one, a user is a distinct combination of the event attributes.

The split is by *item*: the test split holds the events of items never seen in training (see
``genlab/audiences/protocol.py`` for the repeated novel-item protocol). Datasets carry ``x`` (event codes),
``ctx`` (the codes of the row's item in the items table), ``item`` (index of the row's item in the split's
item list) and ``user``; ``info.meta`` holds both schemas under ``meta["audience"]``.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..config import DataConfig
from ..errors import ConfigError, DataError
from .base import DataInfo, TensorDataset

BUILTIN = "movielens-100k"
ALIASES = ("movielens-100k", "movielens", "ml-100k")
USER_COLUMNS = ("user", "user_id", "userid")
N_NOVEL, MIN_EVENTS = 50, 20  # the default test split: up to 50 items with at least 20 events
AGE_BANDS = [18, 25, 35, 45, 50, 56]  # MovieLens' own age groups: <18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+


@dataclass
class Grouped:
    """Events and items as read and checked (all item ids as stripped strings)."""

    events: pd.DataFrame  # the attribute columns only
    item: np.ndarray  # item id per event (str)
    user: np.ndarray  # user key per event (int codes)
    items: pd.DataFrame  # content columns, indexed by item id
    group: str
    name: str
    multi: dict[str, list[str]] = field(default_factory=dict)  # e.g. {"genres": [flag columns]}
    bins: dict[str, list[float]] = field(default_factory=dict)  # fixed bins of numeric attributes for metrics
    kinds: dict[str, str] = field(default_factory=dict)  # column kinds known in advance (before data.schema)

    def counts(self) -> pd.Series:
        """Events per item, for every item of the items table."""
        return pd.Series(self.item).value_counts().reindex(self.items.index, fill_value=0)


def _examples(values, k: int = 3) -> str:
    return ", ".join(repr(v) for v in list(dict.fromkeys(values))[:k])


def _ids(s: pd.Series) -> np.ndarray:
    return s.astype(str).str.strip().to_numpy(dtype=object)


def check_grouped(events: pd.DataFrame, items: pd.DataFrame, group: str, events_name: str, items_name: str,
                  user: str | None = None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, pd.DataFrame]:
    """Validate two tables joined on ``group``; returns (attributes, item ids, user codes, items by id)."""
    if group not in events.columns:
        raise ConfigError(f"data.group={group!r} is not a column of {events_name}; its columns: "
                          f"{', '.join(map(str, events.columns))}")
    if len(events) == 0:
        raise DataError(f"{events_name} has no events")
    item = _ids(events[group])
    n_groups = len(set(item))
    if n_groups == len(events) and len(events) > 1:
        raise DataError(f"every {group!r} value of {events_name} has exactly one row ({n_groups} groups for {len(events)} "
                        f"events): data.group must name the item column that events share, not a per-event id")
    if group not in items.columns:
        raise ConfigError(f"the items table {items_name} has no column {group!r} (data.group); its columns: "
                          f"{', '.join(map(str, items.columns))}")
    ids = pd.Index(_ids(items[group]))
    if ids.has_duplicates:
        raise DataError(f"{items_name} lists item(s) {_examples(ids[ids.duplicated()])} more than once in column {group!r}")
    absent = ~pd.Index(item).isin(ids)
    if absent.any():
        raise DataError(f"{int(absent.sum())} events of {events_name} have {group!r} ids absent from {items_name} "
                        f"(e.g. {_examples(item[absent])}); add those items to the items table or drop the events")
    no_events = ~ids.isin(pd.Index(item))
    if no_events.any():
        raise DataError(f"{int(no_events.sum())} item(s) of {items_name} have no events in {events_name} (e.g. "
                        f"{_examples(ids[no_events])}); remove them from the items table (generate for new items "
                        f"with --context-file)")
    user_col = user or next((c for c in events.columns if str(c).lower() in USER_COLUMNS), None)
    attrs = events.drop(columns=[group] + ([user_col] if user_col else []))
    if attrs.shape[1] == 0:
        raise DataError(f"{events_name} has no user attributes to generate besides {group!r}")
    content = items.drop(columns=[group])
    if content.shape[1] == 0:
        raise DataError(f"{items_name} has no item features besides {group!r}")
    content.index = ids
    key = events[user_col] if user_col else attrs.astype(str).agg("|".join, axis=1)
    users = pd.factorize(key)[0].astype(np.int64)
    return attrs.reset_index(drop=True), item, users, content


_CACHE: dict[tuple, Grouped] = {}


def _stamp(p) -> tuple:
    p = Path(str(p)).expanduser()
    return (str(p), p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else (str(p),)


def read_grouped(cfg: DataConfig) -> Grouped:
    """The events and items named by ``cfg`` (cached for the last configuration)."""
    key = (cfg.name, _stamp(cfg.name), cfg.root, cfg.group, cfg.context, _stamp(cfg.context) if cfg.context else None)
    if key in _CACHE:
        return _CACHE[key]
    if cfg.name.lower() in ALIASES:
        from .movielens import GENRES, read_movielens

        if cfg.group not in (None, "film"):
            raise ConfigError(f"movielens-100k groups ratings by 'film'; drop data.group={cfg.group!r}")
        if cfg.context is not None:
            raise ConfigError("movielens-100k brings its own items table; drop data.context")
        events, items, user = read_movielens(cfg)
        attrs, item, users, content = check_grouped(events, items, "film", "u.data", "u.item", user=user)
        g = Grouped(attrs, item, users, content, "film", BUILTIN, {"genres": list(GENRES)}, {"age": list(AGE_BANDS)},
                    {"region": "categorical"})
    else:
        from .tabular.io import read_table

        path = Path(cfg.name).expanduser()
        if not path.is_file():
            raise DataError(f"unknown events data {cfg.name!r}: not {BUILTIN} and no such file (events are a .csv, .tsv "
                            f"or .parquet file)")
        if not cfg.group or not cfg.context:
            raise ConfigError(f"events data needs its item column and items table: --set data.group=ITEM_COLUMN "
                              f"--set data.context=items.csv (got group={cfg.group!r}, context={cfg.context!r})")
        events, items = read_table(path), read_table(cfg.context)
        attrs, item, users, content = check_grouped(events, items, cfg.group, path.name, Path(cfg.context).name)
        g = Grouped(attrs, item, users, content, cfg.group, path.stem)
    _CACHE.clear()
    _CACHE[key] = g
    return g


# ----------------------------------------------------------------------------- splits


def eligible_items(g: Grouped, min_events: int) -> np.ndarray:
    counts = g.counts()
    return counts.index[counts.to_numpy() >= min_events].to_numpy(dtype=object)


def choose_novel(g: Grouped, n_novel: int, min_events: int, seed: int) -> np.ndarray:
    """``n_novel`` random items (seeded) among those with at least ``min_events`` events."""
    if n_novel < 1 or min_events < 1:
        raise ConfigError(f"--novel and --min-events must be >= 1, got {n_novel} and {min_events}")
    pool = eligible_items(g, min_events)
    if n_novel > len(pool) or n_novel >= len(g.items):
        raise ConfigError(f"--novel {n_novel} is more than the {len(pool)} items with at least {min_events} events "
                          f"(of {len(g.items)} items, some must stay for training); lower --novel or --min-events")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, n_novel, replace=False))


def default_novel(g: Grouped) -> np.ndarray:
    """The test split of ``genlab train``: up to 50 items (a fifth of those eligible), seed 0."""
    pool = eligible_items(g, MIN_EVENTS)
    if len(pool) < 10:
        pool = eligible_items(g, 2)
    n = min(N_NOVEL, len(pool) // 5)
    if n < 1:
        return np.array([], dtype=object)
    return np.sort(np.random.default_rng(0).choice(pool, n, replace=False))


@dataclass
class Split:
    train: TensorDataset
    test: TensorDataset | None
    train_items: np.ndarray  # item ids, in the order of the ``item`` index
    test_items: np.ndarray
    train_frame: pd.DataFrame  # attribute rows as read (training items)
    test_frame: pd.DataFrame | None


def _numeric_bins(values: np.ndarray, k: int = 5) -> list[float]:
    v = values[np.isfinite(values)]
    if not len(v):
        return []
    return sorted(set(np.quantile(v, np.arange(1, k) / k).round(6).tolist()))


def items_schema_of(frame: pd.DataFrame, source: str):
    """The items table's schema. Every item has its own row, so a column the table code would take for an
    identifier (one value per row) is kept as a number when it holds numbers (a year), and left out of the
    context when it holds text (a title), with a note."""
    from .tabular.schema import infer_schema

    schema = infer_schema(frame, source=source)
    unlearned = getattr(schema, "generated", None) or []
    if not unlearned:
        return schema
    forced = {}
    for c in unlearned:
        s = frame[c.name].astype(str).str.strip()
        nums = pd.to_numeric(s[s != ""], errors="coerce")
        if len(nums) and nums.notna().all():
            forced[c.name] = "discrete" if (nums == nums.round()).all() else "continuous"
        else:
            forced[c.name] = "ignore"
            print(f"genlab: items column {c.name!r} has one distinct text per item (an identifier or a title); it is "
                  f"left out of the item context", file=sys.stderr)
    return infer_schema(frame, {"columns": forced}, source=source)


def make_split(g: Grouped, novel: np.ndarray, schema: str | dict | None = None) -> Split:
    """Datasets for training on every item except ``novel`` and testing on ``novel``."""
    from .tabular.codes import to_codes
    from .tabular.schema import infer_schema, parse_overrides

    novel_set = pd.Index(novel)
    is_test = pd.Index(g.item).isin(novel_set)
    train_items = g.items.index[~g.items.index.isin(novel_set)].to_numpy(dtype=object)
    if len(train_items) == 0:
        raise ConfigError("every item is held out; nothing is left for training")
    overrides = parse_overrides(schema)
    overrides["columns"] = {**g.kinds, **overrides.get("columns", {})}
    ev_train = g.events[~is_test].reset_index(drop=True)
    attr_schema = infer_schema(ev_train, overrides, source=g.name)
    items_schema = items_schema_of(g.items.loc[train_items].reset_index(drop=True), f"{g.name} items")
    bins = {}
    for c in attr_schema.columns:
        if not c.onehot and c.kind != "datetime":
            bins[c.name] = g.bins.get(c.name) or _numeric_bins(pd.to_numeric(ev_train[c.name], errors="coerce").to_numpy(float))
    meta = attr_schema.to_meta()
    meta["audience"] = {"group": g.group, "items": items_schema.to_meta(), "multi": g.multi, "bins": bins,
                        "item_ids": [str(i) for i in train_items], "source": g.name}

    def dataset(mask: np.ndarray, item_list: np.ndarray, unseen: str) -> TensorDataset:
        ev = g.events[mask].reset_index(drop=True)
        ids = g.item[mask]
        index = pd.Index(item_list).get_indexer(ids)
        item_codes = to_codes(items_schema, g.items.loc[item_list].reset_index(drop=True), unseen="nearest")
        tensors = {"x": torch.from_numpy(to_codes(attr_schema, ev, unseen=unseen)),
                   "ctx": torch.from_numpy(item_codes[index]),
                   "item": torch.from_numpy(index.astype(np.int64)),
                   "user": torch.from_numpy(g.user[mask])}
        info = DataInfo("audience", (len(attr_schema.columns),), name=g.name, meta=meta)
        return TensorDataset(tensors, info)

    train = dataset(~is_test, train_items, "error")
    test_items = np.sort(np.asarray(novel, dtype=object))
    test = dataset(is_test, test_items, "nearest") if is_test.any() else None
    return Split(train, test, train_items, test_items, ev_train, g.events[is_test].reset_index(drop=True) if is_test.any() else None)


_SPLITS: dict[tuple, Split] = {}
_SHOWN: set[tuple] = set()


def load_audience(cfg: DataConfig, split: str) -> TensorDataset:
    """Events of the training items (``train``) or of the held-out items (``test``, see :func:`default_novel`)."""
    g = read_grouped(cfg)
    key = (cfg.name, cfg.root, cfg.group, cfg.context, cfg.schema, id(g))
    if key not in _SPLITS:
        _SPLITS.clear()
        _SPLITS[key] = make_split(g, default_novel(g), cfg.schema)
    s = _SPLITS[key]
    if key not in _SHOWN:
        _SHOWN.add(key)
        print(f"genlab: {g.name}: {len(s.train)} events of {len(s.train_items)} items for training, "
              f"{len(s.test) if s.test is not None else 0} events of {len(s.test_items)} held-out items",
              file=sys.stderr)
    if split == "train":
        return s.train
    if s.test is None:
        raise DataError(f"{cfg.name} has too few items with events to hold some out")
    return s.test


def write_audience(samples: pd.DataFrame, path, info: DataInfo, labels=None) -> None:
    """Generated events: .csv/.tsv/.parquet as the table writer does (an item id column passes through);
    .npz: one array per column (text as unicode, no pickles; the trainer's previews)."""
    from .tabular.io import write_table

    if Path(path).suffix.lower() == ".npz":
        np.savez_compressed(path, **{str(c): (samples[c].to_numpy(dtype=str) if samples[c].dtype == object or
                                               pd.api.types.is_string_dtype(samples[c]) else samples[c].to_numpy())
                                     for c in samples.columns})
        return
    write_table(samples, path, info, labels)
