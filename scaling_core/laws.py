"""Scaling-law families: a small class each, registered by name.

Every law is written as a prediction of **log L** in an *internal* parameterisation chosen for good
conditioning (log-coefficients, as in the Epoch AI replication's log-sum-exp form), with an analytic
Jacobian. Public parameters (what users read: ``A``, ``alpha``, …) are converted at the edges.

Why log-space: losses span a small range but coefficients span many orders of magnitude; fitting
``log A`` instead of ``A`` removes most of the ill-conditioning that makes naive fits stop early.

Shapes: ``theta`` is ``(p,)`` or ``(k, p)`` (k candidate parameter vectors at once, used to score a
whole initialisation grid in one vectorised pass); inputs are ``(n,)`` arrays; ``log_predict``
returns ``(n,)`` or ``(k, n)``.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

Inputs = dict[str, np.ndarray]
"""Law inputs by name: ``{"N": params, "D": tokens}`` for joint laws, ``{"x": resource}`` else.
Public methods take linear inputs ``X``; the hot-path methods take their logs ``U``."""

LOG_FLOOR_MIN = -30.0
"""Lower bound of a log-floor parameter: e^-30 ≈ 1e-13 is 'no floor' for any real loss."""


def log_inputs(X: Inputs) -> Inputs:
    """Laws compute on log inputs: ``{name: log x}``. Computed once per fit, not per step."""
    return {k: np.log(np.asarray(v, dtype=float)) for k, v in X.items()}


def _logsumexp(logs: list[np.ndarray]) -> np.ndarray:
    """log Σ exp over a short list of same-shape arrays (faster than scipy's for 2–3 terms)."""
    top = logs[0]
    for t in logs[1:]:
        top = np.maximum(top, t)
    total = np.exp(logs[0] - top)
    for t in logs[1:]:
        total += np.exp(t - top)
    return top + np.log(total)


def _col(theta: np.ndarray, i: int) -> np.ndarray:
    """Parameter ``i`` of ``theta`` shaped to broadcast against ``(n,)`` inputs."""
    return theta[..., i, None] if theta.ndim > 1 else theta[i]


def _engineering(value: float) -> str:
    """A short human number: 406.4, 2.09e+03, 0.3478."""
    if value == 0 or not np.isfinite(value):
        return f"{value:g}"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e4:
        return f"{value:.4g}"
    return f"{value:.3e}"


def _signed(value: float) -> str:
    """A number to follow a minus sign in LaTeX: negative values in parentheses, so a formula
    never shows '--'."""
    text = _engineering(value)
    return f"({text})" if value < 0 else text


@dataclass(frozen=True)
class ParamSpec:
    """A public parameter: its name, a LaTeX symbol and what it means (with units)."""

    name: str
    symbol: str
    meaning: str


class Law(ABC):
    """A scaling-law family. Subclasses are stateless; instances are shared via :data:`LAWS`."""

    name: str
    title: str
    inputs: tuple[str, ...]
    public: tuple[ParamSpec, ...]
    internal_names: tuple[str, ...]
    decreasing: bool = True
    """Whether the law is monotone non-increasing in each input for every admissible parameter."""
    default_objective: str = "huber_log"
    exponent_indices: tuple[int, ...] = ()
    """Internal parameters that are exponents: they set the basins of the fit, so the
    multi-start keeps one start per distinct combination of them (see fitting)."""

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.public)

    @property
    def n_params(self) -> int:
        return len(self.internal_names)

    @abstractmethod
    def log_predict(self, theta: np.ndarray, U: Inputs) -> np.ndarray:
        """log of the predicted metric at *log* inputs ``U``, ``(n,)`` or ``(k, n)``."""

    @abstractmethod
    def log_jacobian(self, theta: np.ndarray, U: Inputs) -> np.ndarray:
        """∂ log L̂ / ∂ theta at log inputs ``U``: ``(n, p)`` for ``theta`` ``(p,)``.

        Batched: ``theta`` ``(B, p)`` with inputs ``(B, n)`` (one resample per row) gives
        ``(B, n, p)`` — the bootstrap optimises all resamples at once this way.
        """

    @abstractmethod
    def bounds(self) -> list[tuple[float | None, float | None]]:
        """Box bounds of the internal parameters (for L-BFGS-B)."""

    @abstractmethod
    def initial_grid(self, X: Inputs, y: np.ndarray) -> np.ndarray:
        """Candidate starts ``(k, p)`` in internal space, built from the data's scale."""

    @abstractmethod
    def to_public(self, theta: np.ndarray) -> dict[str, float]:
        """Internal vector → ``{public name: value}``."""

    @abstractmethod
    def from_public(self, params: dict[str, float]) -> np.ndarray:
        """``{public name: value}`` → internal vector (inverse of :meth:`to_public`)."""

    @abstractmethod
    def formula(self, params: dict[str, float] | None = None) -> str:
        """LaTeX of the law, with fitted numbers substituted when ``params`` is given."""

    def log_predict_and_jacobian(
        self, theta: np.ndarray, U: Inputs
    ) -> tuple[np.ndarray, np.ndarray]:
        """Both at once; laws whose two share work override this (it is the fitting hot path)."""
        return self.log_predict(theta, U), self.log_jacobian(theta, U)

    def log_predict_with_vjp(
        self, theta: np.ndarray, U: Inputs
    ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        """log L̂ and a function mapping a cotangent ``c`` (shape of log L̂) to Σₙ cₙ·∂log L̂ₙ/∂θ.

        Objectives only need this vector-Jacobian product, not the Jacobian; laws can skip
        building the ``(…, n, p)`` array (the bootstrap's hot path).
        """
        log_pred, jac = self.log_predict_and_jacobian(theta, U)
        return log_pred, lambda cot: np.einsum("...n,...np->...p", cot, jac)

    def predict(self, params: dict[str, float], X: Inputs) -> np.ndarray:
        """The metric (linear units) at inputs ``X`` (linear units) for public ``params``."""
        return np.exp(self.log_predict(self.from_public(params), log_inputs(X)))

    def floor(self, params: dict[str, float]) -> float | None:
        """The irreducible level the law approaches at infinite scale, if it has one."""
        return None


# --------------------------------------------------------------------------------------------
# Sums of power laws plus a floor, in log-sum-exp form: log L = LSE(c_k - s_k·log x_k, e)
# --------------------------------------------------------------------------------------------


class _PowerSum(Law):
    """Shared math of ``E + Σ_k A_k x_k^(-s_k)``: internal ``(log A_1, s_1, …, log E)``.

    Terms are listed as (input name, index of log A, index of exponent); ``floor_index`` is the
    index of ``log E`` or None when the law has no floor.
    """

    terms: tuple[tuple[str, int, int], ...]
    floor_index: int | None

    @property
    def exponent_indices(self) -> tuple[int, ...]:  # type: ignore[override]
        return tuple(ib for _, _, ib in self.terms)

    def _log_terms(self, theta: np.ndarray, U: Inputs) -> list[np.ndarray]:
        """log of each additive term; the floor term is a scalar (or (k, 1) for a batch)."""
        logs = [_col(theta, ia) - _col(theta, ib) * U[name] for name, ia, ib in self.terms]
        if self.floor_index is not None:
            logs.append(_col(theta, self.floor_index))
        return logs

    def log_predict(self, theta: np.ndarray, U: Inputs) -> np.ndarray:
        logs = self._log_terms(theta, U)
        return logs[0] if len(logs) == 1 else _logsumexp(logs)

    def log_jacobian(self, theta: np.ndarray, U: Inputs) -> np.ndarray:
        return self.log_predict_and_jacobian(theta, U)[1]

    def log_predict_and_jacobian(
        self, theta: np.ndarray, U: Inputs
    ) -> tuple[np.ndarray, np.ndarray]:
        # One exp per term: shifted terms give both log L̂ and each term's share of L̂.
        logs = self._log_terms(theta, U)
        top = logs[0]
        for t in logs[1:]:
            top = np.maximum(top, t)
        shifted = [np.exp(t - top) for t in logs]
        total = shifted[0]
        for s_k in shifted[1:]:
            total = total + s_k
        log_pred = top + np.log(total)
        jac = np.empty((*log_pred.shape, self.n_params))
        for k, (name, ia, ib) in enumerate(self.terms):
            share = shifted[k] / total
            jac[..., ia] = share
            jac[..., ib] = -share * U[name]
        if self.floor_index is not None:
            jac[..., self.floor_index] = shifted[-1] / total
        return log_pred, jac

    def log_predict_with_vjp(
        self, theta: np.ndarray, U: Inputs
    ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        logs = self._log_terms(theta, U)
        top = logs[0]
        for t in logs[1:]:
            top = np.maximum(top, t)
        shifted = [np.exp(t - top) for t in logs]
        total = shifted[0]
        for s_k in shifted[1:]:
            total = total + s_k
        log_pred = top + np.log(total)

        def vjp(cot: np.ndarray) -> np.ndarray:
            grad = np.empty((*cot.shape[:-1], self.n_params))
            weighted = cot / total
            for k, (name, ia, ib) in enumerate(self.terms):
                share = weighted * shifted[k]
                grad[..., ia] = share.sum(axis=-1)
                grad[..., ib] = -(share * U[name]).sum(axis=-1)
            if self.floor_index is not None:
                grad[..., self.floor_index] = (weighted * shifted[-1]).sum(axis=-1)
            return grad

        return log_pred, vjp


class PowerLaw(_PowerSum):
    """``L = a·x^(-b) + c`` on one resource x (params, tokens or compute)."""

    name = "power"
    title = "Power law with floor  L = a·x^(-b) + c"
    inputs = ("x",)
    public = (
        ParamSpec("a", "a", "scale coefficient (units of L · x^b)"),
        ParamSpec("b", "b", "exponent: how fast the reducible loss falls with x"),
        ParamSpec("c", "c", "irreducible loss floor (units of L)"),
    )
    internal_names = ("log_a", "b", "log_c")
    terms = (("x", 0, 1),)
    floor_index = 2

    def bounds(self) -> list[tuple[float | None, float | None]]:
        return [(-50.0, 120.0), (0.0, 5.0), (LOG_FLOOR_MIN, 10.0)]

    def initial_grid(self, X: Inputs, y: np.ndarray) -> np.ndarray:
        logx = np.log(X["x"])
        starts = []
        for b in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0):
            for frac in (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99):
                c = frac * float(np.min(y))
                # log a chosen so the reducible part matches the data on average (closed form).
                log_a = float(np.median(np.log(np.maximum(y - c, 1e-12)) + b * logx))
                starts.append((log_a, b, np.log(c) if c > 0 else LOG_FLOOR_MIN))
        return np.array(starts)

    def to_public(self, theta: np.ndarray) -> dict[str, float]:
        return {"a": float(np.exp(theta[0])), "b": float(theta[1]), "c": float(np.exp(theta[2]))}

    def from_public(self, params: dict[str, float]) -> np.ndarray:
        c = params["c"]
        return np.array(
            [np.log(params["a"]), params["b"], np.log(c) if c > 0 else LOG_FLOOR_MIN], dtype=float
        )

    def formula(self, params: dict[str, float] | None = None) -> str:
        if params is None:
            return r"L(x) = a \cdot x^{-b} + c"
        a, c = _engineering(params["a"]), _engineering(params["c"])
        return rf"L(x) = {a} \cdot x^{{{_engineering(-params['b'])}}} + {c}"

    def floor(self, params: dict[str, float]) -> float | None:
        return params["c"]


class PurePowerLaw(_PowerSum):
    """``L = a·x^(-b)``: no floor; a straight line on log-log axes."""

    name = "power_nofloor"
    title = "Power law without floor  L = a·x^(-b)"
    inputs = ("x",)
    public = (
        ParamSpec("a", "a", "scale coefficient (units of L · x^b)"),
        ParamSpec("b", "b", "exponent (slope on log-log axes, sign flipped)"),
    )
    internal_names = ("log_a", "b")
    terms = (("x", 0, 1),)
    floor_index = None
    decreasing = False  # b may be negative: the law must be able to fit inverse scaling

    def bounds(self) -> list[tuple[float | None, float | None]]:
        return [(-50.0, 120.0), (-5.0, 5.0)]

    def initial_grid(self, X: Inputs, y: np.ndarray) -> np.ndarray:
        slope, intercept = np.polyfit(np.log(X["x"]), np.log(y), 1)
        return np.array([[intercept, -slope]])

    def to_public(self, theta: np.ndarray) -> dict[str, float]:
        return {"a": float(np.exp(theta[0])), "b": float(theta[1])}

    def from_public(self, params: dict[str, float]) -> np.ndarray:
        return np.array([np.log(params["a"]), params["b"]], dtype=float)

    def formula(self, params: dict[str, float] | None = None) -> str:
        if params is None:
            return r"L(x) = a \cdot x^{-b}"
        return rf"L(x) = {_engineering(params['a'])} \cdot x^{{{_engineering(-params['b'])}}}"


class ChinchillaLaw(_PowerSum):
    """Hoffmann et al. (2022): ``L(N, D) = E + A/N^α + B/D^β``.

    Internal ``(a, b, e, α, β)`` with A = e^a, B = e^b, E = e^e — the Epoch AI replication's order.
    """

    name = "chinchilla"
    title = "Chinchilla joint law  L = E + A/N^α + B/D^β"
    inputs = ("N", "D")
    public = (
        ParamSpec("E", "E", "irreducible loss (nats)"),
        ParamSpec("A", "A", "parameter-term coefficient (nats · params^α)"),
        ParamSpec("B", "B", "data-term coefficient (nats · tokens^β)"),
        ParamSpec("alpha", r"\alpha", "parameter exponent"),
        ParamSpec("beta", r"\beta", "data exponent"),
    )
    internal_names = ("a", "b", "e", "alpha", "beta")
    terms = (("N", 0, 3), ("D", 1, 4))
    floor_index = 2

    def bounds(self) -> list[tuple[float | None, float | None]]:
        return [(-20.0, 60.0), (-20.0, 60.0), (LOG_FLOOR_MIN, 5.0), (0.0, 3.0), (0.0, 3.0)]

    def initial_grid(self, X: Inputs, y: np.ndarray) -> np.ndarray:
        """The Epoch AI grid: α, β ∈ {0, 0.5, …, 2}; e ∈ {-1, …, 1}; a, b ∈ {0, 5, …, 25}."""
        exps = np.arange(0.0, 2.01, 0.5)
        es = np.arange(-1.0, 1.01, 0.5)
        coefs = np.arange(0.0, 25.01, 5.0)
        grid = itertools.product(coefs, coefs, es, exps, exps)
        return np.array(list(grid), dtype=float)

    def to_public(self, theta: np.ndarray) -> dict[str, float]:
        a, b, e, alpha, beta = (float(v) for v in theta)
        return {
            "E": float(np.exp(e)),
            "A": float(np.exp(a)),
            "B": float(np.exp(b)),
            "alpha": alpha,
            "beta": beta,
        }

    def from_public(self, params: dict[str, float]) -> np.ndarray:
        return np.array(
            [
                np.log(params["A"]),
                np.log(params["B"]),
                np.log(params["E"]),
                params["alpha"],
                params["beta"],
            ],
            dtype=float,
        )

    def formula(self, params: dict[str, float] | None = None) -> str:
        if params is None:
            return r"L(N, D) = E + \frac{A}{N^{\alpha}} + \frac{B}{D^{\beta}}"
        E, A, B, al, be = (_engineering(params[k]) for k in ("E", "A", "B", "alpha", "beta"))
        return rf"L(N, D) = {E} + \frac{{{A}}}{{N^{{{al}}}}} + \frac{{{B}}}{{D^{{{be}}}}}"

    def floor(self, params: dict[str, float]) -> float | None:
        return params["E"]


# --------------------------------------------------------------------------------------------
# Kaplan et al. (2020) joint form
# --------------------------------------------------------------------------------------------


class KaplanLaw(Law):
    """``L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D``; internal ``(log N_c, log D_c, α_N, α_D)``."""

    name = "kaplan"
    title = "Kaplan joint law  L = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D"
    inputs = ("N", "D")
    public = (
        ParamSpec("N_c", "N_c", "critical parameter count (params)"),
        ParamSpec("D_c", "D_c", "critical token count (tokens)"),
        ParamSpec("alpha_N", r"\alpha_N", "parameter exponent"),
        ParamSpec("alpha_D", r"\alpha_D", "data exponent"),
    )
    internal_names = ("log_Nc", "log_Dc", "alpha_N", "alpha_D")
    exponent_indices = (2, 3)

    def _parts(self, theta: np.ndarray, U: Inputs) -> tuple[np.ndarray, ...]:
        lnc, ldc, an, ad = (_col(theta, i) for i in range(4))
        ratio = an / ad
        gap_n = lnc - U["N"]
        u1 = ratio * gap_n
        u2 = ldc - U["D"]
        u1, u2 = np.broadcast_arrays(u1, u2)
        s = np.logaddexp(u1, u2)
        return s, u1, u2, gap_n, ratio, ad

    def log_predict(self, theta: np.ndarray, U: Inputs) -> np.ndarray:
        s, *_, ad = self._parts(theta, U)
        return ad * s

    def log_jacobian(self, theta: np.ndarray, U: Inputs) -> np.ndarray:
        s, u1, _u2, gap_n, ratio, ad = self._parts(theta, U)
        w1 = np.exp(u1 - s)
        w2 = 1.0 - w1
        cols = [ad * ratio * w1, ad * w2, w1 * gap_n, s - w1 * ratio * gap_n]
        return np.stack(np.broadcast_arrays(*cols), axis=-1)

    def bounds(self) -> list[tuple[float | None, float | None]]:
        return [(-20.0, 80.0), (-20.0, 80.0), (1e-3, 3.0), (1e-3, 3.0)]

    def initial_grid(self, X: Inputs, y: np.ndarray) -> np.ndarray:
        ln = np.log(X["N"])
        ld = np.log(X["D"])
        grid = itertools.product(
            np.linspace(ln.min(), ln.max() + 20.0, 6),
            np.linspace(ld.min(), ld.max() + 20.0, 6),
            (0.03, 0.07, 0.15, 0.3, 0.6),
            (0.03, 0.07, 0.15, 0.3, 0.6),
        )
        return np.array(list(grid), dtype=float)

    def to_public(self, theta: np.ndarray) -> dict[str, float]:
        return {
            "N_c": float(np.exp(theta[0])),
            "D_c": float(np.exp(theta[1])),
            "alpha_N": float(theta[2]),
            "alpha_D": float(theta[3]),
        }

    def from_public(self, params: dict[str, float]) -> np.ndarray:
        return np.array(
            [np.log(params["N_c"]), np.log(params["D_c"]), params["alpha_N"], params["alpha_D"]]
        )

    def formula(self, params: dict[str, float] | None = None) -> str:
        if params is None:
            return (
                r"L(N, D) = \left[\left(\frac{N_c}{N}\right)^{\alpha_N/\alpha_D}"
                r" + \frac{D_c}{D}\right]^{\alpha_D}"
            )
        nc, dc, an, ad = (_engineering(params[k]) for k in ("N_c", "D_c", "alpha_N", "alpha_D"))
        return (
            rf"L(N, D) = \left[\left(\frac{{{nc}}}{{N}}\right)^{{{an}/{ad}}}"
            rf" + \frac{{{dc}}}{{D}}\right]^{{{ad}}}"
        )


# --------------------------------------------------------------------------------------------
# Smoothly broken power law (Caballero et al. 2022, "BNSL") with a floor
# --------------------------------------------------------------------------------------------


class BrokenPowerLaw(Law):
    """``L = c + a·x^(-b0) · Π_i (1 + (x/d_i)^(1/f_i))^(-b_i·f_i)`` on one resource.

    The log-log slope is -b0 well below the first break d_1 and -(b0 + b_1 + …) past the breaks;
    f_i > 0 sets how sharp each break is. Internal per break: ``(b_i, log d_i, log f_i)``.
    """

    title_template = (
        "Smoothly broken power law ({k} break{s})  L = c + a·x^-b0·Π(1+(x/d)^(1/f))^(-b·f)"
    )
    inputs = ("x",)
    decreasing = False  # a later segment may have a negative added slope

    def __init__(self, n_breaks: int) -> None:
        self.n_breaks = n_breaks
        self.name = "bnsl" if n_breaks == 1 else f"bnsl{n_breaks}"
        self.title = self.title_template.format(k=n_breaks, s="" if n_breaks == 1 else "s")
        specs = [
            ParamSpec("a", "a", "scale coefficient"),
            ParamSpec("b0", "b_0", "exponent before the first break"),
        ]
        names = ["log_a", "b0"]
        for i in range(1, n_breaks + 1):
            specs += [
                ParamSpec(f"b{i}", f"b_{i}", f"change of exponent at break {i}"),
                ParamSpec(f"d{i}", f"d_{i}", f"location of break {i} (units of x)"),
                ParamSpec(f"f{i}", f"f_{i}", f"smoothness of break {i} (in decades·ln10)"),
            ]
            names += [f"b{i}", f"log_d{i}", f"log_f{i}"]
        specs.append(ParamSpec("c", "c", "irreducible floor (units of L)"))
        names.append("log_c")
        self.public = tuple(specs)
        self.internal_names = tuple(names)
        self.exponent_indices = (1, *(2 + 3 * i for i in range(n_breaks)))

    def _log_term(self, theta: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, list]:
        t = _col(theta, 0) - _col(theta, 1) * u
        pieces = []
        for i in range(self.n_breaks):
            b, ld, lf = (_col(theta, 2 + 3 * i + j) for j in range(3))
            f = np.exp(lf)
            z = (u - ld) / f
            sp = np.logaddexp(0.0, z)
            t = t - b * f * sp
            pieces.append((b, f, z, sp))
        return t, pieces

    def log_predict(self, theta: np.ndarray, U: Inputs) -> np.ndarray:
        u = U["x"]
        t, _ = self._log_term(theta, u)
        lc = _col(theta, self.n_params - 1)
        return np.logaddexp(t, lc)

    def log_jacobian(self, theta: np.ndarray, U: Inputs) -> np.ndarray:
        u = U["x"]
        t, pieces = self._log_term(theta, u)
        lc = _col(theta, self.n_params - 1)
        total = np.logaddexp(t, lc)
        w_t = np.exp(t - total)
        jac = np.zeros((*w_t.shape, self.n_params))
        jac[..., 0] = w_t
        jac[..., 1] = -w_t * u
        for i, (b, f, z, sp) in enumerate(pieces):
            sig = expit(z)
            base = 2 + 3 * i
            jac[..., base] = -w_t * f * sp
            jac[..., base + 1] = w_t * b * sig
            # ∂/∂log f of (-b·f·softplus(z)), z = (u - log d)/f: -b·f·(softplus(z) - z·σ(z))
            jac[..., base + 2] = -w_t * b * f * (sp - z * sig)
        jac[..., -1] = 1.0 - w_t
        return jac

    def bounds(self) -> list[tuple[float | None, float | None]]:
        out: list[tuple[float | None, float | None]] = [(-50.0, 120.0), (-2.0, 5.0)]
        for _ in range(self.n_breaks):
            out += [(-5.0, 5.0), (-10.0, 80.0), (np.log(0.02), np.log(20.0))]
        out.append((LOG_FLOOR_MIN, 10.0))
        return out

    def initial_grid(self, X: Inputs, y: np.ndarray) -> np.ndarray:
        u = np.log(X["x"])
        lo, hi = float(u.min()), float(u.max())
        breaks = np.linspace(lo, hi, self.n_breaks + 4)[2:-2] if self.n_breaks > 1 else None
        starts = []
        for b0 in (0.05, 0.2, 0.5):
            for db in (-0.3, 0.2, 0.6):
                for frac in (0.0, 0.5, 0.9):
                    for q in (0.25, 0.5, 0.75):
                        c = frac * float(np.min(y))
                        log_a = float(np.median(np.log(np.maximum(y - c, 1e-12)) + b0 * u))
                        row = [log_a, b0]
                        locs = breaks if breaks is not None else [lo + q * (hi - lo)]
                        for ld in locs:
                            row += [db, float(ld), 0.0]
                        row.append(np.log(c) if c > 0 else LOG_FLOOR_MIN)
                        starts.append(row)
        return np.array(starts)

    def to_public(self, theta: np.ndarray) -> dict[str, float]:
        out = {"a": float(np.exp(theta[0])), "b0": float(theta[1])}
        for i in range(self.n_breaks):
            base = 2 + 3 * i
            out[f"b{i + 1}"] = float(theta[base])
            out[f"d{i + 1}"] = float(np.exp(theta[base + 1]))
            out[f"f{i + 1}"] = float(np.exp(theta[base + 2]))
        out["c"] = float(np.exp(theta[-1]))
        return out

    def from_public(self, params: dict[str, float]) -> np.ndarray:
        row = [np.log(params["a"]), params["b0"]]
        for i in range(1, self.n_breaks + 1):
            row += [params[f"b{i}"], np.log(params[f"d{i}"]), np.log(params[f"f{i}"])]
        row.append(np.log(params["c"]) if params["c"] > 0 else LOG_FLOOR_MIN)
        return np.array(row, dtype=float)

    def formula(self, params: dict[str, float] | None = None) -> str:
        if params is None:
            return r"L(x) = c + a\,x^{-b_0}\prod_i\left(1 + (x/d_i)^{1/f_i}\right)^{-b_i f_i}"
        p = {k: _engineering(v) for k, v in params.items()}
        factors = "".join(
            rf"\left(1 + (x/{p[f'd{i}']})^{{1/{p[f'f{i}']}}}\right)"
            rf"^{{-{_signed(params[f'b{i}'])}\cdot{p[f'f{i}']}}}"
            for i in range(1, self.n_breaks + 1)
        )
        return rf"L(x) = {p['c']} + {p['a']}\,x^{{{_engineering(-params['b0'])}}}{factors}"

    def floor(self, params: dict[str, float]) -> float | None:
        return params["c"]


# --------------------------------------------------------------------------------------------
# Saturating sigmoid for downstream metrics
# --------------------------------------------------------------------------------------------


class SigmoidLaw(Law):
    """``m(x) = lo + (hi - lo) · σ(k · (log x - log x0))`` for accuracy-like metrics.

    k > 0: the metric rises with x (accuracy vs compute); k < 0: it falls (accuracy vs loss, where
    lower loss means higher accuracy). Fitted by default with least squares in linear space,
    since accuracies near chance are not log-normal.
    """

    name = "sigmoid"
    title = "Saturating sigmoid  m = lo + (hi − lo)·σ(k·log(x/x0))"
    inputs = ("x",)
    decreasing = False
    default_objective = "ls_linear"
    public = (
        ParamSpec("lo", r"m_{lo}", "lower asymptote (e.g. chance accuracy)"),
        ParamSpec("hi", r"m_{hi}", "upper asymptote (saturation)"),
        ParamSpec("k", "k", "steepness per e-fold of x (sign = direction)"),
        ParamSpec("x0", "x_0", "midpoint (units of x)"),
    )
    internal_names = ("lo", "hi", "k", "log_x0")
    exponent_indices = (2,)

    def _parts(self, theta: np.ndarray, U: Inputs) -> tuple[np.ndarray, ...]:
        lo, hi, k, lx0 = (_col(theta, i) for i in range(4))
        z = k * (U["x"] - lx0)
        sig = expit(z)
        m = lo + (hi - lo) * sig
        return m, sig, z, lo, hi, k, lx0

    def log_predict(self, theta: np.ndarray, U: Inputs) -> np.ndarray:
        m, *_ = self._parts(theta, U)
        return np.log(np.maximum(m, 1e-300))

    def log_jacobian(self, theta: np.ndarray, U: Inputs) -> np.ndarray:
        m, sig, _z, lo, hi, k, lx0 = self._parts(theta, U)
        u = U["x"]
        dsig = sig * (1.0 - sig)
        cols = [1.0 - sig, sig, (hi - lo) * dsig * (u - lx0), -(hi - lo) * dsig * k]
        return np.stack(np.broadcast_arrays(*cols), axis=-1) / m[..., None]

    def bounds(self) -> list[tuple[float | None, float | None]]:
        return [(1e-9, None), (1e-9, None), (-20.0, 20.0), (-60.0, 120.0)]

    def initial_grid(self, X: Inputs, y: np.ndarray) -> np.ndarray:
        u = np.log(X["x"])
        y_lo, y_hi = float(np.min(y)), float(np.max(y))
        span = max(y_hi - y_lo, 1e-6)
        starts = []
        for k in (-4.0, -1.0, -0.3, 0.3, 1.0, 4.0):
            for q in (0.2, 0.5, 0.8):
                lx0 = float(np.quantile(u, q))
                for stretch in (0.0, 0.5):
                    lo = max(y_lo - stretch * span, 1e-6)
                    starts.append((lo, y_hi + stretch * span, k, lx0))
        return np.array(starts)

    def to_public(self, theta: np.ndarray) -> dict[str, float]:
        return {
            "lo": float(theta[0]),
            "hi": float(theta[1]),
            "k": float(theta[2]),
            "x0": float(np.exp(theta[3])),
        }

    def from_public(self, params: dict[str, float]) -> np.ndarray:
        return np.array([params["lo"], params["hi"], params["k"], np.log(params["x0"])])

    def formula(self, params: dict[str, float] | None = None) -> str:
        if params is None:
            return r"m(x) = m_{lo} + \frac{m_{hi} - m_{lo}}{1 + (x/x_0)^{-k}}"
        lo, hi, x0 = (_engineering(params[n]) for n in ("lo", "hi", "x0"))
        k = _signed(params["k"])
        return rf"m(x) = {lo} + \frac{{{hi} - {lo}}}{{1 + (x/{x0})^{{-{k}}}}}"


LAWS: dict[str, Law] = {
    law.name: law
    for law in (
        PowerLaw(),
        PurePowerLaw(),
        ChinchillaLaw(),
        KaplanLaw(),
        BrokenPowerLaw(1),
        BrokenPowerLaw(2),
        SigmoidLaw(),
    )
}
"""Every law family by its registry name (the ``--law`` value of the CLI)."""


def get_law(name: str) -> Law:
    """The registered law called ``name``, or a ValueError listing the known names."""
    try:
        return LAWS[name]
    except KeyError:
        raise ValueError(f"unknown law {name!r}; expected one of {', '.join(LAWS)}") from None


def is_joint(law: Law) -> bool:
    """Whether the law takes both N and D (and so supports compute-optimal allocation)."""
    return law.inputs == ("N", "D")


__all__ = ["LAWS", "Inputs", "Law", "ParamSpec", "get_law", "is_joint"]
