"""Progress of long evaluation steps (training a feature extractor, drawing samples, embedding them, held-out
likelihoods): tqdm bars and one-line ``genlab: ...`` stage messages, on stderr.

Shown when stderr is a terminal (tqdm's own test, as ``genlab sample`` does), not in logs or pipes.
``GENLAB_PROGRESS=1`` shows them anyway (a batch job's log), ``GENLAB_PROGRESS=0`` hides them.
"""
from __future__ import annotations

import os
import sys

ENV = "GENLAB_PROGRESS"


def forced() -> bool | None:
    """True / False when ``$GENLAB_PROGRESS`` says so, None to follow the terminal."""
    value = os.environ.get(ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return None


def shown() -> bool:
    f = forced()
    if f is not None:
        return f
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def stage(message: str) -> None:
    """One line saying what evaluation is doing now (and how much of it there is)."""
    if shown():
        print(f"genlab: {message}", file=sys.stderr, flush=True)


def bar(total: int, desc: str, unit: str = "it", leave: bool = False):
    """A tqdm bar on stderr, shown under the same rule as :func:`stage`."""
    from tqdm.auto import tqdm

    f = forced()
    tty = f is None and shown()  # forced on in a log: a fixed width, and the final count kept
    return tqdm(total=total, desc=desc, unit=unit, leave=leave or not tty, dynamic_ncols=tty, ncols=None if tty else 100,
                file=sys.stderr, disable=None if f is None else not f)
