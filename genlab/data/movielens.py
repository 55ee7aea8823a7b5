"""MovieLens 100K (GroupLens; Harper & Konstan 2015) as events grouped by film, for ``--data movielens-100k``.

An event is one rating: ``(film, age, gender, occupation, region, rating)`` with ``region`` the first
character of the rater's zip code (a digit for the US; ``other`` for the few non-US codes). A film's
context is its 19 genre flags (columns named by genre) and its release year. The rater's id is kept
aside, for the recommendation embedding, and is not generated.

The files are read from a folder holding ``u.data``, ``u.user``, ``u.item`` (``u.genre``, ``u.occupation``)
or from GroupLens' ``ml-100k.zip``: ``root/movielens-100k``, ``root``, ``$GENLAB_DATA/movielens-100k`` or
the cache; else the zip is downloaded from GroupLens (SHA-256 verified) into the cache. GroupLens' terms
forbid redistribution, so genlab never ships a copy.
"""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import DataConfig
from ..errors import DataError
from . import download

NAME = "movielens-100k"
ZIP = "ml-100k.zip"
FILES = ("u.data", "u.user", "u.item")
GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]

download.MIRRORS.setdefault(NAME, ["https://files.grouplens.org/datasets/movielens/"])
download.CHECKSUMS.setdefault(NAME, {ZIP: "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"})


def candidates(cfg: DataConfig) -> list[Path]:
    out = []
    if cfg.root:
        out += [Path(cfg.root).expanduser() / NAME, Path(cfg.root).expanduser()]
    if os.environ.get("GENLAB_DATA"):
        out.append(Path(os.environ["GENLAB_DATA"]).expanduser() / NAME)
    out.append(download.cache_dir(NAME))
    return out


def _source(folder: Path) -> Path | None:
    """The extracted files' folder, or the zip, found in ``folder``."""
    for d in (folder, folder / "ml-100k"):
        if all((d / f).is_file() for f in FILES):
            return d
    return folder / ZIP if (folder / ZIP).is_file() else None


def locate(cfg: DataConfig) -> Path:
    """A folder of extracted files or the zip; downloaded into the cache (or ``root``) when missing."""
    looked = candidates(cfg)
    for folder in looked:
        src = _source(folder)
        if src is not None:
            return src
    if not cfg.download:
        raise DataError(f"MovieLens 100K not found; looked in: {', '.join(map(str, looked))}. Set data.download=true "
                        f"to download {ZIP} from GroupLens, or put {ZIP} (or u.data, u.user, u.item) in one of them")
    dest = Path(cfg.root).expanduser() / NAME if cfg.root else download.cache_dir(NAME)
    return download.fetch(NAME, [ZIP], dest) / ZIP


def _read_raw(src: Path) -> dict[str, bytes]:
    if src.suffix != ".zip":
        return {f: (src / f).read_bytes() for f in FILES}
    try:
        with zipfile.ZipFile(src) as z:
            names = {Path(n).name: n for n in z.namelist()}
            missing = [f for f in FILES if f not in names]
            if missing:
                raise DataError(f"{src} is not the MovieLens 100K archive: it has no {', '.join(missing)}")
            return {f: z.read(names[f]) for f in FILES}
    except zipfile.BadZipFile:
        raise DataError(f"{src} is not a valid zip file; delete it and run again to download it anew") from None


def _csv(raw: bytes, sep: str, names: list[str], what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(io.BytesIO(raw), sep=sep, header=None, names=names, dtype=str, keep_default_na=False,
                           encoding="latin-1", quoting=3)
    except (pd.errors.ParserError, ValueError) as e:
        raise DataError(f"MovieLens {what} could not be read: {e}") from None


def read_movielens(cfg: DataConfig) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(events, items, user id column) as DataFrames: events ``film, age, gender, occupation, region,
    rating, user``; items ``film``, one 0/1 column per genre, ``year`` (missing for the one undated film)."""
    src = locate(cfg)
    raw = _read_raw(src)
    data = _csv(raw["u.data"], "\t", ["user", "film", "rating", "time"], "u.data")
    users = _csv(raw["u.user"], "|", ["user", "age", "gender", "occupation", "zip"], "u.user")
    items = _csv(raw["u.item"], "|", ["film", "title", "release", "video", "url"] + GENRES, "u.item")
    if len(data) == 0 or len(users) == 0 or len(items) == 0:
        raise DataError(f"MovieLens files in {src} are empty")
    z = users["zip"].str.strip().str[:1]
    users["region"] = np.where(z.str.isdigit(), z, "other")
    events = data.merge(users[["user", "age", "gender", "occupation", "region"]], on="user", how="left")
    if events["age"].isna().any() or (events["age"] == "").any():
        raise DataError(f"u.data in {src} rates users missing from u.user")
    events = events[["film", "age", "gender", "occupation", "region", "rating", "user"]].reset_index(drop=True)
    year = pd.to_datetime(items["release"], format="%d-%b-%Y", errors="coerce").dt.year
    content = items[["film"] + GENRES].copy()
    content["year"] = year.astype("Int64").astype(str).replace("<NA>", "")
    return events, content, "user"


def titles(cfg: DataConfig) -> dict[str, str]:
    """Film id -> title, for reports."""
    items = _csv(_read_raw(locate(cfg))["u.item"], "|", ["film", "title", "release", "video", "url"] + GENRES, "u.item")
    return dict(zip(items["film"], items["title"]))
