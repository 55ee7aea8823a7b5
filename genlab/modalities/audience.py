"""Events grouped by item, with item features: the users a new item attracts (genlab audiences)."""
from . import Modality

MODALITIES = (
    Modality(
        name="audience",
        description="events grouped by item with item features; samples as a table of generated users per item",
        loader="genlab.data.grouped:load_audience",
        writer="genlab.data.grouped:write_audience",
        suffixes=(".csv", ".tsv", ".parquet", ".pq", ".npz"),
        evaluator="genlab.audiences.evaluate:evaluate_audience_run",
        summary="genlab.audiences.evaluate:terminal_summary",
    ),
)
