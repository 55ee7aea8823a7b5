"""Table commands: ``genlab schema`` shows (and writes) the column types genlab infers for a table."""
from __future__ import annotations

from pathlib import Path

import click

from . import main


@main.command()
@click.argument("data")
@click.option("--target", default=None, help="the column to predict (marked in the listing)")
@click.option("--schema", "schema_spec", default=None, help="overrides to apply first: a schema.yaml or \"col=kind,...\"")
@click.option("--root", default=None, help="folder holding built-in datasets (for `adult`)")
@click.option("-o", "output", type=click.Path(), default=None, help="write the types as an editable schema.yaml")
def schema(data, target, schema_spec, root, output) -> None:
    """Show the column types inferred for table DATA (a file or `adult`); -o writes them for editing."""
    from ..config import DataConfig, from_dict
    from ..data.tables import prepare_table
    from ..data.tabular.schema import schema_yaml

    cfg = from_dict(DataConfig, {"name": data, "target": target, "schema": schema_spec, "root": root}, "data")
    table = prepare_table(cfg)[0]  # prints the listing once
    if output:
        Path(output).write_text(schema_yaml(table), encoding="utf-8")
        click.echo(f"wrote {output}; edit the kinds and pass it with --schema {output}")
