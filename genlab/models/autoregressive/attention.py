"""Causal self-attention blocks (pre-norm, as in GPT-2/nanoGPT) with rotary positions and a key/value cache.

Attention runs through ``F.scaled_dot_product_attention``. During sampling a :class:`KVCache` keeps every
layer's keys and values, so each new token costs one position instead of re-reading the whole context.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KVCache:
    """Preallocated keys and values of ``n_layer`` layers, shape (n_layer, B, heads, max_len, head_dim)."""

    def __init__(self, n_layer: int, batch: int, heads: int, max_len: int, head_dim: int,
                 device: torch.device, dtype: torch.dtype):
        shape = (n_layer, batch, heads, max_len, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.len = 0  # positions filled; the model advances it after all layers have written
        self.max_len = max_len

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k, v`` (B, H, T, hd) after the cached positions; return all keys and values so far."""
        end = self.len + k.shape[2]
        self.k[layer, :, :, self.len:end] = k
        self.v[layer, :, :, self.len:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


def rotary_table(head_dim: int, max_len: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotary angles, each (max_len, head_dim // 2)."""
    inv_freq = base ** (-torch.arange(0, head_dim // 2, dtype=torch.float32) / (head_dim // 2))
    angles = torch.arange(max_len, dtype=torch.float32)[:, None] * inv_freq[None]
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x_i, x_{i + hd/2}) of ``x`` (B, H, T, hd) by the angles of their positions (T, hd/2)."""
    x1, x2 = x.chunk(2, dim=-1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float = 0.0, bias: bool = False):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.proj = nn.Linear(dim, dim, bias=bias)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in self.qkv(x).split(d, dim=2))
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        past = 0
        if cache is not None:
            past = cache.len
            k, v = cache.update(layer, k, v)
        mask = None
        if past and t > 1:  # new queries see every cached position and the new ones up to themselves
            mask = torch.arange(past + t, device=x.device)[None] <= torch.arange(past, past + t, device=x.device)[:, None]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None and t > 1,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class TransformerBlock(nn.Module):
    """Pre-norm residual block: ``x + attn(norm(x))`` then ``x + mlp(norm(x))`` (GELU, 4x width)."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, bias: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, bias=bias)
        self.attn = CausalSelfAttention(dim, heads, dropout, bias)
        self.norm2 = nn.LayerNorm(dim, bias=bias)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim, bias=bias), nn.GELU(), nn.Linear(4 * dim, dim, bias=bias),
                                 nn.Dropout(dropout))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, rope=None, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), rope, cache, layer))
        return x + self.mlp(self.norm2(x))
