"""Architectures / recipes as parallel curves: a compute-efficiency multiplier with an interval.

Why a multiplier: curves of different architectures are often parallel on log-log axes, and the
horizontal offset between them is the number a decision needs — "B reaches A's loss with k× less
compute" (SCALING_NOTES "Architecture / recipe comparison"). With ``L_g(x) = a_g·x^(-b_g) + c_g``
each curve inverts in closed form, ``x_g(L) = (a_g/(L − c_g))^(1/b_g)``, and

    k(L) = x_A(L) / x_B(L)

at a reference loss L (default: the loss A's fitted curve reaches at A's largest observed x).
k > 1: B needs k× less of the resource than A. When the exponents differ, k depends on L and the
curves may cross — the "advantage" then reverses at some scale, which is flagged with the
crossing x. With a shared exponent *and* floor (``shared_exponent=True``), the curves are exactly
parallel and k = (a_A/a_B)^(1/b) at every loss.

Shared fits minimise the same sum of Huber terms on log residuals as :func:`fit_law` (δ = 1e-3)
over ``(log a_1, …, log a_G, b, log c)``, multi-start, with the analytic gradient. Intervals come
from a bootstrap that resamples runs **within each group** (a group's sample size never changes).
With about 10 runs per group the percentile interval under-covers: in synthetic checks roughly
85–90% of nominal 95% intervals contained the true multiplier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.optimize import brentq

from scaling_core.batch_optimize import batched_lbfgs
from scaling_core.fitting import FitInputError, fit_law
from scaling_core.laws import LOG_FLOOR_MIN, Inputs, Law, ParamSpec, _col, get_law
from scaling_core.objectives import DEFAULT_DELTA, FitData, Objective
from scaling_core.schema import RunTable
from scaling_core.uncertainty import bootstrap_fit

SUPPORTED_LAWS: tuple[str, ...] = ("power", "power_nofloor")
"""Laws whose curves invert in closed form and stay monotone: the ones a multiplier is defined
for. (Broken power laws and sigmoids need not be monotone; joint laws have two resources.)"""

CROSSING_MARGIN = 10.0
"""Crossings are searched from (smallest observed x)/10 to 10× the largest: 'near' the range."""

RESOURCE_WORDS: dict[str, str] = {
    "compute": "less compute",
    "params": "fewer parameters",
    "tokens": "fewer training tokens",
}
MORE_WORDS: dict[str, str] = {
    "compute": "more compute",
    "params": "more parameters",
    "tokens": "more training tokens",
}


TIGHT = {"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-11, "maxcor": 20}
"""scipy L-BFGS-B options of the shared fit's final polish: stop only at float64's limits."""


class CompareError(ValueError):
    """The runs cannot be compared by group (no group column, too few groups or runs, …)."""


# ---------------------------------------------------------------------------------------------
# The shared-exponent law: L = a_g·x^(-b) + c with per-group a_g (group index carried in U["g"])
# ---------------------------------------------------------------------------------------------


class GroupedPowerLaw(Law):
    """``L = a_g·x^(-b) + c`` for runs of G groups: per-group scale, shared exponent and floor.

    Internal ``(log a_0, …, log a_{G-1}, b[, log c])``. The group of each point travels with the
    data as ``U["g"]`` (the integer group index as a float, *not* a log), so bootstrap resamples
    (which re-index every array of ``U``) keep each run's group. Built for :func:`compare_groups`;
    it is not registered in ``LAWS``.
    """

    inputs = ("x", "g")

    def __init__(self, n_groups: int, floor: bool = True) -> None:
        self.n_groups = n_groups
        self.has_floor = floor
        self.name = "grouped_power" if floor else "grouped_power_nofloor"
        self.title = "Shared-exponent power law  L = a_g·x^(-b) + c"
        specs = [ParamSpec(f"a_{g}", f"a_{g}", f"scale of group {g}") for g in range(n_groups)]
        specs.append(ParamSpec("b", "b", "shared exponent"))
        names = [f"log_a_{g}" for g in range(n_groups)] + ["b"]
        if floor:
            specs.append(ParamSpec("c", "c", "shared floor (units of L)"))
            names.append("log_c")
        self.public = tuple(specs)
        self.internal_names = tuple(names)

    def _gather(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        gi = g.astype(int)
        if theta.ndim == 1:
            return theta[gi]
        if gi.ndim == 1:
            return theta[:, gi]
        return np.take_along_axis(theta, gi, axis=-1)

    def _log_term(self, theta: np.ndarray, U: Inputs) -> np.ndarray:
        return self._gather(theta, U["g"]) - _col(theta, self.n_groups) * U["x"]

    def log_predict(self, theta: np.ndarray, U: Inputs) -> np.ndarray:
        t = self._log_term(theta, U)
        if not self.has_floor:
            return t
        return np.logaddexp(t, _col(theta, self.n_groups + 1))

    def log_jacobian(self, theta: np.ndarray, U: Inputs) -> np.ndarray:
        return self.log_predict_and_jacobian(theta, U)[1]

    def log_predict_and_jacobian(
        self, theta: np.ndarray, U: Inputs
    ) -> tuple[np.ndarray, np.ndarray]:
        t = self._log_term(theta, U)
        if self.has_floor:
            total = np.logaddexp(t, _col(theta, self.n_groups + 1))
            w_t = np.exp(t - total)
        else:
            total, w_t = t, np.ones_like(t)
        gi = np.broadcast_to(U["g"].astype(int), w_t.shape)
        onehot = gi[..., None] == np.arange(self.n_groups)
        jac = np.zeros((*w_t.shape, self.n_params))
        jac[..., : self.n_groups] = w_t[..., None] * onehot
        jac[..., self.n_groups] = -w_t * U["x"]
        if self.has_floor:
            jac[..., self.n_groups + 1] = 1.0 - w_t
        return total, jac

    def bounds(self) -> list[tuple[float | None, float | None]]:
        out: list[tuple[float | None, float | None]] = [(-50.0, 120.0)] * self.n_groups
        out.append((0.0, 5.0))
        if self.has_floor:
            out.append((LOG_FLOOR_MIN, 10.0))
        return out

    def initial_grid(self, X: Inputs, y: np.ndarray) -> np.ndarray:
        """Exponent × floor-fraction grid; each log a_g set by the median over its group (as in
        :class:`~scaling_core.laws.PowerLaw`)."""
        logx = np.log(X["x"])
        g = np.asarray(X["g"]).astype(int)
        fracs = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99) if self.has_floor else (0.0,)
        starts = []
        for b in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0):
            for frac in fracs:
                c = frac * float(np.min(y))
                resid = np.log(np.maximum(y - c, 1e-12)) + b * logx
                row = [float(np.median(resid[g == k])) for k in range(self.n_groups)] + [b]
                if self.has_floor:
                    row.append(np.log(c) if c > 0 else LOG_FLOOR_MIN)
                starts.append(row)
        return np.array(starts)

    def to_public(self, theta: np.ndarray) -> dict[str, float]:
        out = {f"a_{g}": float(np.exp(theta[g])) for g in range(self.n_groups)}
        out["b"] = float(theta[self.n_groups])
        if self.has_floor:
            out["c"] = float(np.exp(theta[self.n_groups + 1]))
        return out

    def from_public(self, params: dict[str, float]) -> np.ndarray:
        row = [np.log(params[f"a_{g}"]) for g in range(self.n_groups)] + [params["b"]]
        if self.has_floor:
            row.append(np.log(params["c"]) if params["c"] > 0 else LOG_FLOOR_MIN)
        return np.array(row, dtype=float)

    def formula(self, params: dict[str, float] | None = None) -> str:
        return r"L_g(x) = a_g \cdot x^{-b} + c" if self.has_floor else r"L_g(x) = a_g \cdot x^{-b}"

    def floor(self, params: dict[str, float]) -> float | None:
        return params.get("c")


def _grouped_data(x: np.ndarray, g: np.ndarray, y: np.ndarray) -> FitData:
    """FitData whose ``U["g"]`` is the raw group index (not a log, see :class:`GroupedPowerLaw`)."""
    return FitData(
        X={"x": x, "g": g},
        U={"x": np.log(x), "g": g.astype(float)},
        y=y,
        log_y=np.log(y),
        weights=np.ones_like(y),
    )


def _box(law: Law) -> tuple[np.ndarray, np.ndarray]:
    b = law.bounds()
    return (
        np.array([lo if lo is not None else -np.inf for lo, _ in b]),
        np.array([hi if hi is not None else np.inf for _, hi in b]),
    )


def fit_shared(law: GroupedPowerLaw, data: FitData, n_starts: int = 12) -> np.ndarray:
    """Multi-start robust fit of the shared-exponent law; returns the internal vector.

    The whole grid is scored at once, the best ``n_starts`` optimised together, and the three
    best distinct optima polished with L-BFGS-B at tight tolerances (as :func:`fit_law` does).
    """
    obj = Objective("huber_log", DEFAULT_DELTA)
    lower, upper = _box(law)
    grid = np.clip(law.initial_grid(data.X, data.y), lower, upper)
    scores = obj.batch_values(law, grid, data)
    starts = grid[np.argsort(scores, kind="stable")[:n_starts]]
    first = batched_lbfgs(
        lambda theta, rows: obj.value_and_grad(law, theta, data),
        starts,
        lower,
        upper,
        max_iter=200,
        ftol=1e-10,
        gtol=1e-8,
    )

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = obj.value_and_grad(law, theta, data)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return 1e300, np.zeros_like(theta)
        return float(value), grad

    best_theta, best_value, seen = None, np.inf, []
    for i in np.argsort(first.fun):
        if not np.isfinite(first.fun[i]):
            continue
        if any(abs(first.fun[i] - v) <= 1e-4 * abs(v) for v in seen):
            continue
        seen.append(float(first.fun[i]))
        res = optimize.minimize(
            fun, first.x[i], jac=True, method="L-BFGS-B", bounds=law.bounds(), options=TIGHT
        )
        if res.fun < best_value:
            best_theta, best_value = np.asarray(res.x), float(res.fun)
        if len(seen) == 3:
            break
    if best_theta is None:
        raise CompareError("the shared-exponent fit diverged from every start")
    return best_theta


# ---------------------------------------------------------------------------------------------
# Curves, inversion, crossings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Curves:
    """Parameters of one group's power law: point estimate and bootstrap samples (B,)."""

    a: float
    b: float
    c: float
    a_s: np.ndarray
    b_s: np.ndarray
    c_s: np.ndarray


def power_loss(a: np.ndarray, b: np.ndarray, c: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``a·x^(-b) + c`` (loss units) — vectorised over any broadcastable arrays."""
    return a * np.power(x, -b) + c


def log_resource_at(a: np.ndarray, b: np.ndarray, c: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """log x at which ``a·x^(-b) + c`` equals ``loss``: ``(log a − log(L − c))/b``.

    +∞ where the loss is at or below the floor c (never reached) or the curve is flat (b = 0).
    """
    a, b, c, loss = np.broadcast_arrays(*(np.asarray(v, float) for v in (a, b, c, loss)))
    out = np.full(a.shape, np.inf)
    ok = (loss > c) & (b > 0)
    out[ok] = (np.log(a[ok]) - np.log(loss[ok] - c[ok])) / b[ok]
    return out


def efficiency_multiplier(
    params_a: dict[str, float], params_b: dict[str, float], loss: float
) -> float:
    """k = x_A(L)/x_B(L) for two fitted power laws (public params a, b, c; c defaults to 0).

    k > 1: B reaches ``loss`` with k× less of the resource. 0 when B never reaches it (its floor
    lies above), +∞ when A never does; NaN when neither does.
    """
    la = log_resource_at(params_a["a"], params_a["b"], params_a.get("c", 0.0), loss)
    lb = log_resource_at(params_b["a"], params_b["b"], params_b.get("c", 0.0), loss)
    with np.errstate(invalid="ignore"):
        return float(np.exp(la - lb))


def find_crossings(a: _Curves, b: _Curves, x_lo: float, x_hi: float) -> tuple[float, ...]:
    """x values in [x_lo, x_hi] where the two fitted curves give the same loss (point estimates)."""
    u = np.linspace(np.log(x_lo), np.log(x_hi), 801)

    def gap(v: np.ndarray) -> np.ndarray:
        x = np.exp(v)
        return np.log(power_loss(a.a, a.b, a.c, x)) - np.log(power_loss(b.a, b.b, b.c, x))

    d = gap(u)
    scale = max(float(np.max(np.abs(d))), 1e-300)
    d = np.where(np.abs(d) < 1e-12 * scale, 0.0, d)
    if np.all(d == 0):
        return ()  # identical curves: no single crossing to report
    out = []
    for i in np.flatnonzero(np.sign(d[:-1]) * np.sign(d[1:]) < 0):
        root = brentq(lambda v: float(gap(np.array([v]))[0]), u[i], u[i + 1], xtol=1e-12)
        out.append(float(np.exp(root)))
    for i in np.flatnonzero(d == 0):
        if 0 < i < d.size - 1 and np.sign(d[i - 1]) * np.sign(d[i + 1]) < 0:
            out.append(float(np.exp(u[i])))
    return tuple(sorted(out))


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


def _finite_or_none(v: float | None) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def _fmt(k: float) -> str:
    if not np.isfinite(k):
        return "∞"
    if k < 1:
        return f"{k:.2g}"
    return f"{k:.1f}" if k < 10 else f"{k:.0f}"


@dataclass(frozen=True)
class PairComparison:
    """Group ``other`` against the ``reference`` group at one reference loss."""

    reference: str
    other: str
    x: str
    reference_loss: float
    """The loss at which the curves are compared (loss units)."""
    multiplier: float
    """k = x_ref(L)/x_other(L): > 1 means ``other`` needs k× less of ``x``. 0 when ``other``
    never reaches L (its floor lies above), +∞ when the reference never does."""
    interval: tuple[float, float] | None
    """Bootstrap percentile interval of k (None without resamples)."""
    level: float
    n_resamples_used: int
    crossings: tuple[float, ...]
    """x values (units of ``x``) where the fitted curves cross, within [min/10, 10·max] of the
    observed range."""
    observed_range: tuple[float, float]

    @property
    def crosses_in_range(self) -> bool:
        lo, hi = self.observed_range
        return any(lo <= x <= hi for x in self.crossings)

    @property
    def crosses_near_range(self) -> bool:
        """A crossing within 10× beyond the observed range (but not inside it)."""
        lo, hi = self.observed_range
        return any(not (lo <= x <= hi) for x in self.crossings)

    @property
    def log10_multiplier(self) -> float | None:
        if self.multiplier > 0 and np.isfinite(self.multiplier):
            return float(np.log10(self.multiplier))
        return None

    def sentence(self) -> str:
        """E.g. "B reaches A's loss with 2.3× [1.9, 2.8] less compute"."""
        k, ref, oth = self.multiplier, self.reference, self.other
        if k == 0:
            text = (
                f"{oth} never reaches {ref}'s loss of {self.reference_loss:.4g}: "
                f"{oth}'s fitted floor lies above it"
            )
        elif not np.isfinite(k):
            text = f"{ref}'s loss of {self.reference_loss:.4g} lies below {ref}'s own fitted floor"
        elif k >= 1:
            ci = f" [{_fmt(self.interval[0])}, {_fmt(self.interval[1])}]" if self.interval else ""
            text = f"{oth} reaches {ref}'s loss with {_fmt(k)}×{ci} {RESOURCE_WORDS[self.x]}"
        else:
            ci = ""
            if self.interval:
                lo, hi = self.interval
                ci = f" [{_fmt(1 / hi) if hi > 0 else '∞'}, {_fmt(1 / lo) if lo > 0 else '∞'}]"
            text = f"{oth} needs {_fmt(1 / k)}×{ci} {MORE_WORDS[self.x]} to reach {ref}'s loss"
        if self.interval and self.interval[0] <= 1 <= self.interval[1] and 0 < k < np.inf:
            text += " (the interval includes 1: no clear difference)"
        if self.crossings:
            where = "within" if self.crosses_in_range else "near"
            xs = ", ".join(f"{x:.3g}" for x in self.crossings)
            text += (
                f"; the curves cross {where} the observed range (at {self.x} = {xs}), "
                "so the advantage depends on scale"
            )
        return text

    def to_json(self) -> dict:
        return {
            "reference": self.reference,
            "other": self.other,
            "x": self.x,
            "reference_loss": self.reference_loss,
            "multiplier": _finite_or_none(self.multiplier),
            "log10_multiplier": self.log10_multiplier,
            "never_reached": bool(self.multiplier == 0),
            "interval": (
                [_finite_or_none(self.interval[0]), _finite_or_none(self.interval[1])]
                if self.interval
                else None
            ),
            "level": self.level,
            "n_resamples_used": self.n_resamples_used,
            "crossings": list(self.crossings),
            "crosses_in_range": self.crosses_in_range,
            "crosses_near_range": self.crosses_near_range,
            "sentence": self.sentence(),
        }


@dataclass(frozen=True)
class Comparison:
    """Per-group fits and each group's multiplier against the reference group."""

    law: str
    x: str
    shared_exponent: bool
    reference: str
    groups: tuple[str, ...]
    """Groups compared, in order of first appearance."""
    n_runs: dict[str, int]
    params: dict[str, dict[str, float]]
    """Per group: public power-law parameters ``a``, ``b`` (and ``c``) in units of ``x``."""
    skipped: dict[str, str]
    """Groups left out, with the reason (e.g. too few runs)."""
    pairs: tuple[PairComparison, ...]
    n_resamples: int
    seed: int

    def to_json(self) -> dict:
        return {
            "law": self.law,
            "x": self.x,
            "shared_exponent": self.shared_exponent,
            "reference": self.reference,
            "groups": list(self.groups),
            "n_runs": dict(self.n_runs),
            "params": {g: dict(p) for g, p in self.params.items()},
            "skipped": dict(self.skipped),
            "pairs": [p.to_json() for p in self.pairs],
            "n_resamples": self.n_resamples,
            "seed": self.seed,
        }


def multiplier_sentence(pair: PairComparison) -> str:
    """The pair in words, e.g. "B reaches A's loss with 2.3× [1.9, 2.8] less compute"."""
    return pair.sentence()


# ---------------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------------


def _stratified_indices(
    groups: np.ndarray, n_groups: int, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """(B, n) row indices: each group's rows resampled with replacement within the group."""
    idx = np.empty((n_resamples, groups.size), dtype=int)
    for g in range(n_groups):
        rows = np.flatnonzero(groups == g)
        idx[:, rows] = rows[rng.integers(0, rows.size, size=(n_resamples, rows.size))]
    return idx


def _percentiles(samples: np.ndarray, level: float) -> tuple[float, float] | None:
    """Percentile interval by order statistics (no arithmetic on 0/∞); NaNs dropped."""
    s = samples[~np.isnan(samples)]
    if s.size == 0:
        return None
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(s, [tail, 100.0 - tail], method="inverted_cdf")
    return float(lo), float(hi)


def _shared_curves(
    labels: list[str],
    x: np.ndarray,
    gidx: np.ndarray,
    y: np.ndarray,
    floor: bool,
    B: int,
    seed: int,
) -> dict[str, _Curves]:
    law = GroupedPowerLaw(len(labels), floor=floor)
    data = _grouped_data(x, gidx, y)
    theta = fit_shared(law, data)
    G = len(labels)
    if B > 0:
        obj = Objective("huber_log", DEFAULT_DELTA)
        lower, upper = _box(law)
        chunk = data.take(_stratified_indices(gidx, G, B, np.random.default_rng(seed)))
        res = batched_lbfgs(
            lambda th, rows: obj.value_and_grad(law, th, chunk.rows(rows)),
            np.tile(theta, (B, 1)),
            lower,
            upper,
        )
        samples = res.x[res.converged & np.isfinite(res.fun)]
    else:
        samples = np.empty((0, theta.size))

    def floor_of(t: np.ndarray) -> np.ndarray:
        return np.exp(t[..., G + 1]) if floor else np.zeros(t.shape[:-1])

    return {
        label: _Curves(
            a=float(np.exp(theta[g])),
            b=float(theta[G]),
            c=float(floor_of(theta)),
            a_s=np.exp(samples[:, g]),
            b_s=samples[:, G],
            c_s=floor_of(samples),
        )
        for g, label in enumerate(labels)
    }


def _separate_curves(
    law: Law, labels: list[str], x: np.ndarray, gidx: np.ndarray, y: np.ndarray, B: int, seed: int
) -> dict[str, _Curves]:
    out = {}
    for g, label in enumerate(labels):
        rows = gidx == g
        X = {"x": x[rows]}
        try:
            fit = fit_law(law, X, y[rows])
        except FitInputError as exc:
            raise CompareError(f"group {label!r} cannot be fitted: {exc}") from exc
        p = fit.params
        if B > 0:
            boot = bootstrap_fit(law, X, y[rows], fit, n_resamples=B, seed=seed + g)
            a_s, b_s = boot.params["a"], boot.params["b"]
            c_s = boot.params.get("c", np.zeros_like(a_s))
        else:
            a_s = b_s = c_s = np.empty(0)
        out[label] = _Curves(p["a"], p["b"], p.get("c", 0.0), a_s, b_s, c_s)
    return out


def compare_groups(
    runs: RunTable,
    x: str = "compute",
    law_name: str = "power",
    shared_exponent: bool = False,
    n_resamples: int = 200,
    seed: int = 0,
    reference: str | None = None,
    reference_loss: float | None = None,
    level: float = 0.95,
) -> Comparison:
    """Fit a power law per group of ``runs.group`` and compare each group with the reference.

    ``x``: the resource (params, tokens or compute). ``law_name``: ``power`` (with floor) or
    ``power_nofloor``. ``shared_exponent``: fit one exponent (and, for ``power``, one floor) for
    all groups, so only the scale a_g differs and the multiplier is the same at every loss.
    ``reference``: the group others are compared with (default: the first in the table).
    ``reference_loss``: compare at this loss instead of the loss the reference's fitted curve
    reaches at its largest observed x. ``n_resamples``: bootstrap resamples (runs resampled
    within each group; 0 for no interval).

    Raises :class:`CompareError` when there is no group column, or fewer than two groups have
    enough runs (law parameters + 1 each for separate fits, 2 for shared fits).
    """
    if law_name not in SUPPORTED_LAWS:
        raise CompareError(
            f"law {law_name!r} is not supported for group comparison; expected one of "
            f"{', '.join(SUPPORTED_LAWS)} (curves that invert in closed form)"
        )
    if not 0 < level < 1:
        raise CompareError(f"level must be in (0, 1), got {level!r}")
    if runs.group.size == 0:
        raise CompareError(
            "the runs have no group column: map an architecture / recipe column to 'group'"
        )
    law = get_law(law_name)
    xs = np.asarray(runs.resource(x), dtype=float)
    y = np.asarray(runs.loss, dtype=float)
    ok = np.isfinite(xs) & (xs > 0) & np.isfinite(y) & (y > 0)
    labels_all = [str(g) for g in runs.group]
    order = list(dict.fromkeys(labels_all))
    need = 2 if shared_exponent else law.n_params + 1
    skipped: dict[str, str] = {}
    labels = []
    for label in order:
        rows = np.array([lab == label for lab in labels_all]) & ok
        n_distinct = np.unique(xs[rows]).size
        if rows.sum() < need or n_distinct < 2:
            skipped[label] = (
                f"{int(rows.sum())} usable run(s) at {n_distinct} distinct {x} value(s); "
                f"needs at least {need} runs at 2 or more {x} values"
            )
        else:
            labels.append(label)
    if len(labels) < 2:
        detail = "; ".join(f"{g}: {r}" for g, r in skipped.items())
        raise CompareError(
            f"need at least 2 groups with enough runs, found {len(labels)}"
            + (f" ({detail})" if detail else "")
        )
    if reference is None:
        reference = labels[0]
    elif reference not in labels:
        raise CompareError(
            f"reference group {reference!r} is not among the comparable groups "
            f"({', '.join(labels)})"
        )
    labels = [reference] + [g for g in labels if g != reference]
    lab_arr = np.array(labels_all, dtype=object)
    keep = ok & np.isin(lab_arr, labels)
    gidx = np.array([labels.index(lab) for lab in lab_arr[keep]], dtype=int)
    xk, yk = xs[keep], y[keep]
    if shared_exponent:
        curves = _shared_curves(
            labels, xk, gidx, yk, law_name == "power", max(n_resamples, 0), seed
        )
    else:
        curves = _separate_curves(law, labels, xk, gidx, yk, max(n_resamples, 0), seed)

    ref = curves[reference]
    ref_max = float(xk[gidx == 0].max())
    fixed = reference_loss is not None
    L = float(reference_loss) if fixed else float(power_loss(ref.a, ref.b, ref.c, ref_max))
    pairs = []
    for g, label in enumerate(labels[1:], start=1):
        cur = curves[label]
        k = float(
            np.exp(
                log_resource_at(ref.a, ref.b, ref.c, L) - log_resource_at(cur.a, cur.b, cur.c, L)
            )
        )
        interval, used = None, 0
        m = min(ref.a_s.size, cur.a_s.size)
        if m > 0:
            L_s = (
                np.full(m, L)
                if fixed
                else power_loss(ref.a_s[:m], ref.b_s[:m], ref.c_s[:m], ref_max)
            )
            with np.errstate(invalid="ignore"):
                k_s = np.exp(
                    log_resource_at(ref.a_s[:m], ref.b_s[:m], ref.c_s[:m], L_s)
                    - log_resource_at(cur.a_s[:m], cur.b_s[:m], cur.c_s[:m], L_s)
                )
            interval = _percentiles(k_s, level)
            used = int(np.sum(~np.isnan(k_s)))
        both = (gidx == 0) | (gidx == g)
        lo, hi = float(xk[both].min()), float(xk[both].max())
        crossings = find_crossings(ref, cur, lo / CROSSING_MARGIN, hi * CROSSING_MARGIN)
        pairs.append(
            PairComparison(
                reference=reference,
                other=label,
                x=x,
                reference_loss=L,
                multiplier=k,
                interval=interval,
                level=level,
                n_resamples_used=used,
                crossings=crossings,
                observed_range=(lo, hi),
            )
        )
    params = {
        label: {"a": c.a, "b": c.b, **({"c": c.c} if law_name == "power" else {})}
        for label, c in curves.items()
    }
    return Comparison(
        law=law_name,
        x=x,
        shared_exponent=shared_exponent,
        reference=reference,
        groups=tuple(labels),
        n_runs={label: int(np.sum(gidx == g)) for g, label in enumerate(labels)},
        params=params,
        skipped=skipped,
        pairs=tuple(pairs),
        n_resamples=n_resamples,
        seed=seed,
    )


__all__ = [
    "CompareError",
    "Comparison",
    "GroupedPowerLaw",
    "PairComparison",
    "compare_groups",
    "efficiency_multiplier",
    "log_resource_at",
    "multiplier_sentence",
]
