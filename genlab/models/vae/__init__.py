from . import vae  # noqa: F401
