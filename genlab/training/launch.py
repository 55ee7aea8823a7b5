"""The launcher behind ``genlab train --nproc N``: torchrun (``torch.distributed.run``) with genlab's way of failing.

``python -m genlab.training.launch TORCHRUN-ARGS`` runs torchrun's own ``run`` in this process, with two
differences from ``torchrun``: its agent's log lines are silenced, and a failed rank ends the launch with one
line instead of torchrun's ``ChildFailedError`` report. Each rank writes its one-line error into the folder
``$GENLAB_ERROR_DIR`` (``genlab.cli`` does, instead of printing it); this launcher prints the line of the rank that
failed first (torchrun's root cause), or says how that rank ended when it left no line (a signal, a crash in C),
and exits with that rank's exit code. A signal to the launcher (Ctrl-C, SIGTERM) ends it with 128 + the signal.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

ERROR_DIR = "GENLAB_ERROR_DIR"


def error_file(rank: int | str) -> Path | None:
    """Where rank ``rank`` writes its one-line error under this launcher (None outside it)."""
    folder = os.environ.get(ERROR_DIR)
    return Path(folder) / f"rank-{rank}.txt" if folder else None


def failure_line(e, folder: Path) -> tuple[str, int]:
    """(the line to print, the exit code) for torchrun's ``ChildFailedError`` ``e``."""
    rank, failure = e.get_first_failure()
    lines = {int(p.stem.split("-")[1]): p.read_text(encoding="utf-8", errors="replace").strip()
             for p in folder.glob("rank-*.txt")}
    code = failure.exitcode if failure.exitcode > 0 else 1
    if lines.get(rank):
        return lines[rank], code
    if lines:  # the first rank to fail left no line, another one did
        return lines[min(lines)], code
    if failure.exitcode < 0:
        try:
            how = f"was killed by {signal.Signals(-failure.exitcode).name}"
        except ValueError:
            how = f"was killed by signal {-failure.exitcode}"
        return f"error: rank {rank} {how} (out of memory? see dmesg)", 128 - failure.exitcode
    return f"error: rank {rank} exited with code {failure.exitcode} without a message", code


def main(argv: list[str]) -> int:
    os.environ["LOGLEVEL"] = "CRITICAL"  # read by torch's elastic loggers when they are created (at import)
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    os.environ.pop("LOGLEVEL")
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="genlab-ranks-") as folder:
        os.environ[ERROR_DIR] = folder
        try:
            run(parse_args(argv))
            return 0
        except ChildFailedError as e:
            line, code = failure_line(e, Path(folder))
            print(line, file=sys.stderr, flush=True)
            return code
        except SignalException as e:  # the ranks got the signal too: each stopped (and rank 0 saved)
            return 128 + int(e.sigval)
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
