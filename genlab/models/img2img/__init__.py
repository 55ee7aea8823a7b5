"""Image-to-image models: completion (``inpaint-gan``), super-resolution (``srgan``), paired translation
(``pix2pix``) and unpaired translation (``cyclegan``). Shared base class and networks in ``common.py``;
data in ``genlab/data/paired.py``; metrics and the evaluator in ``genlab/eval/img2img.py``."""
from . import cyclegan, inpaint_gan, pix2pix, srgan  # noqa: F401
