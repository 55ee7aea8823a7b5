"""Core commands: models, train, resume, sample, info."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..config import DataConfig, TrainConfig, apply_overrides, from_dict, load_config_file, to_dict
from ..errors import ConfigError
from . import main

DEVICE = click.option("--device", default=None, help="auto | cpu | cuda | cuda:N (default: auto)")


@main.command()
def models() -> None:
    """List every registered model with a one-line description."""
    from ..registry import list_models

    rows = list(list_models().items())
    width = max(len(n) for n, _ in rows)
    for name, cls in rows:
        click.echo(f"{name:<{width}}  {cls.family:<14} {cls.description}")


@main.command()
@click.argument("model")
@click.option("--data", "data", default=None, help="digits | mnist | fashion-mnist | a folder of images | a .npz file | ...")
@click.option("--out", "out", type=click.Path(), default=None, help="run folder to write (default: runs/MODEL)")
@click.option("--config", "config_file", type=click.Path(), default=None, help="YAML/JSON file with model/train/data sections")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="override any config value, e.g. --set model.latent_dim=8 --set train.lr=1e-3 (repeatable)")
@click.option("--epochs", type=int, default=None)
@click.option("--max-steps", type=int, default=None)
@click.option("--max-time", type=float, default=None, help="stop after this many seconds of training")
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--seed", type=int, default=None)
@DEVICE
@click.option("--root", default=None, help="folder holding built-in datasets (else $GENLAB_DATA or the cache)")
@click.option("--target", default=None, help="tables: the column to predict in utility metrics (data.target)")
@click.option("--schema", default=None, help="tables: column types, a schema.yaml or \"col=kind,...\" (data.schema)")
@click.option("--overwrite", is_flag=True, help="replace an existing run folder")
@click.option("--quiet", is_flag=True, help="no progress bar")
def train(model, data, out, config_file, overrides, epochs, max_steps, max_time, batch_size, lr, seed, device, root,
          target, schema, overwrite, quiet) -> None:
    """Train MODEL (see `genlab models`) and write a run folder."""
    from ..registry import get_model_class
    from ..training import train as run_train

    get_model_class(model)  # unknown names fail before anything is read
    sections = {"model": {}, "train": {}, "data": {}}
    if config_file:
        sections.update(load_config_file(config_file))
    flags = {"epochs": epochs, "max_steps": max_steps, "max_time": max_time, "batch_size": batch_size, "lr": lr,
             "seed": seed, "device": device}
    sections["train"].update({k: v for k, v in flags.items() if v is not None})
    if quiet:
        sections["train"]["progress"] = False
    if data is not None:
        sections["data"]["name"] = data
    if root is not None:
        sections["data"]["root"] = root
    sections["data"].update({k: v for k, v in {"target": target, "schema": schema}.items() if v is not None})
    sections = apply_overrides(sections, list(overrides))
    tc = from_dict(TrainConfig, sections["train"], "train")
    dc = from_dict(DataConfig, sections["data"], "data")
    out = Path(out or f"runs/{model}")
    run_train(model, dc, out, model_config=sections["model"], train_config=tc, overwrite=overwrite)
    _print_summary(out)


@main.command()
@click.argument("run", type=click.Path())
@click.option("--epochs", type=int, default=None, help="new total number of epochs")
@click.option("--max-steps", type=int, default=None, help="new total number of steps")
@click.option("--max-time", type=float, default=None, help="new total training-time budget in seconds")
@DEVICE
@click.option("--quiet", is_flag=True)
def resume(run, epochs, max_steps, max_time, device, quiet) -> None:
    """Continue RUN exactly where its last checkpoint stopped."""
    from ..training import resume as run_resume

    run_resume(run, epochs=epochs, max_steps=max_steps, max_time=max_time, device=device,
               progress=False if quiet else None)
    _print_summary(Path(run))


@main.command()
@click.argument("run", type=click.Path())
@click.option("-n", "n", type=int, default=None, help="number of samples (default 64; 1 for text)")
@click.option("-o", "output", type=click.Path(), default=None, help="output file: .png grid or .npz (images), ...")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--label", type=int, default=None, help="class to generate (conditional models)")
@click.option("--no-ema", is_flag=True, help="use the raw weights instead of the EMA weights")
@DEVICE
@click.option("--prompt", default=None, help="text models: the text to continue")
@click.option("--length", type=int, default=None, help="text models: tokens to generate")
@click.option("--temperature", type=float, default=None)
@click.option("--top-k", "top_k", type=int, default=None)
@click.option("--top-p", "top_p", type=float, default=None)
@click.option("--drop-unknown", "drop_unknown", is_flag=True, default=None, help="text models: drop prompt characters not in the vocabulary")
@click.option("--where", default=None, help='table models: conditions, e.g. "sex=Female,education=Masters"')
@click.option("--steps", type=int, default=None, help="diffusion models: sampling steps")
@click.option("--sampler", default=None, help="diffusion models: ddpm | ddim | ...")
@click.option("--guidance", type=float, default=None, help="diffusion models: classifier-free guidance scale")
def sample(run, n, output, seed, label, no_ema, device, **options) -> None:
    """Draw N samples from the model in RUN and write them to a file."""
    import torch

    from ..outputs import write_samples
    from ..training import load
    from ..training.trainer import resolve_device

    if n is not None and n < 1:
        raise ConfigError(f"-n must be a positive number of samples, got {n}")
    model = load(run, device=device or "auto", ema=not no_ema)
    n = n or (1 if hasattr(model, "stream") else 64)
    dev = resolve_device(device or "auto")
    gen = torch.Generator(device=dev).manual_seed(seed)
    labels = None if label is None else torch.full((n,), label, dtype=torch.long)
    opts = {k: v for k, v in options.items() if v is not None}
    if output is None and hasattr(model, "stream"):  # text: print to the terminal as it is produced
        for chunk in model.stream(n, labels=labels, generator=gen, **opts):
            click.echo(chunk, nl=False)
        return
    x = model.sample(n, labels=labels, generator=gen, **opts)
    default_suffix = {"image": ".png", "text": ".txt", "table": ".csv"}.get(model.info.modality, ".npz")
    path = Path(output or Path(run) / f"sample-seed{seed}{default_suffix}")
    write_samples(x, path, model.info, labels if labels is not None else None)
    click.echo(f"wrote {n} samples to {path}", err=str(path) == "-")


@main.command()
@click.argument("run", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="print the raw config and state as JSON")
def info(run, as_json) -> None:
    """Show a run's config, library versions, metrics and training time."""
    from ..training import checkpoint as ck

    cfg, state = ck.read_run_config(run), ck.read_state(run)
    if as_json:
        click.echo(json.dumps({"config": cfg, "state": state}, indent=2))
        return
    click.echo(f"run      {run}")
    click.echo(f"model    {cfg['model']}   data {cfg.get('data_config', {}).get('name')}   seed {cfg.get('seed')}")
    click.echo(f"status   {state.get('status', 'unknown')}   step {state.get('step')}   epoch {state.get('epoch')}"
               f"   training time {state.get('train_time_s', 0):.1f} s")
    click.echo("versions " + ", ".join(f"{k} {v}" for k, v in cfg.get("versions", {}).items() if k != "platform"))
    for section in ("model_config", "train_config", "data_config"):
        values = {k: v for k, v in cfg.get(section, {}).items() if v is not None}
        click.echo(f"{section.split('_')[0]:<8} " + ", ".join(f"{k}={v}" for k, v in values.items()))
    for split, m in state.get("final_metrics", {}).items():
        vals = {k: v for k, v in m.items() if k not in ("step", "epoch", "time")}
        click.echo(f"{split + ' metrics':<8} " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in vals.items()))


def _print_summary(run: Path) -> None:
    from ..training import checkpoint as ck

    state = ck.read_state(run)
    click.echo(f"{state.get('status', 'done')}: {run} (step {state.get('step')}, {state.get('train_time_s', 0):.1f} s training)")
    if state.get("status") == "interrupted":
        click.echo(f"continue with: genlab resume {run}")


@main.command()
@click.option("--out", type=click.Path(), default="runs/quickstart", show_default=True)
@click.option("--data", default="digits", show_default=True, help="dataset to train on")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--scale", type=float, default=1.0, show_default=True, help="multiply the number of epochs")
@click.option("-n", "n_eval", type=int, default=2000, show_default=True, help="samples per model for the comparison")
@click.option("--quiet", is_flag=True, help="no progress bars")
def quickstart(out, data, seed, scale, n_eval, quiet) -> None:
    """Train a Gaussian mixture, a VAE and a DCGAN on digits and compare them (no download, a few minutes)."""
    from .. import quickstart as qs

    qs.run(out, data=data, seed=seed, progress=not quiet, scale=scale, n_eval=n_eval, echo=click.echo)
