"""An LSTM that reads the image as a sequence (the recurrent baseline of van den Oord et al. 2016a,
much simplified).

``mode=row``: one LSTM step per row, fed the previous row; the pixels of a row are modelled one after the
other by a small MADE (raster order within the row) that also sees the LSTM state. ``mode=pixel``: one
LSTM step per pixel in raster order, fed the previous pixel and a learned position embedding. Sampling
carries the LSTM state, so each row (or pixel) costs one recurrent step.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...data.base import DataInfo
from ...errors import ConfigError
from .masked import MADENet, made_masks
from ...registry import register_model
from .pixels import PixelConfig, PixelModel


@dataclass
class PixelLSTMConfig(PixelConfig):
    mode: str = "row"  # row | pixel
    hidden: int = 256
    layers: int = 1
    row_hidden: int = 256  # hidden units of the within-row MADE (mode=row)

    def validate(self) -> None:
        super().validate()
        if self.mode not in ("row", "pixel"):
            raise ConfigError(f"model.mode must be row or pixel, got {self.mode!r}")
        if min(self.hidden, self.layers, self.row_hidden) < 1:
            raise ConfigError("model.hidden, model.layers and model.row_hidden must be >= 1")


@register_model
class PixelLSTM(PixelModel):
    name = "pixel-lstm"
    description = "LSTM over the image as a sequence of rows (within-row MADE) or of pixels; exact NLL"
    Config = PixelLSTMConfig

    def __init__(self, config: PixelLSTMConfig, info: DataInfo):
        super().__init__(config, info)
        c, h, w = info.shape
        hid = config.hidden
        if config.mode == "row":
            self.lstm = nn.LSTM(c * w, hid, config.layers, batch_first=True)
            self.row = MADENet(c * w, [config.row_hidden], self.k, context=hid)
            self.row.set_masks(made_masks(torch.arange(c * w), [config.row_hidden], self.k, torch.Generator().manual_seed(0)))
        else:
            self.pos = nn.Embedding(h * w, 16)
            self.lstm = nn.LSTM(c + 16, hid, config.layers, batch_first=True)
            self.out = nn.Linear(hid, self.k * c)

    # sequences: rows (B, H, W*C) with index w*C + c, or pixels (B, H*W, C)
    def _seq(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        return x.permute(0, 2, 3, 1).reshape(b, h, w * c) if self.config.mode == "row" else x.permute(0, 2, 3, 1).reshape(b, h * w, c)

    def _image(self, out: torch.Tensor, h: int) -> torch.Tensor:
        """Step outputs (B, T, K * units) back to logits laid out (B, K * C, H, W)."""
        c, w = self.info.shape[0], self.info.shape[2]
        return out.view(len(out), h, w, self.k, c).permute(0, 3, 4, 1, 2).reshape(len(out), self.k * c, h, w)

    def _inputs(self, seq: torch.Tensor, start: int = 0) -> torch.Tensor:
        """LSTM inputs: the previous row/pixel (zeros first), plus positions in pixel mode."""
        prev = F.pad(seq, (0, 0, 1, 0))[:, :-1] if start == 0 else seq
        if self.config.mode == "row":
            return prev
        pos = self.pos(torch.arange(start, start + seq.shape[1], device=seq.device))
        return torch.cat([prev, pos.expand(len(seq), -1, -1)], -1)

    def _row_logits(self, rows: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Within-row MADE logits (B, T, K, W*C) -> (B, T, W*K*C) in the (w, k, c) layout _image expects."""
        b, t, d = rows.shape
        out = self.row(rows.reshape(b * t, d), state.reshape(b * t, -1)).view(b, t, self.k, self.info.shape[2], -1)
        return out.permute(0, 1, 3, 2, 4).reshape(b, t, -1)

    def net(self, x, cond):
        seq = self._seq(x)
        state, _ = self.lstm(self._inputs(seq))
        h = x.shape[2]
        out = self._row_logits(seq, state) if self.config.mode == "row" else self.out(state)
        return self._image(out, h)

    def _fill(self, x, known, labels, generator):
        b, c, h, w = x.shape
        seq, kseq = self._seq(self.net_input(x)), self._seq(known.float()).bool()
        state, prev = None, torch.zeros_like(seq[:, :1])
        for t in range(seq.shape[1]):
            inp = prev if self.config.mode == "row" else self._inputs(prev, t)
            out, state = self.lstm(inp, state)
            cur = seq[:, t:t + 1]
            if self.config.mode == "row":  # pixels of the row one by one (index w * C + c)
                for d in range(seq.shape[2]):
                    todo = ~kseq[:, t, d]
                    if todo.any():
                        logits = self.row(cur[:, 0], out[:, 0]).view(b, self.k, -1)[:, :, d]
                        v = self.draw(logits.squeeze(1) if self.k == 1 else logits, generator) * 2 - 1
                        cur[:, 0, d] = torch.where(todo, v, cur[:, 0, d])
            elif (~kseq[:, t]).any():
                logits = self.out(out[:, 0]).view(b, self.k, c)
                v = self.draw(logits.squeeze(1) if self.k == 1 else logits, generator) * 2 - 1
                cur[:, 0] = torch.where(~kseq[:, t], v, cur[:, 0])
            prev = cur
        seq = (seq + 1) / 2
        return seq.view(b, h, w, c).permute(0, 3, 1, 2).contiguous()
