"""Character/token recurrent language models (Karpathy's char-rnn): embedding -> LSTM or GRU -> softmax.

Training reads random windows from zero state; sampling carries the hidden state, so each new token costs
one recurrent step. ``char-gru`` is the same model with ``cell=gru``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...config import ModelConfig
from ...data.base import DataInfo
from ...errors import ConfigError
from ...registry import register_model
from .lm import LanguageModel, adaptive_head, check_softmax


@dataclass
class CharRNNConfig(ModelConfig):
    cell: str = "lstm"  # lstm | gru
    hidden: int = 256  # embedding and hidden width
    layers: int = 2
    dropout: float = 0.0
    tie_weights: bool = True  # the output layer reuses the embedding matrix (full softmax only)
    softmax: str = "auto"  # full | adaptive | auto (adaptive above 4,096 tokens: lm.ADAPTIVE_VOCAB)

    def validate(self) -> None:
        check_softmax(self.softmax)
        if self.cell not in ("lstm", "gru"):
            raise ConfigError(f"model.cell must be lstm or gru, got {self.cell!r}")
        if self.hidden < 1 or self.layers < 1:
            raise ConfigError("model.hidden and model.layers must be >= 1")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")


@register_model
class CharLSTM(LanguageModel):
    name = "char-lstm"
    description = "LSTM (or GRU, model.cell) language model over characters or BPE tokens; bits/char"
    Config = CharRNNConfig

    def __init__(self, config: CharRNNConfig, info: DataInfo):
        super().__init__(config, info)
        h = config.hidden
        self.embed = nn.Embedding(self.vocab_size, h)
        rnn = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.rnn = rnn(h, h, config.layers, batch_first=True, dropout=config.dropout if config.layers > 1 else 0.0)
        self.drop = nn.Dropout(config.dropout)
        self.head = adaptive_head(h, self.vocab_size, info, config.softmax) or nn.Linear(h, self.vocab_size)
        if config.tie_weights and isinstance(self.head, nn.Linear):
            self.head.weight = self.embed.weight

    def features(self, idx: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.drop(self.embed(idx)))
        return self.drop(out)

    def step(self, idx: torch.Tensor, state):
        out, state = self.rnn(self.embed(idx), state)
        return self.head(out[:, -1]), state


@dataclass
class CharGRUConfig(CharRNNConfig):
    cell: str = "gru"


@register_model
class CharGRU(CharLSTM):
    name = "char-gru"
    description = "GRU language model (char-lstm with model.cell=gru)"
    Config = CharGRUConfig
