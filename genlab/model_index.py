"""A cached index of the registered models (name, family, description, density), so that `genlab models` lists
them without importing torch and every model family.

The index is rebuilt from the live registry (:func:`genlab.list_models`) whenever any file under
``genlab/models/`` changes (size or modification time) or genlab's version does, and kept in genlab's cache
folder (``$GENLAB_CACHE``, else ``$XDG_CACHE_HOME/genlab``, else ``~/.cache/genlab``). When the cache cannot be
written, the index is simply built in memory each time.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

FIELDS = ("name", "family", "description", "density", "likelihood_estimator", "module")


def cache_dir() -> Path:
    if os.environ.get("GENLAB_CACHE"):
        return Path(os.environ["GENLAB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "genlab"


def _source_key() -> str:
    from . import __version__

    root = Path(__file__).parent / "models"
    h = hashlib.sha256(f"{__version__}|{root.resolve()}".encode())
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            if f.endswith(".py"):
                st = os.stat(os.path.join(dirpath, f))
                h.update(f"{dirpath}/{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def _density(cls) -> str:
    """explicit (exact / approximate likelihood) or implicit, as `genlab models --tree` groups models."""
    if getattr(cls, "density", None):
        return cls.density
    if not cls._overrides("log_likelihood"):
        return "implicit"
    return "exact" if (cls.likelihood_estimator or "exact").startswith("exact") else "approximate"


def build() -> list[dict]:
    """The index from the live registry (imports every family). Only genlab's own models: classes registered
    by user code or tests live in their process only."""
    from .registry import list_models

    return [{"name": name, "family": cls.family, "description": cls.description, "density": _density(cls),
             "likelihood_estimator": cls.likelihood_estimator, "module": cls.__module__}
            for name, cls in list_models().items() if cls.__module__.startswith("genlab.")]


def _cached(key: str) -> list[dict] | None:
    try:
        data = json.loads((cache_dir() / "model-index.json").read_text(encoding="utf-8"))
        if data.get("key") == key and isinstance(data.get("models"), list):
            return data["models"]
    except (OSError, ValueError, AttributeError):
        pass
    return None


def module_of(name: str) -> str | None:
    """The module defining genlab model ``name`` according to a fresh cache, else None (no import)."""
    models = _cached(_source_key())
    for r in models or ():
        if isinstance(r, dict) and r.get("name") == name and str(r.get("module", "")).startswith("genlab."):
            return r["module"]
    return None


def rows() -> list[dict]:
    """The index: from the cache when it matches the installed sources, else built and cached."""
    key = _source_key()
    path = cache_dir() / "model-index.json"
    cached = _cached(key)
    if cached is not None:
        return cached
    models = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"key": key, "models": models}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
    return models
