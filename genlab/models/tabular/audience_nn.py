"""The nearest-neighbour reference for audiences: a new item gets copies of the users of the most similar
training item in context space (the baseline of the study this follows).

``fit`` keeps the training events sorted by item. For a new item, the training item nearest to its
context vector (Euclidean; ties go to the item with more events) is found and its events are copied:
as many as asked, without replacement while they last. With ``model.context=content`` (the default) the
similarity is that of the items' features.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...audiences.model import AudienceModel, ContextConfig
from ...data.base import DataInfo, TensorDataset
from ...registry import register_model


@dataclass
class AudienceNNConfig(ContextConfig):
    context: str = "content"


@register_model
class AudienceNN(AudienceModel):
    name = "audience-nn"
    description = "Reference: copies the users of the most similar training item (context space)"
    Config = AudienceNNConfig
    iterative = False

    def __init__(self, config: AudienceNNConfig, info: DataInfo):
        super().__init__(config, info)
        n, c = max(1, info.meta.get("n_rows", 1)), len(self.schema.columns)
        self.register_buffer("rows", torch.zeros(n, c, dtype=torch.float64))  # sorted by item
        self.register_buffer("item_start", torch.zeros(len(self.item_ids) + 1, dtype=torch.long))

    def fit(self, data: TensorDataset) -> dict[str, float]:
        stats = self.fit_context(data)
        item = data.tensors["item"]
        order = torch.argsort(item, stable=True)
        self.rows.copy_(data.tensors["x"][order])
        counts = torch.bincount(item, minlength=len(self.item_ids))
        self.item_start.copy_(torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]))
        return {"events": float(len(item)), **stats}

    def nearest(self, ctx: torch.Tensor) -> torch.Tensor:
        """Index of the nearest training item for every context vector."""
        d = torch.cdist(ctx.float(), self.ctx.train_vectors.float())
        d = d - 1e-6 * torch.log1p(self.item_events)[None, :]  # ties: the item with more events
        return d.argmin(1)

    def _draw_items(self, ctx: torch.Tensor, counts: torch.Tensor, generator=None) -> torch.Tensor:
        k = self.nearest(ctx)
        start, size = self.item_start[k], self.item_start[k + 1] - self.item_start[k]
        if len(k) > 1000:  # many single rows (no context given): with replacement, vectorised
            start, size = start.repeat_interleave(counts), size.repeat_interleave(counts)
            u = torch.rand(len(start), generator=generator, device=self.device, dtype=torch.float64)
            return self.rows[start + (u * size).long().clamp_max(size - 1)]
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator, device=self.device)))
        idx = []
        for s, m, c in zip(start.tolist(), size.tolist(), counts.tolist()):
            reps = -(-c // m)
            idx.append(s + np.concatenate([rng.permutation(m) for _ in range(reps)])[:c])
        return self.rows[torch.from_numpy(np.concatenate(idx)).to(self.device)]
