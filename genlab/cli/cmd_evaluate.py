"""`genlab evaluate` and `genlab compare`: metrics tables, eval.json and self-contained HTML reports."""
from __future__ import annotations

from pathlib import Path

import click

from . import main


def _common(f):
    for opt in reversed([
        click.option("--data", default=None, help="dataset to compare against (default: the run's own)"),
        click.option("--root", default=None, help="folder holding built-in datasets"),
        click.option("-n", "n", type=int, default=10_000, show_default=True, help="generated samples"),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--nll-samples", type=int, default=None, help="importance samples for VAE likelihoods (e.g. 1000)"),
        click.option("--nll-limit", type=int, default=None, help="test examples used for the likelihood (default: all)"),
        click.option("--test", "test_path", default=None, help="table models: held-out table for utility/privacy"),
        click.option("--features", type=click.Choice(["genlab", "inception"]), default="genlab", show_default=True,
                     help="image feature space: genlab's classifier for the dataset, or Inception-v3 (needs --weights)"),
        click.option("--weights", type=click.Path(), default=None,
                     help="Inception-v3 weights on disk for --features inception (used through torch-fidelity)"),
    ]):
        f = opt(f)
    return f


@main.command()
@click.argument("run", type=click.Path())
@_common
def evaluate(run, data, root, n, seed, nll_samples, nll_limit, test_path, features, weights) -> None:
    """Score RUN: sample quality, diversity, memorisation, likelihood (text: bits/char and perplexity on the
    held-out text) -> eval.json + report.html."""
    from .. import api

    result = api.evaluate(run, data=data, root=root, n=n, seed=seed, nll_samples=nll_samples, nll_limit=nll_limit,
                          test=test_path, features=features, weights=weights)
    click.echo(api.summary(result))
    click.echo(f"wrote {Path(run) / 'eval.json'} and {Path(run) / 'report.html'}")


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@_common
@click.option("-o", "output", type=click.Path(), default="comparison.html", show_default=True, help="HTML leaderboard")
def compare(runs, data, root, n, seed, nll_samples, nll_limit, test_path, features, weights, output) -> None:
    """One leaderboard of RUNS on the same metrics, samples and feature extractor, with reference rows."""
    from .. import api

    api.compare(list(runs), data=data, root=root, n=n, seed=seed, nll_samples=nll_samples, nll_limit=nll_limit,
                features=features, weights=weights, test=test_path, output=output, echo=click.echo)
    click.echo(f"wrote {output} and {Path(output).with_suffix('.json')}")

