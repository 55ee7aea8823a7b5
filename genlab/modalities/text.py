"""Text: characters of any script (or tokens) from .txt files or folders; held-out bits per character."""
from . import Modality

MODALITIES = (
    Modality(
        name="text",
        description="running text as characters; samples as .txt (or - for the terminal)",
        loader="genlab.data.text:load_text",
        writer="genlab.data.text:write_text",
        suffixes=(".txt", ".md", ""),
        evaluator="genlab.eval.text_runs:evaluate_text_run",
        summary="genlab.eval.text_runs:text_summary",
        streamed=True,
        terminal=True,
        shard_suffix=".txt",
    ),
    Modality(
        name="words",
        description="short items (names, words) one per line; samples as .txt or .npz",
        loader="genlab.data.words:load_words",
        writer="genlab.data.words:write_words",
        suffixes=(".txt", "", ".npz"),
        streamed=True,
        shard_suffix=".txt",
    ),
    Modality(
        name="documents",
        description="documents as bags of words (topic models); samples as .txt (% between documents) or .npz",
        loader="genlab.data.documents:load_documents",
        writer="genlab.data.documents:write_documents",
        suffixes=(".txt", ".md", "", ".npz"),
        evaluator="genlab.eval.documents_runs:evaluate_documents_run",
    ),
)
