"""``genlab sample``'s per-model flags, built from the sampling options the run's model declares.

The command reads RUN's ``config.json`` before it parses the other arguments, so ``genlab sample RUN --help``
lists the options of that run's model (``GenerativeModel.sample_options``), and a new model with a new option
needs no edit here. Values arrive as text and are converted and checked by the declarations
(``SampleOption.check``): a bad value or an option the model does not take is one ``error:`` line.
"""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError, GenlabError

# flags of `genlab sample` itself; a model option of one of these names is not offered on the command line
RESERVED = frozenset({"n", "output", "seed", "label", "no_ema", "device", "help", "run"})


def _run_arg(args: list[str]) -> str | None:
    """The RUN argument: the first argument that is a folder with a config.json, else the first non-flag."""
    plain = [a for a in args if not a.startswith("-")]
    for a in plain:
        if (Path(a) / "config.json").is_file():
            return a
    return plain[0] if plain else None


def _model_class(run: str):
    from ..registry import get_model_class
    from ..training import checkpoint as ck

    return get_model_class(ck.read_run_config(run)["model"])


def option_params(cls) -> list[click.Option]:
    """One click option per declared sampling option of model class ``cls`` (values stay text)."""
    params = []
    for spec in cls.option_specs().values():
        if spec.name in RESERVED:
            continue
        text = spec.help or spec.name.replace("_", " ")
        details = spec.describe() if spec.type not in (None, bool) else ""
        if spec.default is not None:
            details += (", " if details else "") + f"default {spec.default}"
        help_ = f"{text} ({details})" if details else text
        if spec.type is bool:
            opt = ModelOption([spec.flag, spec.name], is_flag=True, default=None, help=help_)
        else:
            metavar = "|".join(map(str, spec.choices)) if spec.choices else {int: "INT", float: "FLOAT"}.get(spec.type, "TEXT")
            opt = ModelOption([spec.flag, spec.name], default=None, metavar=metavar, help=help_)
        params.append(opt)
    return params


class ModelOption(click.Option):
    """A flag built from a model's SampleOption declaration (replaced for every RUN)."""


class SampleCommand(click.Command):
    """A command whose model-specific options come from the model of its RUN argument."""

    model_name: str | None = None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        base = [p for p in self.params if not isinstance(p, ModelOption)]
        run, cls = _run_arg(args), None
        if run is not None:
            try:
                cls = _model_class(run)
            except GenlabError:  # not a run: loading it later says so (help still shows the common flags)
                cls = None
        self.params = base + (option_params(cls) if cls is not None else [])
        self.model_name = cls.name if cls is not None else None
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as e:
            if cls is None:
                raise
            takes = ", ".join(o.flag for o in cls.option_specs().values() if o.name not in RESERVED) or "none"
            raise ConfigError(f"model {cls.name!r} has no sampling option {e.option_name}; it takes: {takes} "
                              f"(see genlab sample {run} --help)") from None

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        if self.model_name is None:
            formatter.write_paragraph()
            formatter.write_text("The sampling options depend on the model: `genlab sample RUN --help` lists those of "
                                 "RUN's model (e.g. --temperature, --steps, --where).")
