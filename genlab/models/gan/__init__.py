from . import dcgan  # noqa: F401
