"""The ``genlab`` command line. Each ``cmd_*.py`` module in this package adds its commands to ``main``."""
from __future__ import annotations

import importlib
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
            click.secho(f"error: {e}", fg="red", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="genlab")
def main() -> None:
    """genlab: train, sample from, evaluate and compare deep generative models."""


for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("cmd_")):
    importlib.import_module(f"{__name__}.{_mod}")
