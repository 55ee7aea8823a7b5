"""Masked layers for autoregressive image models: MADE's masked linear layers, PixelCNN's masked
convolutions and the gated PixelCNN layer with its vertical and horizontal stacks (no blind spot).

Every mask is a non-persistent buffer computed from the layer's arguments, so checkpoints hold weights only.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


# ----------------------------------------------------------------------------- MADE


class MaskedLinear(nn.Linear):
    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features)
        self.register_buffer("mask", torch.ones(out_features, in_features), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def made_masks(order: torch.Tensor, hidden: list[int], k_out: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Masks (out, in) of a MADE whose input ``d`` is the ``order[d]``-th (0-based) to be generated.

    Hidden unit degrees are drawn in ``[min degree of the layer below, D - 1]``; a unit connects to units
    of degree <= its own, and output ``d`` only to hidden units of degree < ``order[d] + 1``. The output
    mask is repeated ``k_out`` times (``k_out`` logits per input, laid out (k_out, D)).
    """
    d = len(order)
    degrees = [order.long() + 1]  # 1..D
    for h in hidden:
        low = int(degrees[-1].min()) if d > 1 else 1
        degrees.append(torch.randint(min(low, d - 1), d, (h,), generator=generator) if d > 1 else torch.zeros(h, dtype=torch.long))
    masks = [(deg_out[:, None] >= deg_in[None]).float() for deg_in, deg_out in zip(degrees[:-1], degrees[1:])]
    masks.append((degrees[0][:, None] > degrees[-1][None]).float().repeat(k_out, 1))
    return masks


class MADENet(nn.Module):
    """Masked MLP: D inputs -> ``k_out * D`` outputs, output ``d`` depending only on inputs earlier in the
    order set by :meth:`set_masks`. ``context`` features (e.g. an RNN state) feed every hidden and output unit."""

    def __init__(self, d: int, hidden: list[int], k_out: int = 1, context: int = 0):
        super().__init__()
        sizes = [d, *hidden]
        self.hidden = nn.ModuleList(MaskedLinear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = MaskedLinear(sizes[-1], k_out * d)
        self.context = nn.Linear(context, hidden[0], bias=False) if context else None
        self.context_out = nn.Linear(context, k_out * d, bias=False) if context else None  # reaches the first input too
        self.d, self.k_out, self.sizes = d, k_out, hidden

    def set_masks(self, masks: list[torch.Tensor]) -> None:
        for layer, m in zip([*self.hidden, self.out], masks):
            layer.mask.copy_(m)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        h = self.hidden[0](x)
        if self.context is not None:
            h = h + self.context(context)
        h = F.relu(h)
        for layer in self.hidden[1:]:
            h = F.relu(layer(h))
        return self.out(h) if self.context is None else self.out(h) + self.context_out(context)


# ----------------------------------------------------------------------------- PixelCNN


class MaskedConv2d(nn.Conv2d):
    """Square convolution seeing only pixels above, and to the left in the same row; type ``A`` also hides
    the centre pixel (first layer), type ``B`` shows it (later layers). Channels of one pixel are predicted
    independently given the pixels before it, so no channel-group masks are needed."""

    def __init__(self, cin: int, cout: int, kernel: int, mask_type: str):
        super().__init__(cin, cout, kernel, padding=kernel // 2)
        mask = torch.ones(kernel, kernel)
        c = kernel // 2
        mask[c, c + (mask_type == "B"):] = 0
        mask[c + 1:] = 0
        self.register_buffer("mask", mask[None, None].expand(cout, cin, -1, -1).contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class PixelCNNResBlock(nn.Module):
    """Residual block of PixelCNN (van den Oord et al. 2016a): 1x1 down, masked 3x3 (type B), 1x1 up."""

    def __init__(self, ch: int):
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Conv2d(2 * ch, ch, 1), nn.ReLU(), MaskedConv2d(ch, ch, 3, "B"),
                                 nn.ReLU(), nn.Conv2d(ch, 2 * ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def _gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedPixelCNNLayer(nn.Module):
    """One layer of the gated PixelCNN (van den Oord et al. 2016b).

    The vertical stack at row ``i`` sees rows ``<= i`` (a ``(k//2 + 1) x k`` convolution padded on top); it
    reaches the horizontal stack shifted down one row, so the horizontal stack at ``(i, j)`` sees every row
    above plus pixels ``< j`` of its row (``<= j`` after the first layer): no blind spot. Both stacks are
    gated, ``tanh(a) * sigmoid(b)``, with an optional class bias; the horizontal stack is residual.
    """

    def __init__(self, cin: int, ch: int, kernel: int, first: bool, num_classes: int = 0):
        super().__init__()
        self.k, self.first = kernel // 2, first
        self.v = nn.Conv2d(cin, 2 * ch, (self.k + 1, kernel))
        self.h = nn.Conv2d(cin, 2 * ch, (1, self.k + 1))
        h_mask = torch.ones(1, self.k + 1)
        if first:
            h_mask[0, -1] = 0  # the first layer must not see the pixel it predicts
        self.register_buffer("h_mask", h_mask, persistent=False)
        self.v_to_h = nn.Conv2d(2 * ch, 2 * ch, 1)
        self.h_out = nn.Conv2d(ch, ch, 1)
        self.cond = nn.Linear(num_classes, 4 * ch, bias=False) if num_classes else None

    def forward(self, v_in: torch.Tensor, h_in: torch.Tensor, cond: torch.Tensor | None = None):
        k = self.k
        v = self.v(F.pad(v_in, (k, k, k, 0)))
        h = self.h._conv_forward(F.pad(h_in, (k, 0, 0, 0)), self.h.weight * self.h_mask, self.h.bias)
        h = h + self.v_to_h(F.pad(v, (0, 0, 1, 0))[:, :, :-1])
        if self.cond is not None:
            cv, ch = self.cond(cond)[:, :, None, None].chunk(2, dim=1)
            v, h = v + cv, h + ch
        h = self.h_out(_gate(h))
        return _gate(v), h if self.first else h_in + h
