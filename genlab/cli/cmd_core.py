"""Core commands: models, train, resume, sample, info."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..config import DataConfig, TrainConfig, apply_overrides, from_dict, load_config_file, to_dict
from ..errors import ConfigError
from . import main
from .sample_options import SampleCommand

DEVICE = click.option("--device", default=None, help="auto | cpu | cuda | cuda:N (default: auto)")


@main.command()
@click.option("--tree", is_flag=True, help="group the models by density: explicit (exact / approximate) or implicit")
def models(tree) -> None:
    """List every registered model with a one-line description."""
    from ..model_index import rows as index_rows  # a cached index: no torch, no model families imported

    rows = [(r["name"], r) for r in index_rows()]
    width = max(len(n) for n, _ in rows)
    if not tree:
        for name, r in rows:
            click.echo(f"{name:<{width}}  {r['family']:<14} {r['description']}")
        return
    branches = {"exact": "explicit density, exact likelihood",
                "approximate": "explicit density, approximate likelihood (a bound or an estimate: not ranked against exact NLLs)",
                "implicit": "implicit density (or no likelihood implemented): samples only"}
    for key, title in branches.items():
        click.echo(title)
        for name, r in rows:
            if r["density"] == key:
                click.echo(f"  {name:<{width}}  {r['family']:<14} {r['likelihood_estimator'] or '-'}")


def _density(cls) -> str:
    """Where a model class sits in the family tree: its ``density``, else derived from its likelihood."""
    if cls.density:
        return cls.density
    if not cls._overrides("log_likelihood"):
        return "implicit"
    return "exact" if (cls.likelihood_estimator or "exact").startswith("exact") else "approximate"


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
@click.option("--max-cpu-time", type=float, default=None,
              help="stop after this many process CPU seconds of training (a time budget replaces the epoch default)")
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None,
              help="learning rate of every optimiser (train.lr; default: the model's own, recorded in config.json)")
@click.option("--seed", type=int, default=None)
@DEVICE
@click.option("--root", default=None, help="folder holding built-in datasets (else $GENLAB_DATA or the cache)")
@click.option("--target", default=None, help="tables: the column to predict in utility metrics (data.target)")
@click.option("--schema", default=None, help="tables: column types, a schema.yaml or \"col=kind,...\" (data.schema)")
@click.option("--test", "test_file", default=None, metavar="FILE",
              help="tables: held-out rows with the training table's columns (data.test); else the dataset's own "
                   "test file or a data.val_fraction holdout (0: every row trains)")
@click.option("--overwrite", is_flag=True, help="replace an existing run folder")
@click.option("--quiet", is_flag=True, help="no progress bar")
@click.option("--nproc", type=int, default=None,
              help="data-parallel training on N processes of this machine (torchrun --standalone; batch size is "
                   "per process; see docs/distributed.md)")
def train(model, data, out, config_file, overrides, epochs, max_steps, max_time, max_cpu_time, batch_size, lr, seed,
          device, root, target, schema, test_file, overwrite, quiet, nproc) -> None:
    """Train MODEL (see `genlab models`) and write a run folder."""
    from ..registry import get_model_class
    from ..training import train as run_train

    cls = get_model_class(model)  # unknown names fail before anything is read
    if test_file is not None and "table" not in cls.modalities:
        raise ConfigError(f"--test FILE is for table models; {model} trains on {' or '.join(cls.modalities)} data")
    if nproc is not None:
        import sys

        from ..training import distributed as dist

        dist.check_nproc(nproc, device)
        if nproc > 1:
            if sys.argv[1:2] != ["train"]:
                raise ConfigError("--nproc relaunches the `genlab train` command line; from Python use torchrun")
            raise SystemExit(dist.launch(dist.strip_nproc(sys.argv[1:]), nproc,
                                         click.get_current_context().meta.get("genlab.threads")))
    sections = {"model": {}, "train": {}, "data": {}}
    if config_file:
        sections.update(load_config_file(config_file))
    flags = {"epochs": epochs, "max_steps": max_steps, "max_time": max_time, "batch_size": batch_size, "lr": lr,
             "seed": seed, "device": device, "max_cpu_time": max_cpu_time,
             "threads": click.get_current_context().meta.get("genlab.threads")}
    sections["train"].update({k: v for k, v in flags.items() if v is not None})
    if quiet:
        sections["train"]["progress"] = False
    if data is not None:
        sections["data"]["name"] = data
    if root is not None:
        sections["data"]["root"] = root
    sections["data"].update({k: v for k, v in {"target": target, "schema": schema, "test": test_file}.items() if v is not None})
    sections = apply_overrides(sections, list(overrides))
    sections["train"] = budget_rule(sections["train"])
    from_dict(TrainConfig, sections["train"], "train")  # bad settings fail here, before anything is loaded
    dc = from_dict(DataConfig, sections["data"], "data")
    out = Path(out or f"runs/{model}")
    # the settings as a dict: the keys tell the trainer which ones the user chose (models may scale the others)
    run_train(model, dc, out, model_config=sections["model"], train_config=sections["train"], overwrite=overwrite)
    _print_summary(out)


@main.command()
@click.argument("run", type=click.Path())
@click.option("--epochs", type=int, default=None, help="new total number of epochs")
@click.option("--max-steps", type=int, default=None, help="new total number of steps")
@click.option("--max-time", type=float, default=None, help="new total training-time budget in seconds")
@click.option("--max-cpu-time", type=float, default=None, help="new total budget in process CPU seconds")
@DEVICE
@click.option("--quiet", is_flag=True)
@click.option("--data", "data", default=None, help="where the run's training data is now (if it moved)")
@click.option("--root", default=None, help="folder holding built-in datasets (if it moved)")
def resume(run, epochs, max_steps, max_time, max_cpu_time, device, quiet, data, root) -> None:
    """Continue RUN exactly where its last checkpoint stopped (any budget can be extended)."""
    from ..training import resume as run_resume

    if (max_time or max_cpu_time) and epochs is None and max_steps is None:
        epochs = BUDGET_EPOCHS  # a new time budget is the limit, not the run's old epoch count
    threads = click.get_current_context().meta.get("genlab.threads")
    run_resume(run, epochs=epochs, max_steps=max_steps, max_time=max_time, device=device,
               progress=False if quiet else None, data=data, root=root, max_cpu_time=max_cpu_time,
               **({"threads": threads} if threads else {}))
    _print_summary(Path(run))


@main.command(cls=SampleCommand)
@click.argument("run", type=click.Path())
@click.option("-n", "n", type=int, default=None, help="number of samples (default 64; 1 for text)")
@click.option("-o", "output", type=click.Path(), default=None, help="output file: .png grid or .npz (images), ...")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--label", default=None, help="class to generate (conditional models): its number or its name")
@click.option("--no-ema", is_flag=True, help="use the raw weights instead of the EMA weights")
@DEVICE
@click.option("--shards", type=int, default=None,
              help="write -o FOLDER/ as this many shards (part-NNNNN.*, own seeds) plus manifest.json; under "
                   "torchrun the ranks share them (default there: one per rank)")
def sample(run, n, output, seed, label, no_ema, device, shards, **options) -> None:
    """Draw N samples from the model in RUN and write them to a file (or print text).

    The model's own sampling options (declared by the model) are flags too: `genlab sample RUN --help`."""
    import torch

    from ..training import load
    from ..training.trainer import resolve_device

    if n is not None and n < 1:
        raise ConfigError(f"-n must be a positive number of samples, got {n}")
    from ..training import distributed as dist

    sharded = shards is not None or dist.is_folder_output(output) or dist.env_world()[1] > 1
    if sharded:
        if not dist.is_folder_output(output):
            raise ConfigError("sharded sampling (--shards, or several processes under torchrun) writes a folder: "
                              "give -o FOLDER/ (ending in /)")
        if shards is not None and shards < 1:
            raise ConfigError(f"--shards must be >= 1, got {shards}")
        dist.setup(device or "auto")
        device = str(dist.device_for(device or "auto"))
    model = load(run, device=device or "auto", ema=not no_ema)
    opts = model.check_sample_options(options, parse=True)  # the model's declared options, typed and checked
    label = None if label is None else model.class_index(label)
    n = n or (1 if model.has("stream") else 64)
    from ..sampling import check_count, check_output_path, default_suffix, sample_to_file

    path = None if sharded or (output is None and model.has("stream")) else check_output_path(
        output or Path(run) / f"sample-seed{seed}{default_suffix(model.info.modality)}", model.info.modality)
    check_count(model.info, n, path)  # output path, format and size checked before anything is sampled
    dev = resolve_device(device or "auto")
    gen = torch.Generator(device=dev).manual_seed(seed)
    labels = None if label is None else torch.full((1,), label, dtype=torch.long)
    if output is None and model.has("stream"):  # text: print to the terminal as it is produced
        for chunk in model.stream(n, labels=labels, generator=gen, **opts):
            click.echo(chunk, nl=False)
        return
    if labels is not None:
        model.check_sample_args(1, labels, {})  # a bad --label fails before sampling
    if sharded:
        try:
            dist.sample_shards(model, n, output, seed=seed, shards=shards, label=label, options=opts, device=dev,
                               echo=click.echo)
        finally:
            dist.cleanup()
        return
    sample_to_file(model, n, path, label=label, generator=gen, options=opts)  # in chunks, written as they come
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
    click.echo(f"status   {ck.describe_status(run, state)}   step {state.get('step')}   epoch {state.get('epoch')}"
               f"   training time {state.get('train_time_s', 0):.1f} s")
    click.echo("versions " + ", ".join(f"{k} {v}" for k, v in cfg.get("versions", {}).items() if k != "platform"))
    meta = cfg.get("data_info", {}).get("meta", {})
    for section in ("model_config", "train_config", "data_config"):
        values = {k: v for k, v in cfg.get(section, {}).items() if v is not None}
        if section == "data_config" and "vocab_size" in meta:  # the vocabulary the run has, not the BPE setting
            values["vocab_size"] = meta["vocab_size"]
        click.echo(f"{section.split('_')[0]:<8} " + ", ".join(f"{k}={v}" for k, v in values.items()))
    for split, m in state.get("final_metrics", {}).items():
        vals = {k: v for k, v in m.items() if k not in ("step", "epoch", "time")}
        click.echo(f"{split + ' metrics':<8} " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in vals.items()))


BUDGET_EPOCHS = 1_000_000  # "no epoch limit": a time budget (--max-time / --max-cpu-time) stops the run


def budget_rule(train: dict) -> dict:
    """A time budget given without epochs or max_steps is the run's limit: the epoch default does not stop it."""
    timed = train.get("max_time") is not None or train.get("max_cpu_time") is not None
    if timed and train.get("epochs") is None and train.get("max_steps") is None:
        return {**train, "epochs": BUDGET_EPOCHS}
    return train


def _print_summary(run: Path) -> None:
    from ..training import checkpoint as ck

    state = ck.read_state(run)
    import os

    if (os.environ.get("RANK") or "0") != "0":  # under torchrun: rank 0 reports (every rank exits alike)
        if state.get("status") == "interrupted":
            raise SystemExit(130)
        return
    click.echo(f"{state.get('status', 'done')}: {run} (step {state.get('step')}, {state.get('train_time_s', 0):.1f} s training)")
    if state.get("status") == "interrupted":
        click.echo(f"continue with: genlab resume {run}")
        raise SystemExit(130)  # like a shell's Ctrl-C: scripts can tell a stopped run from a finished one


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
