"""Models for tables: CTGAN, TVAE, a Gaussian copula, a latent-class mixture and a nearest-neighbour copy."""
from ...tabular import evaluate as _evaluate  # noqa: F401  (registers the table evaluator)
from ...tabular import io as _io  # noqa: F401  (registers the writer for table samples)
from . import copula, ctgan, gmm, nn_copy, tvae  # noqa: F401
from . import audience_gan, audience_nn, audience_vae  # noqa: F401  (audiences: users of new items)
