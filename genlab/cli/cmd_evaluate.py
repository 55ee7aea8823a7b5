"""`genlab evaluate` and `genlab compare`: metrics tables, eval.json and self-contained HTML reports."""
from __future__ import annotations

import html
import json
from pathlib import Path

import click

from ..errors import ConfigError
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
    """Score RUN: sample quality, diversity, memorisation, likelihood -> eval.json + report.html."""
    from ..eval import data_config_for, get_evaluator
    from ..eval import report as R
    from ..training import checkpoint as ck
    from ..training import load

    if n < 1:
        raise ConfigError(f"-n must be a positive number of samples, got {n}")
    cfg = ck.read_run_config(run)
    model = load(run)
    data_cfg = data_config_for(cfg, data, root)
    opts = {"n": n, "seed": seed, "nll_samples": nll_samples, "nll_limit": nll_limit}
    if test_path:
        opts["test"] = test_path
    if features != "genlab" or weights is not None:
        if model.info.modality != "image":
            raise ConfigError(f"--features and --weights apply to image runs; {run} is a {model.info.modality} run")
        opts.update(features=features, weights=weights)
    result = get_evaluator(model.info.modality)(model, Path(run), data_cfg, **opts)
    clean = R.json_ready(result)
    sections = [("Metrics", f"<pre>{html.escape(json.dumps(clean, indent=1))}</pre>")]
    if "_grid" in result:
        sections.insert(0, ("Samples", R.grid_tag(result["_grid"], "samples")))
    if "_class_grid" in result:  # conditional models: the samples asked for, label by label
        sections.insert(1, ("Samples per class", R.class_grid_tag(result["_class_grid"])))
    if "_panel" in result:
        sections.append(("Memorisation: samples (left) and their 3 nearest training images",
                         R.memorisation_tag(result["_panel"])))
    for spec, (grid, per_row) in result.get("_completions", {}).items():
        sections.append((f"Completion, last {spec} of the pixels covered: covered input, completions, original",
                         R.grid_tag_rows(grid, per_row, f"completions with {spec} covered", width=60 * per_row)))
    if "_html" in result:
        sections.append(("Details", result["_html"]))
    sections.append(("Training curves", R.curves_tag(Path(run))))
    R.write_atomic(Path(run) / "eval.json", json.dumps(clean, indent=2) + "\n")
    R.write_atomic(Path(run) / "report.html", R.page(f"genlab evaluation: {run}", sections))
    if model.info.modality == "image":
        from ..eval.image_runs import format_table, summary

        click.echo(format_table([summary(result)]))
    elif model.info.modality == "table":
        from ..tabular.evaluate import text_summary

        click.echo(text_summary(result))
    else:
        click.echo(json.dumps(clean, indent=2)[:4000])
    click.echo(f"wrote {Path(run) / 'eval.json'} and {Path(run) / 'report.html'}")


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@_common
@click.option("-o", "output", type=click.Path(), default="comparison.html", show_default=True, help="HTML leaderboard")
def compare(runs, data, root, n, seed, nll_samples, nll_limit, test_path, features, weights, output) -> None:
    """One leaderboard of RUNS on the same metrics, samples and feature extractor, with reference rows."""
    from ..eval.compare import compare_runs, write_comparison

    rows = compare_runs(list(runs), data=data, root=root, n=n, seed=seed, nll_samples=nll_samples,
                        nll_limit=nll_limit, echo=click.echo, features=features, weights=weights)
    write_comparison(rows, Path(output))
    click.echo(f"wrote {output} and {Path(output).with_suffix('.json')}")

