"""DCGAN's model.blocks (issue 15): extra 3×3 conv blocks at the small resolutions of G and D, used by the
quickstart on 8×8 digits; blocks=0 keeps the DCGAN as it was."""
import json

import pytest
import torch
from torch import nn

from genlab.data.base import DataInfo
from genlab.errors import ConfigError
from genlab.models.gan.variants import DCGAN, DCGANConfig
from genlab.quickstart import PLAN
from genlab.training.run import train


def _convs(m: nn.Module) -> list[tuple[int, int, tuple]]:
    return [(c.in_channels, c.out_channels, c.kernel_size) for c in m.modules() if isinstance(c, (nn.Conv2d, nn.ConvTranspose2d))]


def test_blocks_add_3x3_convs_below_the_output_and_after_each_d_stage():
    info = DataInfo("image", (1, 8, 8))
    plain, deep = DCGAN(DCGANConfig(), info), DCGAN(DCGANConfig(blocks=1), info)
    assert _convs(plain.generator) == [(32, 1, (4, 4))] and _convs(plain.discriminator) == [(1, 32, (4, 4))]
    assert _convs(deep.generator) == [(32, 32, (3, 3)), (32, 1, (4, 4))]  # at 4×4, none at the 8×8 output
    assert _convs(deep.discriminator) == [(1, 32, (4, 4)), (32, 32, (3, 3))]
    only_g = DCGAN(DCGANConfig(blocks=2, blocks_d=0), DataInfo("image", (1, 28, 28)))
    assert [k for *_, k in _convs(only_g.generator)].count((3, 3)) == 4  # two at 7×7, two at 14×14
    assert _convs(only_g.discriminator) == _convs(DCGAN(DCGANConfig(), DataInfo("image", (1, 28, 28))).discriminator)
    z = torch.randn(4, 64)
    assert deep.generator(z).shape == (4, 1, 8, 8) and deep.discriminator(deep.generator(z)).adv.shape == (4,)


@pytest.mark.parametrize("field,value,msg", [("blocks", -1, "model.blocks must be an integer >= 0"),
                                             ("blocks_d", -2, "model.blocks_d must be an integer >= 0")])
def test_bad_blocks_are_refused_by_name(field, value, msg):
    with pytest.raises(ConfigError, match=msg):
        DCGANConfig(**{field: value}).validate()
    with pytest.raises(ConfigError, match="model.arch=mlp"):
        DCGANConfig(arch="mlp", blocks=1).validate()


def test_quickstart_dcgan_uses_blocks_and_config_records_them(tmp_path):
    name, model_cfg, _ = PLAN[2]
    assert name == "dcgan" and model_cfg["blocks"] == 1
    train("dcgan", "digits", tmp_path / "run", model_config=model_cfg, max_steps=2, batch_size=16, progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["model_config"]
    assert saved["blocks"] == 1 and saved["blocks_d"] is None
