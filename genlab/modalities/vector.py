"""Vectors: rows of numbers (2-D toy sets, .npz / .csv arrays); 2-D samples can be drawn as a scatter plot."""
from . import Modality

MODALITIES = (
    Modality(
        name="vector",
        description="fixed-length real vectors; samples as .npz, .csv or a 2-D scatter .png",
        loader="genlab.data.vectors:load_vectors",
        writer="genlab.data.vectors:write_vectors",
        suffixes=(".npz", ".csv", ".png"),
        streamed=True,
    ),
)
