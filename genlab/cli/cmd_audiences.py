"""`genlab audiences`: the users a new item will attract (events grouped by item, see docs/audiences.md).

* ``genlab audiences evaluate RUN --novel 50 --draws 10``: the novel-item protocol with RUN's model and
  settings (retrained per draw) beside the NN, global and resampled-real rows -> ``audiences.json`` and
  ``audiences.html`` in RUN;
* ``genlab audiences sample RUN --context "genres=Comedy|Romance,year=1997" -n 500 -o audience.csv`` or
  ``--context-file new_items.csv`` (``-n`` events per item, one block per item, item id kept).
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import ConfigError
from . import main


@main.group()
def audiences() -> None:
    """Generate the users of items nobody has seen, from the items' features (events grouped by item)."""


def _audience_run(run: str) -> dict:
    from ..training import checkpoint as ck

    cfg = ck.read_run_config(run)
    if cfg["data_info"].get("modality") != "audience":
        raise ConfigError(f"{run} is a {cfg['model']} run on {cfg['data_info'].get('modality')} data; `genlab audiences` "
                          f"needs an audience model (audience-gan, audience-tvae, audience-nn) trained on events grouped "
                          f"by item")
    return cfg


@audiences.command("evaluate")
@click.argument("run", type=click.Path())
@click.option("--novel", type=int, default=50, show_default=True, help="held-out items per draw")
@click.option("--min-events", type=int, default=20, show_default=True, help="events a held-out item must have")
@click.option("--draws", type=int, default=10, show_default=True, help="held-out draws (each retrains the model)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--root", default=None, help="folder holding built-in datasets")
@click.option("--no-references", is_flag=True, help="leave out the NN, global and resampled-real rows")
@click.option("--items", "n_items", type=int, default=4, show_default=True, help="held-out items charted in the report")
def evaluate(run, novel, min_events, draws, seed, root, no_references, n_items) -> None:
    """Hold out items, retrain RUN's model on the rest, generate their users and score them (RSM, RMSE)."""
    from ..audiences.protocol import Candidate, evaluate_novel, format_table, json_result
    from ..audiences.report import write_report
    from ..eval import data_config_for
    from ..eval.report import write_atomic

    cfg = _audience_run(run)
    data_cfg = data_config_for(cfg, None, root)
    train_cfg = {k: v for k, v in cfg.get("train_config", {}).items() if k not in ("progress",)}
    cand = Candidate(cfg["model"], cfg["model"], cfg["model_config"], train_cfg)
    result = evaluate_novel(data_cfg, [cand], n_novel=novel, min_events=min_events, draws=draws, seed=seed,
                            references=not no_references, echo=lambda m: click.echo(m, err=True))
    labels = None
    if result["data"] == "movielens-100k":
        from ..data.movielens import titles

        labels = titles(data_cfg)
    out = Path(run)
    write_atomic(out / "audiences.json", json.dumps(json_result(result), indent=2) + "\n")
    write_report(result, out / "audiences.html", f"genlab audiences: {run}", labels, n_items)
    click.echo(format_table(result))
    click.echo(f"wrote {out / 'audiences.json'} and {out / 'audiences.html'}")


@audiences.command("sample")
@click.argument("run", type=click.Path())
@click.option("--context", default=None, help='one new item, e.g. "genres=Comedy|Romance,year=1997"')
@click.option("--context-file", "context_file", type=click.Path(), default=None,
              help="a table of new items (item id + the items table's columns): -n events per item")
@click.option("-n", "n", type=int, default=500, show_default=True, help="events (users) per item")
@click.option("-o", "output", type=click.Path(), default=None, help=".csv, .tsv or .parquet (default: RUN/audience.csv)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default=None, help="auto | cpu | cuda | cuda:N (default: cpu)")
def sample(run, context, context_file, n, output, seed, device) -> None:
    """Generate the users of new items described by their features."""
    import torch

    from ..outputs import write_samples
    from ..training import load

    _audience_run(run)
    if n < 1:
        raise ConfigError(f"-n must be a positive number of events, got {n}")
    if n > 10_000_000:
        raise ConfigError(f"-n {n} is more than 10,000,000 events per item; ask for fewer")
    if context is None and context_file is None:
        raise ConfigError("give the new item: --context \"col=value,...\" or --context-file items.csv")
    path = Path(output or Path(run) / "audience.csv")
    if path.suffix.lower() not in (".csv", ".tsv", ".txt", ".parquet", ".pq"):
        raise ConfigError(f"audiences are written as .csv, .tsv or .parquet, not {path.suffix or 'no suffix'}")
    model = load(run, device=device or "cpu")
    gen = torch.Generator(device=model.device).manual_seed(seed)
    df = model.sample(n, generator=gen, context=context, context_file=context_file)
    write_samples(df, path, model.info)
    click.echo(f"wrote {len(df)} events to {path}")
