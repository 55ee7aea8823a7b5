"""The named GAN variants: the one implementation in ``gan.py`` with other defaults.

Every field can still be changed (``--set model.loss=hinge``); the name only picks the starting point.
``arch=auto`` (the default) means DCGAN-style convolutions for images and an MLP for vectors.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...registry import register_model
from .gan import GAN, GANConfig


@dataclass
class MLPGANConfig(GANConfig):
    arch: str = "mlp"


@register_model
class MLPGAN(GAN):
    name = "gan"
    description = "GAN with MLP generator/discriminator (2-D toys, vectors, small images); loss chosen by name"
    Config = MLPGANConfig
    modalities = ("vector", "image")
    # small MLPs on 2-D toys: 2e-4 barely moves in a few thousand steps
    train_defaults = {**GAN.train_defaults, "lr": 1e-3}


@dataclass
class DCGANConfig(GANConfig):
    arch: str = "conv"


@register_model
class DCGAN(GAN):
    name = "dcgan"
    description = "DCGAN: convolutional generator/discriminator scaled to the image size, loss chosen by name"
    Config = DCGANConfig
    modalities = ("image",)


@dataclass
class CGANConfig(GANConfig):
    conditional: bool = True
    cond_d: str = "concat"


@register_model
class CGAN(GAN):
    name = "cgan"
    description = "Class-conditional GAN: labels into G and D (concatenation, or cond_d=projection); sample --label"
    Config = CGANConfig
    modalities = ("image", "vector")


@dataclass
class ACGANConfig(GANConfig):
    conditional: bool = True
    cond_d: str = "none"
    ac_weight: float = 1.0


@register_model
class ACGAN(GAN):
    name = "acgan"
    description = "AC-GAN: conditional generator; the discriminator also classifies real and generated samples"
    Config = ACGANConfig
    modalities = ("image", "vector")


@dataclass
class WGANConfig(GANConfig):
    loss: str = "wgan"
    clip: float | None = 0.01
    d_steps: int = 5


@register_model
class WGAN(GAN):
    name = "wgan"
    description = "Wasserstein GAN with weight clipping (RMSprop, 5 critic steps per generator step)"
    Config = WGANConfig
    modalities = ("image", "vector")
    train_defaults = {**GAN.train_defaults, "lr": 5e-5, "optimizer": "rmsprop"}


@dataclass
class WGANGPConfig(GANConfig):
    loss: str = "wgan"
    gp_weight: float = 10.0
    d_steps: int = 5
    norm_d: str = "none"  # batch norm would couple the samples the penalty treats one by one


@register_model
class WGANGP(GAN):
    name = "wgan-gp"
    description = "Wasserstein GAN with gradient penalty (Adam 1e-4, betas 0/0.9, 5 critic steps, lambda 10)"
    Config = WGANGPConfig
    modalities = ("image", "vector")
    train_defaults = {**GAN.train_defaults, "lr": 1e-4, "betas": [0.0, 0.9]}


@dataclass
class LSGANConfig(GANConfig):
    loss: str = "lsgan"


@register_model
class LSGAN(GAN):
    name = "lsgan"
    description = "Least-squares GAN: squared-error targets instead of log-loss"
    Config = LSGANConfig
    modalities = ("image", "vector")


@dataclass
class HingeSNConfig(GANConfig):
    loss: str = "hinge"
    spectral_norm: bool = True
    norm_d: str = "none"


@register_model
class HingeSN(GAN):
    name = "hinge-sn"
    description = "Hinge loss with a spectrally normalised discriminator (SN-GAN)"
    Config = HingeSNConfig
    modalities = ("image", "vector")


@dataclass
class PacGANConfig(GANConfig):
    pack: int = 4


@register_model
class PacGAN(GAN):
    name = "pacgan"
    description = "PacGAN: the discriminator judges packs of samples, which penalises mode collapse"
    Config = PacGANConfig
    modalities = ("image", "vector")


@dataclass
class MGANConfig(GANConfig):
    n_generators: int = 8


@register_model
class MGAN(GAN):
    name = "mgan"
    description = "MGAN: several generators (one shared network) and a classifier that pushes them apart"
    Config = MGANConfig
    modalities = ("image", "vector")


@dataclass
class D2GANConfig(GANConfig):
    loss: str = "d2gan"
    # MLPs (vectors) with two hidden layers, near Nguyen et al.'s 2-D networks (G: 2, D: 1). With the default
    # three it failed on ring8 (0.3 of 8 modes, G's gradient norm growing all run); with two it covered all
    # 8 on three seeds (docs/gans.md). Convolutional nets do not use depth.
    depth: int = 2


@register_model
class D2GAN(GAN):
    name = "d2gan"
    description = "D2GAN: two discriminators (KL and reverse KL) against mode collapse"
    Config = D2GANConfig
    modalities = ("image", "vector")
