"""Scalescope's fitting core: scaling-law families, robust fits, uncertainty, allocation.

Pure numpy/scipy: no Streamlit, no SQL, no files in the math modules. The public surface:

- :data:`LAWS`, :func:`get_law` — law families by name (``power``, ``chinchilla``, …)
- :func:`fit_law` → :class:`FitResult` — robust multi-start fit
- :func:`bootstrap_fit` → :class:`BootstrapResult` — intervals by resampling runs
- :mod:`scaling_core.allocation` — compute-optimal N and D
- :class:`RunTable` — the per-run table every layer speaks
"""

from scaling_core.fitting import FitInputError, FitResult, fit_law
from scaling_core.laws import LAWS, Law, get_law
from scaling_core.objectives import OBJECTIVES
from scaling_core.schema import RunTable
from scaling_core.uncertainty import BootstrapResult, bootstrap_fit

__all__ = [
    "LAWS",
    "OBJECTIVES",
    "BootstrapResult",
    "FitInputError",
    "FitResult",
    "Law",
    "RunTable",
    "bootstrap_fit",
    "fit_law",
    "get_law",
]
