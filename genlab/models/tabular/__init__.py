"""Models for tables: CTGAN, TVAE, TabDDPM, a Gaussian copula, a latent-class mixture, sequential CART synthesis
and a nearest-neighbour copy, with their encodings (``encoding``, ``marginals``), ``--where`` conditions (``conditions``) and networks
(``networks``). Reading tables and their schema: ``genlab/data/tabular/``; metrics: ``genlab/eval/tabular/``."""
from . import cart, copula, ctgan, gmm, nn_copy, tab_ddpm, tvae  # noqa: F401
from . import audience_ddpm, audience_gan, audience_nn, audience_vae  # noqa: F401  (audiences: users of new items)
