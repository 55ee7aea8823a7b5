"""``python -m genlab`` (and ``torchrun -m genlab``): the ``genlab`` command line."""
from .cli import main

if __name__ == "__main__":
    main()
