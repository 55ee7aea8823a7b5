"""Tables: CSV / TSV / Parquet with typed columns (schema, identifiers, constraints); samples in the input's form."""
from . import Modality

MODALITIES = (
    Modality(
        name="table",
        description="tables of typed columns; samples as .csv, .tsv or .parquet",
        loader="genlab.data.tables:load_table",
        writer="genlab.data.tabular.io:write_table",
        suffixes=(".csv", ".tsv", ".parquet", ".pq"),
        evaluator="genlab.eval.tabular.evaluate:evaluate_table",
        summary="genlab.eval.tabular.evaluate:text_summary",
        compare="genlab.eval.tabular.compare:compare_table_runs",
        comparison_page="genlab.eval.tabular.compare:write_table_comparison",
        streamed=True,
        shard_suffix=".parquet",
    ),
)
