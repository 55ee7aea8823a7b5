"""What the audience models share: an item context, training on (event, item) pairs, sampling for items.

A subclass implements ``_draw(ctx, generator) -> codes``: one event (float64 codes, as
``genlab/data/tabular/codes.py``) per row of context vectors; or, for models that work per item (the
nearest-neighbour copy), ``_draw_items(ctx, counts, generator)``.

``sample(n, context=..., context_file=...)`` returns a DataFrame with the events table's attribute columns:
``context`` is one item (``"genres=Comedy|Romance,year=1997"``, a dict, or a one-row DataFrame); a
``context_file`` lists items (with the item id column, kept in the output): ``n`` rows per item, one block
per item. Without a context, items are drawn from the training items by their number of events.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..config import ModelConfig
from ..data.base import DataInfo, TensorDataset
from ..errors import ConfigError, DataError
from ..models.base import GenerativeModel, SampleOption
from ..data.tabular.codes import from_codes
from ..data.tabular.schema import TableSchema
from .context import MODES, ItemContext, context_codes, context_frame, parse_context


@dataclass
class ContextConfig(ModelConfig):
    context: str = "both"  # content | embedding | both: what the model is conditioned on
    embedding_dim: int = 16  # size of the recommendation-based item embedding
    ridge: float = 3.0  # ridge penalty of the content -> embedding regression
    folds: int = 5  # cross-fitting folds for the training items' embeddings

    def validate(self) -> None:
        if self.context not in MODES:
            raise ConfigError(f"model.context must be one of {', '.join(MODES)}, got {self.context!r}")
        if self.embedding_dim < 1 or self.folds < 2 or self.ridge < 0:
            raise ConfigError("model.embedding_dim must be >= 1, model.folds >= 2 and model.ridge >= 0")


def numpy_rng(generator: torch.Generator | None) -> np.random.Generator:
    device = generator.device if generator is not None else "cpu"
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator, device=device)))


class AudienceModel(GenerativeModel):
    family = "tabular"
    modalities = ("audience",)
    sample_options = (
        SampleOption("context", None, help='one new item\'s features, e.g. "genres=Comedy|Romance,year=1997" '
                     "(Python: also a dict or a one-row DataFrame)"),
        SampleOption("context_file", str, help="a table of new items (item id + the items table's columns): n rows each"),
    )

    def __init__(self, config: ContextConfig, info: DataInfo):
        super().__init__(config, info)
        if "audience" not in info.meta:
            raise DataError("audience models need events grouped by item (--data movielens-100k, or "
                            "--data events.csv --set data.group=ITEM --set data.context=items.csv)")
        self.schema = TableSchema.from_meta(info.meta)
        aud = info.meta["audience"]
        self.group, self.multi = aud["group"], aud.get("multi", {})
        self.items_schema = TableSchema.from_meta(aud["items"])
        n_items = len(aud["item_ids"])
        self.item_ids = list(aud["item_ids"])
        self.ctx = ItemContext(self.items_schema, config.context, config.embedding_dim, n_items, config.ridge, config.folds)
        self.register_buffer("item_events", torch.zeros(max(n_items, 1)))
        self._fitted = False

    # -------------------------------------------------------------- training
    def fit_context(self, data: TensorDataset) -> dict:
        """Fit the item context on the training items; per-row context vectors for training."""
        item = data.tensors["item"]
        n = len(self.item_ids)
        present, first = np.unique(item.cpu().numpy(), return_index=True)  # one row per item
        if len(present) != n:
            raise DataError(f"{n - len(present)} training items have no events")
        codes = data.tensors["ctx"][torch.from_numpy(first)]
        seed = int(torch.randint(0, 2**31 - 1, (1,)))  # from the trainer's seeded global RNG
        stats = self.ctx.fit(codes, item, data.tensors["user"], seed=seed)
        self.item_events.copy_(torch.bincount(item, minlength=n).float())
        self._fitted = True
        return stats

    def on_train_start(self, data: TensorDataset) -> None:
        self.fit_context(data)

    def batch_context(self, batch) -> torch.Tensor:
        if not self._fitted:
            raise RuntimeError("audience models need on_train_start(data) before training_step (the Trainer calls it)")
        return self.ctx.train_vectors[batch["item"]]

    # -------------------------------------------------------------- generation
    def _draw(self, ctx: torch.Tensor, generator=None) -> torch.Tensor:
        raise NotImplementedError

    def _draw_items(self, ctx: torch.Tensor, counts: torch.Tensor, generator=None) -> torch.Tensor:
        return self._draw(ctx.repeat_interleave(counts, 0), generator)

    @torch.no_grad()
    def generate(self, item_codes: np.ndarray | torch.Tensor, counts, generator: torch.Generator | None = None) -> np.ndarray:
        """Codes of ``counts[i]`` events for every item ``i`` given by its item-table codes, in item blocks."""
        was = self.training
        self.eval()
        try:
            codes = torch.as_tensor(np.asarray(item_codes, dtype=np.float64), device=self.device)
            counts = torch.as_tensor(np.asarray(counts, dtype=np.int64).reshape(-1), device=self.device)
            if len(counts) == 1 and len(codes) > 1:
                counts = counts.expand(len(codes))
            return self._draw_items(self.ctx(codes).float(), counts, generator).cpu().numpy()
        finally:
            self.train(was)

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None, context=None, context_file=None, **options) -> pd.DataFrame:
        self.check_sample_args(n, labels, {"context": context, "context_file": context_file, **options})
        if labels is not None:
            raise ConfigError(f"{self.name} generates for items, not labels; use context=... instead of labels")
        if context is not None and context_file is not None:
            raise ConfigError("give either a context or a context file, not both")
        ids = None
        if context_file is not None:
            from ..data.tabular.io import read_table

            df, ids = context_frame(read_table(context_file), self.items_schema, self.group, self.multi,
                                    f"context file {context_file}")
            if ids is None:
                ids = np.array([str(i + 1) for i in range(len(df))], dtype=object)
            codes = context_codes(df, self.items_schema)
        elif context is not None:
            if isinstance(context, pd.DataFrame):
                frame = context
            else:
                frame = pd.DataFrame([parse_context(context) if isinstance(context, str) else dict(context)])
            df, _ = context_frame(frame.drop(columns=[self.group], errors="ignore"), self.items_schema, self.group,
                                  self.multi, "--context")
            if len(df) != 1:
                raise ConfigError("context= describes one item; use context_file for several")
            codes = context_codes(df, self.items_schema)
        else:  # the training items, drawn by their number of events
            w = self.item_events / self.item_events.sum().clamp_min(1)
            idx = torch.multinomial(w, n, replacement=True, generator=generator)
            vec = self.ctx.train_vectors[idx]
            ones = torch.ones(n, dtype=torch.long, device=self.device)
            was = self.training
            self.eval()
            try:
                out = self._draw_items(vec, ones, generator).cpu().numpy()
            finally:
                self.train(was)
            return from_codes(self.schema, out, numpy_rng(generator))
        out = from_codes(self.schema, self.generate(codes, [n], generator), numpy_rng(generator))
        if ids is not None:
            out.insert(0, self.group, np.repeat(ids, n))
        return out
