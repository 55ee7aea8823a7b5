"""Download built-in datasets into a cache folder, verifying a checksum per file.

Files are fetched from ``MIRRORS[name]`` (or from ``$GENLAB_MIRROR/<name>/<file>`` when that variable is
set: a comma-separated list of base URLs), written to a temporary file and renamed into place only once
their checksum matches ``CHECKSUMS``. Checksums are hex MD5 (32 digits) or SHA-256 (64 digits).
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import DataError

MIRRORS: dict[str, list[str]] = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}

# MD5 of the canonical files, as published (and checked by torchvision's datasets/mnist.py)
CHECKSUMS: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

CHUNK = 1 << 20


def cache_dir(name: str) -> Path:
    """``$GENLAB_CACHE/data/<name>``, by default ``~/.cache/genlab/data/<name>``."""
    base = os.environ.get("GENLAB_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "genlab"
    return Path(base).expanduser() / "data" / name


def mirrors(name: str) -> list[str]:
    """Base URLs to try in order for dataset ``name``."""
    env = os.environ.get("GENLAB_MIRROR")
    if env:
        return [f"{u.strip().rstrip('/')}/{name}/" for u in env.split(",") if u.strip()]
    return list(MIRRORS.get(name, []))


def _hasher(checksum: str):
    return hashlib.md5(usedforsecurity=False) if len(checksum) == 32 else hashlib.sha256()


def download_file(url: str, dest: str | Path, checksum: str | None = None) -> Path:
    """Fetch ``url`` into ``dest`` atomically; raise DataError (leaving no file) on failure or bad checksum."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = _hasher(checksum) if checksum else None
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=60) as r:
            total = int(r.headers.get("Content-Length") or 0) or None
            bar = _progress(total, dest.name)
            while chunk := r.read(CHUNK):
                f.write(chunk)
                if h:
                    h.update(chunk)
                if bar:
                    bar.update(len(chunk))
            if bar:
                bar.close()
        if h and h.hexdigest() != checksum.lower():
            raise DataError(
                f"checksum mismatch for {dest.name} downloaded from {url}: expected {checksum}, got "
                f"{h.hexdigest()}; the file was deleted, try again or use another mirror (GENLAB_MIRROR)"
            )
        os.replace(tmp, dest)
        return dest
    except DataError:
        raise
    except Exception as e:  # URLError, HTTPError, timeouts, connection resets, disk full...
        reason = f"HTTP {e.code} {e.reason}" if isinstance(e, urllib.error.HTTPError) else getattr(e, "reason", e)
        raise DataError(
            f"could not download {dest.name} from {url}: {reason}; put the files in {dest.parent} "
            "or set GENLAB_DATA to a folder that holds them"
        ) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def fetch(name: str, files: list[str], dest: str | Path, checksums: dict[str, str] | None = None) -> Path:
    """Make sure ``dest`` holds every file in ``files`` of dataset ``name``, downloading what is missing."""
    dest = Path(dest)
    checksums = CHECKSUMS.get(name, {}) if checksums is None else checksums
    urls = mirrors(name)
    if not urls:
        raise DataError(f"no download mirror known for {name!r}; set GENLAB_MIRROR or put the files in {dest}")
    for file in files:
        if (dest / file).exists():
            continue
        errors = []
        for base in urls:
            try:
                download_file(base.rstrip("/") + "/" + file, dest / file, checksums.get(file))
                break
            except DataError as e:
                errors.append(str(e))
        else:
            raise DataError(errors[0] if len(errors) == 1 else "every mirror failed:\n  " + "\n  ".join(errors))
    return dest


def _progress(total: int | None, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:
        print(f"genlab: downloading {desc}", file=sys.stderr)
        return None
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False)
