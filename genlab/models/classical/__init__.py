from . import gmm  # noqa: F401
from . import rbm  # noqa: F401
from . import hmm  # noqa: F401
from . import lda  # noqa: F401
