"""Recurrent encoder and decoder for variable-length token sequences padded with 0.

``SeqEncoder`` reads the tokens of each sequence (packed: padding is never seen) with a bidirectional
GRU and maps the two final states to a fixed-size vector. ``SeqDecoder`` starts a GRU from that vector
(and feeds it again at every step) and predicts the next token, teacher-forced in training and greedy or
sampled, one step for the whole batch at a time, in ``generate``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class SeqEncoder(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, out_dim: int, layers: int = 1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = nn.GRU(embed_dim, hidden, layers, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, out_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lengths = (ids != 0).sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.embed(ids), lengths, batch_first=True, enforce_sorted=False)
        _, h = self.rnn(packed)  # (layers * 2, N, hidden): the last layer's two directions come last
        return self.out(torch.cat([h[-2], h[-1]], dim=1))


class SeqDecoder(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, in_dim: int, layers: int = 1):
        super().__init__()
        self.layers, self.hidden = layers, hidden
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.init = nn.Linear(in_dim, layers * hidden)
        self.rnn = nn.GRU(embed_dim + in_dim, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def _h0(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.init(z)).view(len(z), self.layers, self.hidden).transpose(0, 1).contiguous()

    def _step_inputs(self, tokens: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.embed(tokens), z[:, None].expand(-1, tokens.shape[1], -1)], dim=-1)

    def forward(self, z: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Next-token logits (N, T, vocab) for teacher-forced ``inputs`` (N, T)."""
        out, _ = self.rnn(self._step_inputs(inputs, z), self._h0(z))
        return self.out(out)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, length: int, start: int, temperature: float = 0.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Token ids (N, length): greedy for ``temperature`` 0, sampled from softmax(logits / temperature) otherwise."""
        h = self._h0(z)
        tok = torch.full((len(z), 1), start, dtype=torch.long, device=z.device)
        out = []
        for _ in range(length):
            o, h = self.rnn(self._step_inputs(tok, z), h)
            logits = self.out(o[:, 0])
            if temperature > 0:
                tok = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=generator)
            else:
                tok = logits.argmax(-1, keepdim=True)
            out.append(tok)
        return torch.cat(out, dim=1)
