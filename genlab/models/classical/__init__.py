from . import gmm  # noqa: F401
