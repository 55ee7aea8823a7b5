"""A small decoder-only Transformer language model (GPT-2 / nanoGPT style).

Token embedding (+ learned positions, or rotary positions inside attention), pre-norm causal
self-attention blocks, final layer norm, and an output layer tied to the embedding. The context length is
the data's ``block_size``. Sampling keeps a key/value cache; when it is full, the cache is rebuilt from the
last three quarters of the context.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ...config import ModelConfig
from ...data.base import DataInfo
from ...errors import ConfigError
from ...nn.blocks import normal_init_
from .attention import KVCache, TransformerBlock, rotary_table
from ...registry import register_model
from .lm import LanguageModel, adaptive_head, check_softmax


@dataclass
class TransformerLMConfig(ModelConfig):
    layers: int = 4
    heads: int = 4
    width: int = 128
    dropout: float = 0.0
    positions: str = "learned"  # learned | rotary
    tie_weights: bool = True
    bias: bool = False
    softmax: str = "auto"  # full | adaptive | auto (adaptive above 4,096 tokens: lm.ADAPTIVE_VOCAB)

    def validate(self) -> None:
        check_softmax(self.softmax)
        if self.layers < 1 or self.heads < 1 or self.width < 1:
            raise ConfigError("model.layers, model.heads and model.width must be >= 1")
        if self.width % self.heads or (self.width // self.heads) % 2:
            raise ConfigError(f"model.width ({self.width}) must be divisible by model.heads ({self.heads}) "
                              "into an even head size")
        if self.positions not in ("learned", "rotary"):
            raise ConfigError(f"model.positions must be learned or rotary, got {self.positions!r}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")


@register_model
class TransformerLM(LanguageModel):
    name = "transformer-lm"
    description = "Decoder-only Transformer LM (causal attention, learned/rotary positions, tied weights, KV cache)"
    Config = TransformerLMConfig
    kv_cache = True  # set False on an instance to re-read the whole context at every sampled token

    def __init__(self, config: TransformerLMConfig, info: DataInfo):
        super().__init__(config, info)
        d, t = config.width, self.block_size
        self.tok_emb = nn.Embedding(self.vocab_size, d)
        self.pos_emb = nn.Embedding(t, d) if config.positions == "learned" else None
        if config.positions == "rotary":
            cos, sin = rotary_table(d // config.heads, t)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(d, config.heads, config.dropout, config.bias) for _ in range(config.layers))
        self.norm = nn.LayerNorm(d, bias=config.bias)
        self.head = adaptive_head(d, self.vocab_size, info, config.softmax) or nn.Linear(d, self.vocab_size, bias=False)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: residual projections scaled by depth
            if name.endswith(("attn.proj.weight", "mlp.2.weight")):
                normal_init_(p, 0.0, 0.02 / math.sqrt(2 * config.layers))
        if config.tie_weights and isinstance(self.head, nn.Linear):
            self.head.weight = self.tok_emb.weight

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            normal_init_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    def _forward(self, idx: torch.Tensor, cache: KVCache | None = None, head: bool = True) -> torch.Tensor:
        start, t = (cache.len if cache is not None else 0), idx.shape[1]
        if start + t > self.block_size:
            raise ConfigError(f"transformer-lm reads at most {self.block_size} tokens (data.block_size), got {start + t}")
        x = self.tok_emb(idx)
        rope = None
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(start, start + t, device=idx.device))
        else:
            rope = (self.rope_cos[start:start + t], self.rope_sin[start:start + t])
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, rope, cache, i)
        if cache is not None:
            cache.len += t
        return self.head(self.norm(x)) if head else self.norm(x)

    def features(self, idx: torch.Tensor) -> torch.Tensor:
        return self._forward(idx, head=False)

    def init_state(self, batch: int) -> dict:
        return {"cache": None, "tokens": torch.zeros(batch, 0, dtype=torch.long, device=self.device)}

    def _new_cache(self, batch: int) -> KVCache:
        c = self.config
        p = self.tok_emb.weight
        return KVCache(c.layers, batch, c.heads, self.block_size, c.width // c.heads, p.device, p.dtype)

    def step(self, idx: torch.Tensor, state: dict):
        tokens = torch.cat([state["tokens"], idx], 1)[:, -self.block_size:]
        state = {"cache": state["cache"], "tokens": tokens}
        if not self.kv_cache:
            return self._forward(tokens)[:, -1], state
        cache = state["cache"]
        if cache is None or cache.len + idx.shape[1] > self.block_size:  # (re)build from recent context
            keep = tokens if cache is None else tokens[:, -max(1, 3 * self.block_size // 4):]
            cache = state["cache"] = self._new_cache(len(idx))
            return self._forward(keep, cache)[:, -1], state
        return self._forward(idx, cache)[:, -1], state
