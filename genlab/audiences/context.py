"""An item's context vector: its content features, a recommendation-based embedding, or both.

* **content**: the item's row of the items table encoded by the table code's :class:`TableEncoding`
  (one-hot segments for flags and categories, mode-specific normalisation for numbers, most probable mode);
* **embedding**: item vectors from a truncated SVD of the training items' item x user interaction matrix
  (binary, scaled by ``1/sqrt(item count * user count)``), rows L2-normalised and columns standardised;
  a ridge regression from content features to those vectors gives the vector of any item, seen or not
  (cold start). Training items get their *out-of-fold* prediction (``folds``-fold cross-fitting), so the
  conditional models are trained on vectors as noisy as those of new items.

Everything fitted is a buffer of :class:`ItemContext`, saved with the model's weights (safetensors).
Contexts given by users (``--context "genres=Comedy|Romance,year=1997"`` or a file of items) are checked
and coded by :func:`context_codes`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..errors import ConfigError
from ..models.tabular.encoding import TableEncoding
from ..data.tabular.schema import TableSchema

MODES = ("content", "embedding", "both")


class ItemContext(nn.Module):
    def __init__(self, items_schema: TableSchema, mode: str, emb_dim: int, n_items: int, ridge: float = 3.0,
                 folds: int = 5):
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"model.context must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode, self.emb_dim, self.ridge, self.folds = mode, emb_dim, ridge, folds
        self.enc = TableEncoding(items_schema)
        self.content_dim = self.enc.dim
        self.dim = {"content": self.content_dim, "embedding": emb_dim, "both": self.content_dim + emb_dim}[mode]
        self.register_buffer("weight", torch.zeros(self.content_dim + 1, emb_dim))  # ridge: content -> embedding
        self.register_buffer("train_vectors", torch.zeros(max(n_items, 1), self.dim))  # per training item
        self.register_buffer("train_content", torch.zeros(max(n_items, 1), self.content_dim))

    # -------------------------------------------------------------- context of any item
    def content(self, codes: torch.Tensor) -> torch.Tensor:
        """(m, columns) item codes -> (m, content_dim) encoded content features."""
        return self.enc.encode(codes.to(self.weight.device), sample_modes=False)

    def _embed(self, feats: torch.Tensor) -> torch.Tensor:
        return torch.cat([feats, torch.ones(len(feats), 1, device=feats.device)], 1) @ self.weight

    def _combine(self, feats: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return {"content": feats, "embedding": emb, "both": torch.cat([feats, emb], 1)}[self.mode]

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Context vectors of (new) items from their item-table codes."""
        feats = self.content(codes)
        return self._combine(feats, self._embed(feats) if self.mode != "content" else feats[:, :0])

    # -------------------------------------------------------------- fitting
    @torch.no_grad()
    def fit(self, item_codes: torch.Tensor, item: torch.Tensor, user: torch.Tensor, seed: int = 0) -> dict:
        """Fit from the training items' codes (n_items, columns), and per event its item and user index."""
        feats = self.content(item_codes.double()).float().cpu()
        n = len(feats)
        self.train_content.copy_(feats)
        emb = feats[:, :0]
        stats = {}
        if self.mode != "content":
            target = item_embedding(item.cpu().numpy(), user.cpu().numpy(), n, self.emb_dim, seed)
            X = np.hstack([feats.double().numpy(), np.ones((n, 1))])
            self.weight.copy_(torch.from_numpy(_ridge(X, target, self.ridge)).float())
            oof = _out_of_fold(X, target, self.ridge, self.folds, seed)
            emb = torch.from_numpy(oof).float()
            ss = ((target - target.mean(0)) ** 2).sum()
            stats["embedding_r2_oof"] = float(1 - ((target - oof) ** 2).sum() / max(ss, 1e-12))
        self.train_vectors.copy_(self._combine(feats, emb))
        return stats


def item_embedding(item: np.ndarray, user: np.ndarray, n_items: int, dim: int, seed: int = 0) -> np.ndarray:
    """(n_items, dim) item vectors from a truncated SVD of the normalised binary item x user matrix."""
    from scipy.sparse import csr_matrix
    from sklearn.decomposition import TruncatedSVD

    n_users = int(user.max()) + 1 if len(user) else 1
    m = csr_matrix((np.ones(len(item)), (item, user)), shape=(n_items, n_users))
    m.data[:] = 1.0  # several events of one user with one item: one interaction
    ri = np.asarray(m.sum(1)).ravel()
    cu = np.asarray(m.sum(0)).ravel()
    m = m.multiply(1 / np.sqrt(np.maximum(ri, 1))[:, None]).multiply(1 / np.sqrt(np.maximum(cu, 1))[None, :]).tocsr()
    k = min(dim, n_items - 1, n_users - 1)
    out = np.zeros((n_items, dim))
    if k >= 1:
        v = TruncatedSVD(k, algorithm="randomized", n_iter=7, random_state=seed).fit_transform(m)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        out[:, :k] = (v - v.mean(0)) / np.maximum(v.std(0), 1e-12)
    return out


def _ridge(X: np.ndarray, Y: np.ndarray, lam: float) -> np.ndarray:
    reg = lam * np.eye(X.shape[1])
    reg[-1, -1] = 0.0  # no penalty on the intercept
    return np.linalg.solve(X.T @ X + reg, X.T @ Y)


def _out_of_fold(X: np.ndarray, Y: np.ndarray, lam: float, folds: int, seed: int) -> np.ndarray:
    n = len(X)
    if n < 4:
        return X @ _ridge(X, Y, lam)
    k = min(folds, n // 2)
    fold = np.random.default_rng(seed).permutation(n) % k
    out = np.zeros_like(Y)
    for f in range(k):
        out[fold == f] = X[fold == f] @ _ridge(X[fold != f], Y[fold != f], lam)
    return out


# ----------------------------------------------------------------------------- contexts given by users


def parse_context(text: str) -> dict[str, str]:
    """``"genres=Comedy|Romance,year=1997"`` -> ``{"genres": "Comedy|Romance", "year": "1997"}``."""
    out = {}
    for part in (p for p in str(text).split(",") if p.strip()):
        if "=" not in part:
            raise ConfigError(f"--context item {part.strip()!r} must look like column=value, e.g. \"genres=Comedy|Romance,year=1997\"")
        k, v = part.split("=", 1)
        if k.strip() in out:
            raise ConfigError(f"--context names {k.strip()!r} twice")
        out[k.strip()] = v.strip()
    if not out:
        raise ConfigError("--context is empty; give column=value pairs, e.g. \"genres=Comedy|Romance,year=1997\"")
    return out


def context_frame(df: pd.DataFrame, items_schema: TableSchema, group: str, multi: dict[str, list[str]],
                  where: str = "the context") -> tuple[pd.DataFrame, np.ndarray | None]:
    """Check a table of items against the items table's columns; returns (content columns, item ids or None).

    A multi-valued key of ``multi`` (MovieLens' ``genres``) may replace its flag columns: its value lists
    the flags that are set, separated by ``|``."""
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    ids = df.pop(group).astype(str).str.strip().to_numpy(dtype=object) if group in df.columns else None
    for key, flags in multi.items():
        if key not in df.columns:
            continue
        both = [f for f in flags if f in df.columns]
        if both:
            raise ConfigError(f"{where} gives both {key!r} and its flag column(s) {', '.join(map(repr, both))}; give one")
        lists = df.pop(key).fillna("").astype(str).str.split("|")
        known = {f.lower(): f for f in flags}
        vals = [[v.strip() for v in lst if v.strip()] for lst in lists]
        bad = sorted({v for lst in vals for v in lst if v.lower() not in known})
        if bad:
            raise ConfigError(f"{where}: unknown {key} value(s) {', '.join(map(repr, bad))}; known: {', '.join(flags)}")
        for f in flags:
            df[f] = ["1" if any(v.lower() == f.lower() for v in lst) else "0" for lst in vals]
    names = items_schema.names
    extra = [c for c in df.columns if c not in names]
    missing = [c for c in names if c not in df.columns]
    grouped = {f: k for k, fl in multi.items() for f in fl}
    shown = list(dict.fromkeys(grouped.get(c, c) for c in names))
    if extra:
        raise ConfigError(f"{where} has column(s) {', '.join(map(repr, extra))} that the items table did not have; "
                          f"expected {', '.join(map(repr, shown))}" + (f" (and the item id {group!r})" if group else ""))
    if missing:
        miss = list(dict.fromkeys(grouped.get(c, c) for c in missing))
        raise ConfigError(f"{where} is missing context column(s) {', '.join(map(repr, miss))}; expected "
                          f"{', '.join(map(repr, shown))}")
    if len(df) == 0:
        raise ConfigError(f"{where} lists no items")
    return df[names].reset_index(drop=True), ids


def context_codes(df: pd.DataFrame, items_schema: TableSchema) -> np.ndarray:
    """Item-table codes of checked content columns; a value never seen in training is refused by name."""
    from ..errors import DataError
    from ..data.tabular.codes import to_codes

    for col in items_schema.columns:
        if col.numeric and col.kind != "datetime":
            text = df[col.name].astype(str).str.strip()
            text = text[~text.isin(["", "nan", "None", "NA"])]
            bad = text[pd.to_numeric(text, errors="coerce").isna()]
            if len(bad):
                raise ConfigError(f"context: column {col.name!r} holds numbers; {bad.iloc[0]!r} is not a number")
    try:
        return to_codes(items_schema, df.astype(object), unseen="error")
    except DataError as e:
        raise ConfigError(f"context: {e}") from None
