"""The ``genlab`` command line. Each ``cmd_*.py`` module in this package adds its commands to ``main``."""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import click

from ..errors import GenlabError


class _Group(click.Group):
    """Turns genlab errors into one clear line and a non-zero exit, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GenlabError as e:
            _fail(f"error: {e}", 2)
        except KeyboardInterrupt as e:
            click.echo(f"interrupted: {e}" if str(e) else "interrupted", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as e:
            if _rank() is None or os.environ.get("GENLAB_DEBUG"):
                raise
            # a rank under torch.distributed: one line (a traceback per rank buries the cause); GENLAB_DEBUG=1 shows it
            _fail(f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
                  "(set GENLAB_DEBUG=1 for the traceback)", 1)


def _rank() -> str | None:
    """This process's rank under torch.distributed (torchrun or --nproc), None for a single process."""
    return os.environ.get("RANK") if (os.environ.get("WORLD_SIZE") or "1") != "1" else None


def _fail(line: str, code: int) -> None:
    """Print ``line`` and exit with ``code``. A rank under ``--nproc`` hands the line to the launcher instead, which
    prints the first failed rank's line once; under plain torchrun ranks other than 0 say which rank they are."""
    rank = _rank()
    if rank is not None:
        from ..training.launch import error_file

        path = error_file(rank)
        if path is not None:
            try:
                path.write_text(line + "\n", encoding="utf-8")
                sys.exit(code)
            except OSError:
                pass
        if rank != "0":
            line = line.replace("error:", f"error (rank {rank}):", 1)
    click.secho(line, fg="red", err=True)
    sys.exit(code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="genlab")
def main() -> None:
    """genlab: train, sample from, evaluate and compare deep generative models."""


# Start-up: `genlab --help`, `genlab models` and `genlab info` must not pay for torch, pandas, scikit-learn or
# matplotlib (tests/test_performance.py checks). cmd_* modules import those inside their command functions.
for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("cmd_")):
    importlib.import_module(f"{__name__}.{_mod}")


# ----------------------------------------------------------------------------- --threads
# Commands that compute get `--threads N` (torch CPU threads), set before the command does any work. Without it,
# $OMP_NUM_THREADS when set, else the physical cores (1 per process under torch.distributed).
LIGHT_COMMANDS = {"models", "info"}


def _set_threads(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    import os

    if value is None and os.environ.get("OMP_NUM_THREADS"):
        return None
    from ..training.hardware import set_threads

    n = set_threads(value)
    if value is not None:
        ctx.meta["genlab.threads"] = n  # recorded as train.threads by `genlab train` / `resume`
    return n


def _add_threads_option(cmd: click.Command) -> None:
    if cmd.name in LIGHT_COMMANDS or any(p.name == "threads" for p in cmd.params):
        return
    cmd.params.append(click.Option(
        ["--threads"], type=click.IntRange(1, 4096), default=None, expose_value=False, callback=_set_threads,
        help="CPU threads for torch (default: $OMP_NUM_THREADS, else the physical cores; 1 per process under "
             "torch.distributed)"))


def _walk(group: click.Group):
    for cmd in group.commands.values():
        yield cmd
        if isinstance(cmd, click.Group):
            yield from _walk(cmd)


for _cmd in list(_walk(main)):
    _add_threads_option(_cmd)
