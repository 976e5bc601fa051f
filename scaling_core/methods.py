"""Data-driven compute-optimal allocation: Hoffmann et al. (2022) Methods 1 and 2.

Both estimate the exponents of ``N_opt ∝ C^a`` and ``D_opt ∝ C^b`` (C ≈ 6·N·D FLOPs) straight from
losses, without assuming the joint law ``E + A/N^α + B/D^β`` that Method 3
(:mod:`scaling_core.allocation`) fits. Why the Planner needs them: the three methods should agree
when done carefully, and when they do not (the Epoch AI replication, Besiroglu et al. 2024) the
disagreement is the most useful thing the page can show.

- Method 1, :func:`envelope_method`: overlay every run's training curve (loss vs FLOPs), take the
  lowest loss at each FLOP level, read off the size of the run that achieves it. This is the
  honest use of intermediate checkpoints ("checkpoints are not runs"): a checkpoint only ever
  competes at its own compute, it is never treated as a fully trained model of that many tokens.
- Method 2, :func:`isoflop_method`: group final losses into isoFLOP budgets, fit a parabola of loss
  vs log N per budget, take the vertex. Profiles sampled off-centre bias the vertex ("Approach 2
  bias"), so each group keeps its sampled N range next to its vertex for the chart.

Intervals are 95% percentile bootstraps: over runs for Method 1, over runs within each budget for
Method 2. Units: N in parameters, D in tokens, C in FLOPs, loss in nats; logs are natural.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from scaling_core.schema import FLOPS_PER_PARAM_TOKEN
from scaling_core.uncertainty import percentile_interval

DEFAULT_RESAMPLES = 200
"""Bootstrap resamples per method: enough for a stable 95% percentile interval of a slope."""

MIN_SIZES = 3
"""A slope of log N_opt vs log C needs at least three distinct optimal sizes to mean anything."""

MIN_GROUPS = 2
"""Method 2 needs at least two budgets to fit a power law across them."""

DOMINATED_SHARE = 0.5
"""Method 1 warns when the smallest or the largest model wins more than half of the levels."""

DENSITY_CONTRAST = 1.7
"""An isoFLOP budget is at least this many times denser in runs (per unit ln C) than its
surroundings. Calibrated on the Chinchilla runs: the nine published budgets reach 2.1–7, the
chance clusters of Method 1 runs between them at most 1.4."""

SURROUND_FACTOR = 3.0
"""The surroundings of a candidate budget C: runs within C/3 … 3·C, outside the budget itself."""

METHOD_LABELS: dict[str, str] = {
    "envelope": "Method 1 (envelope)",
    "isoflop": "Method 2 (isoFLOP)",
    "joint": "Method 3 (joint fit)",
}
"""How :func:`compare_methods` names the methods in its sentences (other keys are used as is)."""


class MethodInputError(ValueError):
    """The data cannot support this allocation method; ``str()`` says what is missing and why."""


def _flops(value: float) -> str:
    """A FLOP count as ``6.0e18 FLOPs`` (short, unambiguous in a sentence)."""
    if not (np.isfinite(value) and value > 0):
        return f"{value} FLOPs"
    exponent = math.floor(math.log10(value))
    mantissa = value / 10.0**exponent
    if round(mantissa, 1) >= 10.0:
        mantissa, exponent = mantissa / 10.0, exponent + 1
    return f"{mantissa:.1f}e{exponent} FLOPs"


@dataclass(frozen=True)
class IsoflopGroup:
    """One isoFLOP budget of Method 2, with what the chart needs to show the Approach 2 bias."""

    compute: float
    """Centre of the budget: geometric mean of its runs' compute (FLOPs)."""
    members: np.ndarray = field(repr=False)
    """Indices (into the caller's arrays) of the runs in this budget."""
    n_runs: int
    params_min: float
    """Smallest N sampled in this budget (parameters)."""
    params_max: float
    """Largest N sampled in this budget (parameters)."""
    coefficients: tuple[float, float, float]
    """Parabola ``loss = c0 + c1·x + c2·x²`` with ``x = ln N`` (loss in nats)."""
    params_opt: float
    """N at the parabola's vertex (parameters); NaN when the parabola opens downward."""
    loss_opt: float
    """Loss at the vertex (nats); NaN when the parabola opens downward."""
    used: bool
    """False when the group was skipped (downward parabola or vertex outside the sampled range)."""
    reason: str = ""
    """Why the group was skipped (empty when used)."""

    def to_json(self) -> dict:
        return {
            "compute": self.compute,
            "n_runs": self.n_runs,
            "params_min": self.params_min,
            "params_max": self.params_max,
            "coefficients": list(self.coefficients),
            "params_opt": self.params_opt,
            "loss_opt": self.loss_opt,
            "used": self.used,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class MethodResult:
    """Exponents of ``N_opt ∝ C^a`` and ``D_opt ∝ C^b`` from one method, with 95% intervals.

    ``log N_opt = log_k_n + a·log C`` and ``log D_opt = log_k_d + b·log C`` (natural logs, N in
    parameters, D in tokens, C in FLOPs). Both methods read D_opt as C/(6·N_opt), so ``b = 1 − a``
    whenever the caller's compute is exactly 6·N·D.
    """

    method: str
    """"envelope" (Method 1) or "isoflop" (Method 2)."""
    a: float
    b: float
    a_interval: tuple[float, float]
    b_interval: tuple[float, float]
    log_k_n: float
    log_k_d: float
    compute: np.ndarray = field(repr=False)
    """C values (FLOPs) where an optimum was read off and fitted."""
    params_opt: np.ndarray = field(repr=False)
    """N_opt at those C (parameters)."""
    tokens_opt: np.ndarray = field(repr=False)
    """D_opt = C/(6·N_opt) at those C (tokens)."""
    n_runs: int
    """Runs that entered the method (Method 1: runs with a curve; Method 2: runs in used groups)."""
    warnings: tuple[str, ...]
    a_samples: np.ndarray = field(repr=False)
    """Bootstrap samples of a (NaN where a resample could not be fitted)."""
    log_k_samples: np.ndarray = field(repr=False)
    """Bootstrap samples of log_k_n, paired with ``a_samples``."""
    b_samples: np.ndarray = field(repr=False)
    """Bootstrap samples of b."""
    n_resamples: int = 0
    seed: int = 0
    groups: tuple[IsoflopGroup, ...] = ()
    """Method 2 only: every detected budget, used or skipped, for the isoFLOP chart."""

    def params_at(self, compute: float) -> float:
        """N_opt (parameters) at ``compute`` FLOPs on the fitted power law."""
        return float(np.exp(self.log_k_n + self.a * np.log(compute)))

    def tokens_at(self, compute: float) -> float:
        """D_opt (tokens) at ``compute`` FLOPs on the fitted power law."""
        return float(np.exp(self.log_k_d + self.b * np.log(compute)))

    def tokens_per_param_at(self, compute: float) -> float:
        """D_opt/N_opt (tokens per parameter; ≈20 for Chinchilla) at ``compute`` FLOPs."""
        return self.tokens_at(compute) / self.params_at(compute)

    def interval_at(self, compute: float, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Bootstrap intervals of N_opt, D_opt = C/(6·N_opt) and D/N at ``compute`` FLOPs.

        Built from the paired (a, log_k_n) samples, so the interval widens away from the
        budgets where optima were read off, as an extrapolation should.
        """
        n = np.exp(self.log_k_samples + self.a_samples * np.log(compute))
        d = compute / (FLOPS_PER_PARAM_TOKEN * n)
        return {
            "params_opt": percentile_interval(n, level),
            "tokens_opt": percentile_interval(d, level),
            "tokens_per_param": percentile_interval(d / n, level),
        }

    @property
    def n_failed(self) -> int:
        """Resamples that could not be fitted (too few sizes or budgets survived)."""
        return int(np.sum(~np.isfinite(self.a_samples)))

    def to_json(self) -> dict:
        """The public JSON shape (keys are a contract of the Planner and CLI)."""
        return {
            "method": self.method,
            "a": self.a,
            "b": self.b,
            "intervals": {"a": list(self.a_interval), "b": list(self.b_interval)},
            "points": [
                {"compute": float(c), "params_opt": float(n), "tokens_opt": float(d)}
                for c, n, d in zip(self.compute, self.params_opt, self.tokens_opt, strict=True)
            ],
            "n_runs": self.n_runs,
            "warnings": list(self.warnings),
        }


def _power_fit(compute: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and intercept of ln(values) on ln(compute): (exponent, log_k)."""
    slope, intercept = np.polyfit(np.log(compute), np.log(values), 1)
    return float(slope), float(intercept)


def _exponents(compute: np.ndarray, params_opt: np.ndarray) -> tuple[float, float, float, float]:
    """(a, log_k_n, b, log_k_d) from optima read off at ``compute``; D_opt = C/(6·N_opt)."""
    a, log_k_n = _power_fit(compute, params_opt)
    b, log_k_d = _power_fit(compute, compute / (FLOPS_PER_PARAM_TOKEN * params_opt))
    return a, log_k_n, b, log_k_d


def _check_arrays(**arrays: np.ndarray) -> int:
    """Equal length, finite and positive (losses included); returns the length."""
    lengths = {name: np.shape(arr) for name, arr in arrays.items()}
    first = next(iter(lengths.values()))
    if len(first) != 1 or any(shape != first for shape in lengths.values()):
        shown = ", ".join(f"{name} {shape}" for name, shape in lengths.items())
        raise MethodInputError(f"the inputs must be 1-D arrays of equal length, got {shown}")
    for name, arr in arrays.items():
        bad = ~(np.isfinite(arr) & (arr > 0))
        if bad.any():
            rows = ", ".join(str(i) for i in np.flatnonzero(bad)[:5])
            raise MethodInputError(
                f"{name} must be finite and positive; {int(bad.sum())} value(s) are not "
                f"(indices {rows})"
            )
    return int(first[0])


# ---------------------------------------------------------------------------------------------
# Method 1: minimum envelope of training curves
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Curve:
    """One run's training curve in log space, sorted by compute."""

    params: float
    log_c: np.ndarray
    log_loss: np.ndarray


def _curves(
    run: np.ndarray, params: np.ndarray, tokens: np.ndarray, loss: np.ndarray
) -> tuple[list[_Curve], int]:
    """Per-run curves (runs with ≥ 2 distinct compute values) and the number of one-point runs."""
    log_c_all = np.log(FLOPS_PER_PARAM_TOKEN * params * tokens)
    log_l_all = np.log(loss)
    names, inverse = np.unique(run.astype(str), return_inverse=True)
    curves: list[_Curve] = []
    single = 0
    for k, name in enumerate(names):
        rows = np.flatnonzero(inverse == k)
        sizes = params[rows]
        if np.ptp(sizes) > 1e-9 * sizes.max():
            raise MethodInputError(
                f"run {name!r} logs several parameter counts ({sizes.min():.4g} to "
                f"{sizes.max():.4g}); a training curve must belong to one model size"
            )
        log_c, where = np.unique(log_c_all[rows], return_inverse=True)
        if log_c.size < 2:
            single += 1
            continue
        # Several evaluations at the same compute: keep their mean (in log loss).
        log_l = np.bincount(where, weights=log_l_all[rows]) / np.bincount(where)
        curves.append(_Curve(params=float(sizes[0]), log_c=log_c, log_loss=log_l))
    return curves, single


def _envelope(
    curves: list[_Curve], n_levels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(levels C, N of the lowest-loss run, bracketed?) or None when no two runs overlap.

    Levels are log-spaced between the second-earliest start and the second-latest end of the
    runs, i.e. the span where two runs can overlap; a level is kept only if ≥ 2 runs actually
    logged it. Each run's loss is interpolated linearly in log-log inside its own range, never
    extrapolated (a run says nothing about compute it never reached). A level is *bracketed*
    when its winner is neither the smallest nor the largest model trained: only then is the
    winner a minimum over N rather than the edge of what was trained (where the true optimum may
    lie beyond, and the staircase flattens the slope).
    """
    if len(curves) < 2:
        return None
    starts = np.sort([c.log_c[0] for c in curves])
    ends = np.sort([c.log_c[-1] for c in curves])
    lo, hi = starts[1], ends[-2]
    if not lo < hi:
        return None
    grid = np.linspace(lo, hi, n_levels)
    losses = np.stack(
        [np.interp(grid, c.log_c, c.log_loss, left=np.nan, right=np.nan) for c in curves]
    )
    covered = np.isfinite(losses).sum(axis=0)
    keep = covered >= 2
    if not keep.any():
        return None
    losses = np.where(np.isfinite(losses), losses, np.inf)[:, keep]
    sizes = np.array([c.params for c in curves])
    winners = sizes[np.argmin(losses, axis=0)]
    bracketed = (winners > sizes.min()) & (winners < sizes.max())
    return np.exp(grid[keep]), winners, bracketed


def envelope_method(
    run: np.ndarray,
    params: np.ndarray,
    tokens: np.ndarray,
    loss: np.ndarray,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    n_levels: int = 40,
) -> MethodResult:
    """Method 1: the minimum over training curves at each FLOP level → N_opt(C), D_opt(C).

    Inputs are step-level arrays, one entry per logged evaluation: ``run`` ids (str), ``params``
    N (parameters), ``tokens`` D seen so far (tokens), ``loss`` (nats). Compute per point is
    C = 6·N·D (FLOPs). At each of ``n_levels`` log-spaced FLOP levels the run with the lowest
    interpolated loss gives N_opt = its N and D_opt = C/(6·N_opt); least squares of ln N_opt and
    ln D_opt on ln C give a and b. The bootstrap resamples runs with replacement and redoes the
    envelope, so the interval reflects which model sizes happened to be trained.

    Raises :class:`MethodInputError` when every run has one point (no curves), when the curves
    span fewer than 3 model sizes, or when the envelope uses fewer than 3 distinct sizes.
    """
    run = np.asarray(run).astype(str)
    params = np.asarray(params, dtype=float)
    tokens = np.asarray(tokens, dtype=float)
    loss = np.asarray(loss, dtype=float)
    _check_arrays(params=params, tokens=tokens, loss=loss)
    if run.shape != params.shape:
        raise MethodInputError(f"run has shape {run.shape}, expected {params.shape}")
    if n_levels < 3:
        raise MethodInputError(f"the envelope needs at least 3 FLOP levels, got {n_levels}")
    curves, single = _curves(run, params, tokens, loss)
    if not curves:
        raise MethodInputError(
            "Method 1 (envelope) needs step-level training curves, but every run has a single "
            "point; use Method 2 (isoFLOP) or Method 3 (joint fit) for final losses"
        )
    n_sizes = np.unique([c.params for c in curves]).size
    if n_sizes < MIN_SIZES:
        raise MethodInputError(
            f"Method 1 (envelope) needs training curves of at least {MIN_SIZES} model sizes, "
            f"got {n_sizes}"
        )
    env = _envelope(curves, n_levels)
    if env is None:
        raise MethodInputError(
            "Method 1 (envelope) needs training curves that overlap in compute; no FLOP level "
            "is reached by two runs"
        )
    all_levels, all_winners, bracketed = env
    levels, winners = all_levels[bracketed], all_winners[bracketed]
    used_sizes = np.unique(winners)
    if used_sizes.size < MIN_SIZES:
        raise MethodInputError(
            f"the minimum envelope uses only {used_sizes.size} distinct model size(s) besides "
            f"the smallest and the largest trained "
            f"({', '.join(f'{n:.3g}' for n in used_sizes) or 'none'} parameters); a slope needs "
            f"at least {MIN_SIZES} — train sizes on both sides of the optimum, or log longer curves"
        )
    a, log_k_n, b, log_k_d = _exponents(levels, winners)

    warnings: list[str] = []
    if single:
        warnings.append(
            f"{single} run(s) with a single logged point were left out of the envelope "
            "(a single point is not a curve)."
        )
    n_edge = int(np.sum(~bracketed))
    if n_edge:
        warnings.append(
            f"{n_edge} of {bracketed.size} FLOP levels were left out of the fit because the "
            "minimum there was the smallest or the largest model trained, so the optimum could "
            "lie beyond the sizes trained."
        )
    smallest, largest = min(c.params for c in curves), max(c.params for c in curves)
    for size, word, side in ((smallest, "smallest", "below"), (largest, "largest", "above")):
        share = float(np.mean(all_winners == size))
        if share > DOMINATED_SHARE:
            warnings.append(
                f"The {word} model ({size:.3g} parameters) is the minimum at {share:.0%} of the "
                f"FLOP levels, so the model sizes do not bracket the optimum: it probably lies "
                f"{side} the sizes trained and the exponent a is biased."
            )

    rng = np.random.default_rng(seed)
    samples = np.full((n_resamples, 3), np.nan)
    for i in range(n_resamples):
        pick = rng.integers(0, len(curves), size=len(curves))
        # Duplicated runs do not change a minimum, so the distinct ones are enough.
        resampled = [curves[j] for j in np.unique(pick)]
        env_i = _envelope(resampled, n_levels)
        if env_i is None or np.unique(env_i[1][env_i[2]]).size < MIN_SIZES:
            continue
        a_i, k_i, b_i, _ = _exponents(env_i[0][env_i[2]], env_i[1][env_i[2]])
        samples[i] = (a_i, k_i, b_i)
    warnings.extend(_failed_warning(samples[:, 0], "resamples of the runs"))
    return MethodResult(
        method="envelope",
        a=a,
        b=b,
        a_interval=percentile_interval(samples[:, 0]),
        b_interval=percentile_interval(samples[:, 2]),
        log_k_n=log_k_n,
        log_k_d=log_k_d,
        compute=levels,
        params_opt=winners,
        tokens_opt=levels / (FLOPS_PER_PARAM_TOKEN * winners),
        n_runs=len(curves),
        warnings=tuple(warnings),
        a_samples=samples[:, 0],
        log_k_samples=samples[:, 1],
        b_samples=samples[:, 2],
        n_resamples=n_resamples,
        seed=seed,
    )


def _failed_warning(a_samples: np.ndarray, what: str) -> list[str]:
    """A sentence when more than 5% of the bootstrap could not be refitted."""
    failed = int(np.sum(~np.isfinite(a_samples)))
    if a_samples.size and failed > 0.05 * a_samples.size:
        return [
            f"{failed} of {a_samples.size} {what} could not be fitted and were left out of the "
            "intervals, which are therefore optimistic."
        ]
    return []


# ---------------------------------------------------------------------------------------------
# Method 2: isoFLOP profiles
# ---------------------------------------------------------------------------------------------


def detect_isoflop_groups(
    compute: np.ndarray, rel_tolerance: float = 0.1, min_contrast: float = DENSITY_CONTRAST
) -> np.ndarray:
    """Cluster runs into isoFLOP budgets: a group label per run (0, 1, …), -1 for runs left out.

    A run belongs to a group when its compute is within the tolerance of the group's centre in
    log space: ``|ln C − ln centre| ≤ ln(1 + rel_tolerance)`` with the centre the geometric mean
    of the group's compute. Greedy and deterministic: repeatedly take the window of that width
    holding the most runs, re-centre it on its geometric mean until stable, and label it if it
    holds ≥ 3 runs and is a real budget, not a chance cluster: its density of runs (per unit
    ln C) must be at least ``min_contrast`` times the density within a factor of
    :data:`SURROUND_FACTOR` around it. The caller keeps only groups with ≥ 3 distinct N (see
    :func:`isoflop_method`). Labels are ordered by increasing compute.

    Why greedy densest-first with a contrast test: isoFLOP designs put many runs at a few budgets
    on top of other runs (e.g. Method 1 curves) scattered in compute. The densest windows are the
    budgets; the contrast test stops a handful of scattered runs that happen to fall within 10%
    of each other from passing as a budget. The result is public so the UI can show and edit it.
    """
    compute = np.asarray(compute, dtype=float)
    if rel_tolerance <= 0:
        raise MethodInputError(f"rel_tolerance must be positive, got {rel_tolerance}")
    labels = np.full(compute.shape, -1, dtype=int)
    ok = np.isfinite(compute) & (compute > 0)
    log_c = np.where(ok, np.log(np.where(ok, compute, 1.0)), np.nan)
    half = float(np.log1p(rel_tolerance))
    reach = max(float(np.log(SURROUND_FACTOR)), 2 * half)
    centres: list[float] = []
    free = ok.copy()
    while free.sum() >= 3:
        values = np.sort(log_c[free])
        counts = np.searchsorted(values, values + 2 * half, side="right") - np.arange(values.size)
        start = int(np.argmax(counts))
        if counts[start] < 3:
            break
        window = free & (log_c >= values[start]) & (log_c <= values[start] + 2 * half)
        members = window
        for _ in range(20):
            centre = float(np.mean(log_c[members]))
            again = free & (np.abs(log_c - centre) <= half + 1e-12)
            if np.array_equal(again, members):
                break
            members = again
        if members.sum() < 3:
            free &= ~window  # re-centring left too few runs: not a budget
            continue
        centre = float(np.mean(log_c[members]))
        distance = np.abs(log_c - centre)
        around = int(np.sum(ok & (distance > half + 1e-12) & (distance <= reach)))
        contrast = (members.sum() / (2 * half)) / (max(around, 1e-12) / (2 * (reach - half)))
        if contrast < min_contrast:
            free &= ~members  # a chance cluster: its runs stay unlabelled
            continue
        label = len(centres)
        centres.append(float(np.mean(log_c[members])))
        labels[members] = label
        free &= ~members
    # Relabel by increasing compute so group 0 is the smallest budget.
    order = np.argsort(centres)
    remap = np.full(len(centres) + 1, -1, dtype=int)
    remap[order] = np.arange(len(centres))
    return np.where(labels >= 0, remap[labels], -1)


def _parabola(log_n: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Least-squares ``loss = c0 + c1·x + c2·x²`` (x = ln N), centred for conditioning."""
    shift = float(np.mean(log_n))
    c2, c1s, c0s = np.polyfit(log_n - shift, loss, 2)
    # Undo the centring: c2(x−s)² + c1s(x−s) + c0s.
    return np.array([c0s - c1s * shift + c2 * shift**2, c1s - 2 * c2 * shift, c2])


def _vertex(coefs: np.ndarray, lo: float, hi: float) -> tuple[float, float, str]:
    """(ln N at the vertex, loss there, reason it is unusable or "")."""
    c0, c1, c2 = coefs
    if not c2 > 0:
        return float("nan"), float("nan"), "the parabola opens downward (no minimum)"
    x = -c1 / (2 * c2)
    value = c0 + c1 * x + c2 * x**2
    if not lo <= x <= hi:
        return x, value, "vertex outside the sampled range"
    return x, value, ""


def isoflop_method(
    params: np.ndarray,
    tokens: np.ndarray,
    loss: np.ndarray,
    compute: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    rel_tolerance: float = 0.1,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> MethodResult:
    """Method 2: a parabola of loss vs ln N per isoFLOP budget; its vertex is N_opt(C).

    One entry per run (final losses): ``params`` N (parameters), ``tokens`` D (tokens), ``loss``
    (nats), ``compute`` C (FLOPs; default 6·N·D). ``groups`` is a label per run (-1 = left out),
    by default :func:`detect_isoflop_groups` with ``rel_tolerance``; groups with fewer than 3
    distinct N are ignored. A group's budget is the geometric mean of its runs' compute; D_opt =
    C/(6·N_opt). Groups whose parabola opens downward or whose vertex lies outside the sampled N
    range are skipped with a warning — a vertex read off an extrapolated parabola is exactly the
    Approach 2 bias. The bootstrap resamples runs within each used group.

    Raises :class:`MethodInputError` when fewer than 2 groups are usable.
    """
    params = np.asarray(params, dtype=float)
    tokens = np.asarray(tokens, dtype=float)
    loss = np.asarray(loss, dtype=float)
    compute = (
        FLOPS_PER_PARAM_TOKEN * params * tokens
        if compute is None
        else np.asarray(compute, dtype=float)
    )
    _check_arrays(params=params, tokens=tokens, loss=loss, compute=compute)
    if groups is None:
        groups = detect_isoflop_groups(compute, rel_tolerance)
    groups = np.asarray(groups)
    if groups.shape != params.shape:
        raise MethodInputError(f"groups has shape {groups.shape}, expected {params.shape}")
    groups = groups.astype(int)
    log_n = np.log(params)

    details: list[IsoflopGroup] = []
    warnings: list[str] = []
    n_small = 0
    for label in np.unique(groups[groups >= 0]):
        members = np.flatnonzero(groups == label)
        if np.unique(params[members]).size < 3:
            n_small += 1
            continue
        centre = float(np.exp(np.mean(np.log(compute[members]))))
        lo, hi = float(log_n[members].min()), float(log_n[members].max())
        coefs = _parabola(log_n[members], loss[members])
        x, value, reason = _vertex(coefs, lo, hi)
        if reason:
            extra = (
                " — Approach 2 is biased when profiles are sampled off-centre"
                if reason.startswith("vertex")
                else ""
            )
            warnings.append(
                f"isoFLOP budget {_flops(centre)} skipped: {reason}{extra} (sampled N "
                f"{np.exp(lo):.3g} to {np.exp(hi):.3g}"
                + (f", vertex at {np.exp(x):.3g})." if np.isfinite(x) else ").")
            )
        details.append(
            IsoflopGroup(
                compute=centre,
                members=members,
                n_runs=int(members.size),
                params_min=float(np.exp(lo)),
                params_max=float(np.exp(hi)),
                coefficients=(float(coefs[0]), float(coefs[1]), float(coefs[2])),
                params_opt=float(np.exp(x)) if np.isfinite(x) else float("nan"),
                loss_opt=float(value),
                used=not reason,
                reason=reason,
            )
        )
    if n_small:
        warnings.append(
            f"{n_small} group(s) with fewer than 3 distinct model sizes were ignored "
            "(a parabola needs 3)."
        )
    used = [g for g in details if g.used]
    if len(used) < MIN_GROUPS:
        raise MethodInputError(
            f"Method 2 (isoFLOP) needs at least {MIN_GROUPS} usable isoFLOP groups (budgets with "
            f"≥ 3 distinct model sizes whose parabola has its minimum inside the sampled range), "
            f"found {len(used)} of {len(details)} candidate group(s)"
            + (f": {'; '.join(warnings)}" if warnings else "")
        )
    centres = np.array([g.compute for g in used])
    n_opt = np.array([g.params_opt for g in used])
    a, log_k_n, b, log_k_d = _exponents(centres, n_opt)

    rng = np.random.default_rng(seed)
    samples = np.full((n_resamples, 3), np.nan)
    for i in range(n_resamples):
        c_i, n_i = [], []
        for g in used:
            pick = g.members[rng.integers(0, g.members.size, size=g.members.size)]
            if np.unique(params[pick]).size < 3:
                continue
            lo, hi = float(log_n[pick].min()), float(log_n[pick].max())
            x, _, reason = _vertex(_parabola(log_n[pick], loss[pick]), lo, hi)
            if not reason:
                c_i.append(g.compute)
                n_i.append(np.exp(x))
        if len(c_i) >= MIN_GROUPS:
            a_i, k_i, b_i, _ = _exponents(np.array(c_i), np.array(n_i))
            samples[i] = (a_i, k_i, b_i)
    warnings.extend(_failed_warning(samples[:, 0], "resamples within the budgets"))
    return MethodResult(
        method="isoflop",
        a=a,
        b=b,
        a_interval=percentile_interval(samples[:, 0]),
        b_interval=percentile_interval(samples[:, 2]),
        log_k_n=log_k_n,
        log_k_d=log_k_d,
        compute=centres,
        params_opt=n_opt,
        tokens_opt=centres / (FLOPS_PER_PARAM_TOKEN * n_opt),
        n_runs=int(sum(g.n_runs for g in used)),
        warnings=tuple(warnings),
        a_samples=samples[:, 0],
        log_k_samples=samples[:, 1],
        b_samples=samples[:, 2],
        n_resamples=n_resamples,
        seed=seed,
        groups=tuple(details),
    )


# ---------------------------------------------------------------------------------------------
# Cross-check
# ---------------------------------------------------------------------------------------------


def compare_methods(results: dict[str, tuple[float, tuple[float, float]]]) -> list[str]:
    """Plain warnings for every pair of methods whose intervals of a do not overlap.

    ``results`` maps a method key ("envelope", "isoflop", "joint" or any label) to
    ``(a, (low, high))``. Why: the three methods should agree when done carefully; when they
    do not, the Planner must say so rather than show one number (Besiroglu et al. 2024 found the
    published joint fit disagreeing with Methods 1 and 2). Empty list when all agree.
    """
    items = [(METHOD_LABELS.get(k, k), float(a), iv) for k, (a, iv) in results.items()]
    warnings: list[str] = []
    for name, _, (lo, hi) in items:
        if not (np.isfinite(lo) and np.isfinite(hi)):
            warnings.append(f"{name} has no finite interval for a, so it cannot be compared.")
    finite = [it for it in items if np.isfinite(it[2][0]) and np.isfinite(it[2][1])]
    for i, (name1, a1, (lo1, hi1)) in enumerate(finite):
        for name2, a2, (lo2, hi2) in finite[i + 1 :]:
            if hi1 < lo2 or hi2 < lo1:
                warnings.append(
                    f"{name1} gives a = {a1:.2f} [{lo1:.2f}, {hi1:.2f}] but {name2} gives "
                    f"a = {a2:.2f} [{lo2:.2f}, {hi2:.2f}]; their intervals do not overlap — "
                    "the situation the Epoch AI replication found."
                )
    return warnings
