"""Autoregressive models: one element at a time, each predicted from the ones before it.

Text: ``char-lstm`` / ``char-gru`` and ``transformer-lm`` (shared base in ``lm.py``). Images: ``made``,
``pixelcnn``, ``gated-pixelcnn`` and ``pixel-lstm`` (shared base in ``pixels.py``), which can also complete
partly covered images (``genlab complete``).
"""
from . import rnn, transformer  # noqa: F401
from . import made, pixel_lstm, pixelcnn  # noqa: F401,E402
from . import wavenet  # noqa: F401,E402
