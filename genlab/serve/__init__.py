"""``genlab serve``: a web gallery and a sampling API over a folder of runs.

FastAPI and uvicorn are an optional extra (``pip install 'genlab[serve]'``); importing this package does not
import them. :func:`create_app` builds the application::

    from genlab.serve import create_app
    app = create_app("runs/", token=None, max_n=256, cache=4)

Read-only: the server never writes into the served folder (samples are written to a temporary folder and sent).
"""
from __future__ import annotations

from .limits import Limits

__all__ = ["Limits", "create_app", "missing_dependency"]


def missing_dependency() -> str | None:
    """None when FastAPI and uvicorn are importable, else one line telling how to install them."""
    import importlib.util

    absent = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if absent:
        return (f"genlab serve needs {' and '.join(absent)}, which are not installed: "
                "pip install 'genlab[serve]'")
    return None


def create_app(root, token: str | None = None, limits: Limits | None = None, **limit_overrides):
    """The FastAPI application serving the runs under ``root`` (see :mod:`genlab.serve.app`)."""
    from .app import build_app

    return build_app(root, token=token, limits=limits, **limit_overrides)
