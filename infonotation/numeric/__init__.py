"""The numeric compiler: information quantities -> weight-space Fisher/log-det computations on a torch model.

``compile(expr, network, ...)`` maps a quantity to its weight-space form (:func:`weight_space_form`), lowers it
to a cached plan and binds it to the network's curvature (last layer in closed form, or the whole network with
``torch.func``). See ``compile.py`` for the entry point, ``curvature.py`` for Fisher/observed information and
``linalg.py`` for the Cholesky/jitter policy and the determinant lemma.
"""

from .compile import CompiledAcquisition, clear_cache, compile
from .curvature import (
    empirical_fisher,
    fisher_information,
    gradients,
    observed_information,
)
from .forms import weight_space_form
from .linalg import JitterWarning
from .plan import Plan, lower

__all__ = [
    "compile",
    "CompiledAcquisition",
    "clear_cache",
    "weight_space_form",
    "lower",
    "Plan",
    "fisher_information",
    "observed_information",
    "gradients",
    "empirical_fisher",
    "JitterWarning",
]
