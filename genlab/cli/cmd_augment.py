"""``genlab augment``: does synthetic data from a run help a downstream classifier? -> augment.json + report.html"""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import ConfigError
from . import main


@main.command()
@click.argument("runs", nargs=-1, type=click.Path())
@click.option("--data", default=None, help="dataset (default: the first run's); a table file for table runs")
@click.option("--root", default=None, help="folder holding built-in datasets")
@click.option("--out", "out", type=click.Path(), required=True, help="folder for augment.json and report.html")
@click.option("--labels-per-class", type=int, default=100, show_default=True, help="images: labelled examples per class")
@click.option("--ratio", type=float, default=1.0, show_default=True, help="images: synthetic images per real labelled image")
@click.option("--seeds", type=int, default=3, show_default=True, help="classifier trainings per arm")
@click.option("--steps", type=int, default=600, show_default=True, help="images: classifier training steps")
@click.option("--threshold", type=float, default=0.9, show_default=True,
              help="images: confidence the real-data classifier needs to keep a synthetic image (filtered arm)")
@click.option("--target", default=None, help="tables: the column to predict")
@click.option("--minority", default=None, help='tables: the under-represented group, e.g. "sex=Female,income=>50K"')
@click.option("--keep", type=float, default=0.1, show_default=True, help="tables: share of the group's rows kept in training")
@click.option("--test", "test_path", default=None, help="tables: the real test table")
def augment(runs, data, root, out, labels_per_class, ratio, seeds, steps, threshold, target, minority, keep,
            test_path) -> None:
    """Train one declared classifier on real, classically augmented and synthetic data from RUNS (several seeds
    per arm) and report accuracy per arm, class and group."""
    from ..eval.augment import ClassifierSpec, augment_images, augment_table, report_html
    from ..eval.report import write_atomic

    if not 1 <= steps <= 100_000:
        raise ConfigError(f"--steps must be 1..100000, got {steps}")
    is_table = minority is not None or target is not None
    if not runs and not is_table:
        raise ConfigError("give at least one run to take synthetic images from (genlab augment RUN ...)")
    if is_table:
        if not minority:
            raise ConfigError("table augmentation needs --minority \"column=value,...\" (the under-represented group)")
        result = augment_table(list(runs), data=data, root=root, target=target, minority=minority, keep=keep, seeds=seeds,
                               test=test_path, echo=click.echo)
    else:
        if labels_per_class < 1:
            raise ConfigError(f"--labels-per-class must be >= 1, got {labels_per_class}")
        result = augment_images(list(runs), data=data, root=root, labels_per_class=labels_per_class, ratio=ratio,
                                seeds=seeds, threshold=threshold, spec=ClassifierSpec(steps=steps), echo=click.echo)
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "augment.json", json.dumps(result, indent=2) + "\n")
    write_atomic(folder / "report.html", report_html(result, f"genlab augment: {', '.join(runs) or result['data']}"))
    for note in result["notes"]:
        click.echo(f"note: {note}")
    click.echo(f"wrote {folder / 'augment.json'} and {folder / 'report.html'}")
