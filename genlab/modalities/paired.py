"""Image-to-image data: aligned (input, target) pairs and unpaired domains; outputs are images."""
from . import Modality

_COMMON = dict(writer="genlab.data.paired:write_paired", suffixes=(".png", ".npz"),
               evaluator="genlab.eval.img2img:evaluate_img2img_run", streamed=False)

MODALITIES = (
    Modality(name="paired", description="aligned image pairs (masks, low resolution, edges -> images)",
             loader="genlab.data.paired:load_paired", **_COMMON),
    Modality(name="unpaired", description="two unpaired image domains (translation both ways)",
             loader="genlab.data.paired:load_unpaired", **_COMMON),
)
