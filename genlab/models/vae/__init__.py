"""Autoencoders and variational autoencoders: ae, dae, vae, beta-vae, cvae, iwae and the sequence
autoencoder seq-ae. Importing this package registers them."""
from . import ae, seqae, vae  # noqa: F401
from . import m2  # noqa: F401
