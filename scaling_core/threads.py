"""Run the core's numerical kernels with single-threaded BLAS.

Why: every matrix in the core is tiny (a handful of parameters, hundreds of points). BLAS
threads cannot speed such work up, but their synchronisation can slow it down badly: on a busy
2-core machine scipy's L-BFGS-B iterations were measured 2–20× slower with OpenBLAS's default
threads than with one. Limiting BLAS to one thread for the duration of a fit is the fix.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from threadpoolctl import threadpool_limits

P = ParamSpec("P")
R = TypeVar("R")


def single_threaded_blas(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run ``func`` with BLAS limited to one thread (restored afterwards)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper
