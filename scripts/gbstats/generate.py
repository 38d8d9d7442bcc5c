#!/usr/bin/env python3
"""Reference vectors for sceneflow's `src/analytics/comparison.rs`, computed by
GrowthBook's statistics engine `gbstats` 0.8.0 (PyPI).

Writes `tests/fixtures/gbstats_vectors.json` (relative to the repository root;
another path may be given as the only argument). Deterministic: the cases come
from fixed lists and a seeded NumPy generator, and the file is written with
sorted keys, so a rerun with the pinned `requirements.txt` gives the same bytes.

What each section holds:

* `comparisons`: per case the metric kind, the control's and the treatment's
  sufficient statistics (`users`, `sum`, `sum_squares`) and what gbstats
  returns for the treatment against the control:
  - `frequentist`: `gbstats.frequentist.tests.TwoSidedTTest` with the default
    `FrequentistConfig` (relative lift, delta method, alpha 0.05);
  - `sequential`: `SequentialTwoSidedTTest` with the default `SequentialConfig`
    (tuning parameter 5000);
  - `bayesian`: `gbstats.bayesian.tests.EffectBayesianABTest` with the default
    `EffectBayesianConfig` (improper flat prior, relative);
  each as the numbers of the contract (`lift` = gbstats `expected`, `ci`,
  `p_value` / `chance_to_win`, `risk`) or `null` when gbstats gives nothing
  usable: a default ("uninformative") result with an `error_message`, an
  exception, or a non-finite number. The reason is kept in `gbstats_errors`.
  `comparison_is_null` is true when any of the three is null: the Rust
  `compare` returns `None` then.
* `power`: the users per variant needed for 80 % power at two-sided alpha 0.05
  to detect a relative effect. gbstats 0.8.0 has no power code (no `power/`
  package; it came in later releases), so this is GrowthBook's own frequentist
  power formula (front-end `PowerCalculation/stats.ts` `powerEst`, documented
  at https://docs.growthbook.io/statistics/power), written out below with
  scipy's normal distribution and gbstats' variance of the control statistic.
* `srm`: `gbstats.utils.check_srm(users, weights)`.

Float inputs are written with at most 15 significant digits, so any JSON reader
(also one without correctly rounded float parsing) reads back the exact double
that gbstats was given; outputs are written with `repr` (full precision).
"""

import importlib.metadata
import json
import math
import platform
from decimal import Decimal
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy
from scipy.stats import norm

from gbstats.bayesian.tests import EffectBayesianABTest
from gbstats.frequentist.tests import SequentialTwoSidedTTest, TwoSidedTTest
from gbstats.models.statistics import ProportionStatistic, SampleMeanStatistic
from gbstats.utils import check_srm

GBSTATS_VERSION = "0.8.0"
ALPHA = 0.05
TARGET_POWER = 0.8
SEED = 20240508

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "fixtures" / "gbstats_vectors.json"


# --------------------------------------------------------------------------
# inputs


def exact_decimal(x: float) -> float:
    """`x` rounded to 15 significant digits (so its repr has at most 15)."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    return float(f"{x:.15g}")


def summary(users: int, total: float, sum_squares: float) -> dict:
    return {
        "users": int(users),
        "sum": exact_decimal(float(total)),
        "sum_squares": exact_decimal(float(sum_squares)),
    }


def binomial(users: int, conversions: int) -> dict:
    # gbstats' ProportionStatistic has sum_squares == sum (0/1 values).
    return summary(users, conversions, conversions)


def moments(users: int, mean: float, sd: float, digits: int = 4) -> dict:
    """Sufficient statistics of `users` values with this mean and (n - 1)
    standard deviation, rounded to `digits` decimals as a warehouse would
    sum money."""
    total = round(users * mean, digits)
    if users <= 1:
        squares = total * total
    else:
        squares = (users - 1) * sd * sd + total * total / users
    return summary(users, total, round(squares, digits))


def counts(users: int, rate: float, dispersion: float = 1.0) -> dict:
    """Integer per-user counts: sum = round(n·rate), variance ≈ rate·dispersion."""
    total = round(users * rate)
    if users <= 1:
        squares = total * total
    else:
        squares = round((users - 1) * rate * dispersion + total * total / users)
    return summary(users, total, squares)


def statistic(kind: str, s: dict):
    if kind == "binomial":
        return ProportionStatistic(n=s["users"], sum=s["sum"])
    return SampleMeanStatistic(n=s["users"], sum=s["sum"], sum_squares=s["sum_squares"])


# --------------------------------------------------------------------------
# gbstats' outputs


def finite(*xs) -> bool:
    return all(isinstance(x, (int, float)) and math.isfinite(x) for x in xs)


def run(test_class, kind: str, control: dict, treatment: dict):
    """(numbers or None, reason or None) of one gbstats test."""
    try:
        res = test_class(statistic(kind, control), statistic(kind, treatment)).compute_result()
    except Exception as e:  # gbstats raises, e.g. ZeroDivisionError
        return None, f"exception: {type(e).__name__}: {e}"
    if res.error_message:
        return None, res.error_message
    out = {"lift": float(res.expected), "ci": [float(res.ci[0]), float(res.ci[1])]}
    if hasattr(res, "p_value"):
        out["p_value"] = float(res.p_value)
    else:
        out["chance_to_win"] = float(res.chance_to_win)
        out["risk"] = [float(res.risk[0]), float(res.risk[1])]
    values = [out["lift"], *out["ci"]] + [
        v for k, v in out.items() if k in ("p_value", "chance_to_win")
    ] + out.get("risk", [])
    if not finite(*values):
        return None, "non-finite output: " + repr(values)
    return out, None


TESTS = {
    "frequentist": TwoSidedTTest,
    "sequential": SequentialTwoSidedTTest,
    "bayesian": EffectBayesianABTest,
}


def comparison_case(case_id: str, kind: str, control: dict, treatment: dict) -> dict:
    case = {"id": case_id, "kind": kind, "control": control, "treatment": treatment}
    errors = {}
    for name, cls in TESTS.items():
        out, reason = run(cls, kind, control, treatment)
        case[name] = out
        if reason is not None:
            errors[name] = reason
    case["comparison_is_null"] = any(case[name] is None for name in TESTS)
    if errors:
        case["gbstats_errors"] = errors
    return case


# --------------------------------------------------------------------------
# power (GrowthBook's formula; gbstats 0.8.0 has none)


def power_at(effect: float, mean: float, variance: float, n: int) -> float:
    """Two-sided power at `n` users per variant: GrowthBook front-end
    `powerEst` (equal variances, delta-method standard error of the lift,
    `frequentistVariance(variance, mean, n, variance, mean·(1+effect), n)`)."""
    z_star = norm.ppf(1.0 - 0.5 * ALPHA)
    mean_b = mean * (1.0 + effect)
    se = math.sqrt(variance / (mean**2 * n) + variance * mean_b**2 / (mean**4 * n))
    standardized = effect / se
    return float(1.0 - norm.cdf(z_star - standardized) + norm.cdf(-z_star - standardized))


def required_users(effect: float, mean: float, variance: float):
    """Smallest n ≥ 1 per variant with power_at(n) ≥ 0.8 (None if it cannot
    be computed); a closed-form upper bound, then bisection (power grows
    with n)."""
    if not (mean != 0 and variance > 0 and effect != 0 and math.isfinite(effect)):
        return None
    k = norm.ppf(1.0 - 0.5 * ALPHA) + norm.ppf(TARGET_POWER)
    bound = k * k * variance * (1.0 + (1.0 + effect) ** 2) / (mean * mean * effect * effect)
    if not math.isfinite(bound) or bound >= 2.0**63:
        return None
    hi = max(1, math.ceil(bound))
    while power_at(effect, mean, variance, hi) < TARGET_POWER:
        hi *= 2
        if hi >= 2**63:
            return None
    lo = 0  # power_at(lo) < target (or lo == 0)
    while hi - lo > 1:
        mid = lo + (hi - lo) // 2
        if power_at(effect, mean, variance, mid) >= TARGET_POWER:
            hi = mid
        else:
            lo = mid
    return hi


def power_case(case_id: str, kind: str, control: dict, treatment: dict, effect: float) -> dict:
    stat = statistic(kind, control)
    mean, variance = float(stat.mean), float(stat.variance)
    n = min(control["users"], treatment["users"])
    required = required_users(effect, mean, variance)
    power = None
    if required is not None and n > 0:
        power = power_at(effect, mean, variance, n)
    return {
        "id": case_id,
        "kind": kind,
        "control": control,
        "treatment": treatment,
        "min_relative_effect": effect,
        "power_at_current_users": power,
        "required_users_per_variant": required,
        "users_still_needed": None if required is None else max(0, required - n),
    }


# --------------------------------------------------------------------------
# SRM


def srm_case(case_id: str, users: list, weights: list) -> dict:
    try:
        p = float(check_srm(users, weights))
        reason = None if math.isfinite(p) else f"non-finite: {p!r}"
    except Exception as e:
        p, reason = float("nan"), f"exception: {type(e).__name__}: {e}"
    case = {"id": case_id, "users": users, "weights": weights}
    case["p_value"] = p if reason is None else None
    if reason is not None:
        case["gbstats_error"] = reason
    return case


# --------------------------------------------------------------------------
# the cases


def comparison_cases(rng: np.random.Generator) -> list:
    cases = []

    def add(case_id, kind, control, treatment):
        cases.append(comparison_case(case_id, kind, control, treatment))

    # The contract's worked example.
    add("contract-example", "binomial", binomial(195, 41), binomial(198, 50))

    # --- binomial: a grid of sizes, rates and lifts ------------------------
    sizes = [2, 3, 5, 10, 30, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000]
    rates = [0.001, 0.01, 0.05, 0.2, 0.5, 0.9, 0.999]
    lifts = [-0.9, -0.3, -0.05, -0.001, 0.0, 1e-6, 0.001, 0.05, 0.3, 2.0, 10.0]
    for n in sizes:
        for rate in rates:
            for lift in rng.choice(lifts, size=3, replace=False):
                n_t = n if rng.random() < 0.5 else max(2, int(n * rng.uniform(0.8, 1.25)))
                conv_c = min(n, max(0, round(n * rate)))
                conv_t = min(n_t, max(0, round(n_t * rate * (1.0 + lift))))
                add(f"binomial-n{n}-p{rate}-lift{lift}", "binomial",
                    binomial(n, conv_c), binomial(n_t, conv_t))
    # Random binomial cases of every size.
    for i in range(60):
        n_c = int(10 ** rng.uniform(0.3, 7.0))
        n_t = max(1, int(n_c * rng.uniform(0.5, 2.0)))
        p = 10 ** rng.uniform(-4, 0)
        p_t = min(1.0, p * math.exp(rng.normal(0, 0.5)))
        add(f"binomial-random-{i}", "binomial",
            binomial(n_c, int(rng.binomial(n_c, p))),
            binomial(n_t, int(rng.binomial(n_t, p_t))))
    # Tiny and huge effects at 10^7 users.
    big = 10_000_000
    add("binomial-1e7-one-more-conversion", "binomial", binomial(big, 1_000_000), binomial(big, 1_000_001))
    add("binomial-1e7-identical", "binomial", binomial(big, 123_456), binomial(big, 123_456))
    add("binomial-1e7-huge-lift", "binomial", binomial(big, 10), binomial(big, 5_000_000))
    add("binomial-1e7-vs-10", "binomial", binomial(big, 2_000_000), binomial(10, 3))
    # Zero variance, zero control mean, empty and single-user groups.
    add("binomial-all-converted-both", "binomial", binomial(100, 100), binomial(120, 120))
    add("binomial-all-converted-treatment", "binomial", binomial(100, 40), binomial(100, 100))
    add("binomial-all-converted-control", "binomial", binomial(100, 100), binomial(100, 40))
    add("binomial-none-converted-treatment", "binomial", binomial(100, 40), binomial(100, 0))
    add("binomial-none-converted-control", "binomial", binomial(100, 0), binomial(100, 40))
    add("binomial-none-converted-both", "binomial", binomial(100, 0), binomial(100, 0))
    add("binomial-empty-control", "binomial", binomial(0, 0), binomial(100, 40))
    add("binomial-empty-treatment", "binomial", binomial(100, 40), binomial(0, 0))
    add("binomial-empty-both", "binomial", binomial(0, 0), binomial(0, 0))
    add("binomial-one-user-each", "binomial", binomial(1, 1), binomial(1, 0))
    add("binomial-one-user-control", "binomial", binomial(1, 1), binomial(50, 20))
    add("binomial-two-users-each", "binomial", binomial(2, 1), binomial(2, 1))
    add("binomial-two-users-lift", "binomial", binomial(2, 1), binomial(3, 2))
    # Inputs that are not 0/1 data: more conversions than users (negative
    # variance) and a fractional sum of one user (gbstats divides by n − 1).
    add("binomial-more-conversions-than-users", "binomial", binomial(10, 12), binomial(10, 5))
    add("binomial-fractional-one-user", "binomial", summary(1, 0.5, 0.5), binomial(10, 5))

    # --- mean: revenue-like values ----------------------------------------
    for i in range(150):
        n_c = int(10 ** rng.uniform(0.3, 7.0))
        n_t = max(1, int(n_c * rng.uniform(0.5, 2.0)))
        mean = 10 ** rng.uniform(-2, 3) * (1 if rng.random() < 0.85 else -1)
        sd = abs(mean) * 10 ** rng.uniform(-2, 1)
        lift = float(rng.choice([-0.5, -0.05, -1e-4, 0.0, 1e-5, 0.01, 0.2, 1.0, 50.0]))
        mean_t = mean * (1 + lift) * (1 + rng.normal(0, 0.01))
        sd_t = sd * math.exp(rng.normal(0, 0.2))
        add(f"mean-random-{i}", "mean", moments(n_c, mean, sd), moments(n_t, mean_t, sd_t))
    for n in [2, 3, 10, 1_000, 1_000_000, 10_000_000]:
        add(f"mean-n{n}-equal", "mean", moments(n, 25.5, 40.0), moments(n, 25.5, 40.0))
        add(f"mean-n{n}-tiny-lift", "mean", moments(n, 25.5, 40.0), moments(n, 25.5001, 40.0))
        add(f"mean-n{n}-huge-lift", "mean", moments(n, 0.5, 2.0), moments(n, 500.0, 900.0))
        add(f"mean-n{n}-negative-lift", "mean", moments(n, 80.0, 30.0), moments(n, 60.0, 35.0))
    add("mean-negative-control", "mean", moments(500, -12.5, 30.0), moments(500, -10.0, 28.0))
    add("mean-sign-change", "mean", moments(500, -2.0, 30.0), moments(500, 3.0, 28.0))
    # All values equal (zero variance) and a zero control mean.
    add("mean-all-equal-both", "mean", summary(10, 30, 90), summary(12, 36, 108))
    add("mean-all-equal-treatment", "mean", moments(100, 5.0, 2.0), summary(10, 30, 90))
    add("mean-all-equal-control", "mean", summary(10, 30, 90), moments(100, 5.0, 2.0))
    add("mean-zero-control-mean", "mean", summary(100, 0.0, 250.0), moments(100, 5.0, 2.0))
    add("mean-all-zero-control", "mean", summary(100, 0.0, 0.0), moments(100, 5.0, 2.0))
    add("mean-zero-treatment-mean", "mean", moments(100, 5.0, 2.0), summary(100, 0.0, 250.0))
    add("mean-empty-control", "mean", summary(0, 0, 0), moments(100, 5.0, 2.0))
    add("mean-empty-treatment", "mean", moments(100, 5.0, 2.0), summary(0, 0, 0))
    add("mean-one-user-each", "mean", summary(1, 4.0, 16.0), summary(1, 6.0, 36.0))
    add("mean-one-user-treatment", "mean", moments(100, 5.0, 2.0), summary(1, 6.0, 36.0))
    add("mean-two-users-each", "mean", summary(2, 3.0, 5.0), summary(2, 5.0, 13.0))
    add("mean-inconsistent-squares", "mean", summary(10, 30.0, 50.0), moments(10, 3.0, 1.0))
    add("mean-tiny-values", "mean", moments(1000, 1e-6, 2e-6, digits=12), moments(1000, 1.5e-6, 2e-6, digits=12))
    # Where Python's float `pow` overflows (OverflowError) or divides by an
    # underflowed 0 (ZeroDivisionError), gbstats has no result; in the last,
    # only the t-test's Welch degrees of freedom fail (variances ~1e-166).
    add("mean-control-mean-fourth-power-overflows", "mean",
        summary(10, 1e81, 1e163), summary(10, 2e81, 8e162))
    add("mean-means-fourth-power-underflows", "mean",
        summary(10, 1e-81, 2e-163), summary(10, 2e-81, 8e-163))
    add("mean-welch-dof-underflows", "mean",
        summary(2, 2e-75, 2.0000000000000003e-150), summary(3, 3e-75, 3.0000000000000005e-150))
    add("mean-huge-values", "mean", moments(1000, 1e9, 3e9, digits=0), moments(1000, 1.1e9, 3e9, digits=0))

    # --- count: integer counts per user -----------------------------------
    for i in range(150):
        n_c = int(10 ** rng.uniform(0.3, 7.0))
        n_t = max(1, int(n_c * rng.uniform(0.5, 2.0)))
        rate = 10 ** rng.uniform(-2, 1.5)
        dispersion = 10 ** rng.uniform(0, 1)
        lift = float(rng.choice([-0.3, -0.01, 0.0, 1e-4, 0.02, 0.5, 3.0]))
        add(f"count-random-{i}", "count",
            counts(n_c, rate, dispersion),
            counts(n_t, rate * (1 + lift), dispersion * math.exp(rng.normal(0, 0.1))))
    for n in [2, 5, 100, 100_000, 10_000_000]:
        add(f"count-n{n}-same", "count", counts(n, 3.0), counts(n, 3.0))
        add(f"count-n{n}-more", "count", counts(n, 3.0, 2.0), counts(n, 3.6, 2.0))
    add("count-all-one", "count", summary(50, 50, 50), summary(50, 50, 50))
    add("count-all-one-control", "count", summary(50, 50, 50), counts(50, 1.2))
    add("count-zero-control", "count", summary(50, 0, 0), counts(50, 1.2))
    add("count-zero-treatment", "count", counts(50, 1.2), summary(50, 0, 0))
    add("count-empty-both", "count", summary(0, 0, 0), summary(0, 0, 0))
    add("count-one-user-each", "count", summary(1, 3, 9), summary(1, 2, 4))
    return cases


def power_cases(rng: np.random.Generator) -> list:
    cases = []
    for kind, control, effect in [
        ("binomial", binomial(1000, 100), 0.05),
        ("binomial", binomial(1000, 100), 0.2),
        ("binomial", binomial(1000, 100), -0.2),
        ("binomial", binomial(50_000, 1_000), 0.01),
        ("binomial", binomial(10_000_000, 123_456), 0.001),
        ("binomial", binomial(10, 9), 0.05),
        ("binomial", binomial(2, 1), 1.0),
        ("binomial", binomial(1000, 100), -1.0),
        ("binomial", binomial(1000, 100), 1e-6),
        ("mean", moments(1000, 25.5, 40.0), 0.05),
        ("mean", moments(1000, -25.5, 40.0), 0.05),
        ("count", counts(1000, 3.0, 2.0), 0.02),
    ]:
        cases.append(power_case(f"power-{kind}-{len(cases)}", kind, control, control, effect))
    for i in range(40):
        kind = ["binomial", "mean", "count"][i % 3]
        n = int(10 ** rng.uniform(1, 7))
        n_t = max(1, int(n * rng.uniform(0.8, 1.25)))
        if kind == "binomial":
            p = 10 ** rng.uniform(-3, -0.05)
            control, treatment = binomial(n, round(n * p)), binomial(n_t, round(n_t * p))
        elif kind == "mean":
            mean = 10 ** rng.uniform(-1, 2)
            control = moments(n, mean, mean * 10 ** rng.uniform(-1, 1))
            treatment = moments(n_t, mean, mean)
        else:
            rate = 10 ** rng.uniform(-1, 1)
            control, treatment = counts(n, rate, 3.0), counts(n_t, rate, 3.0)
        effect = float(rng.choice([-0.5, -0.1, -0.02, 0.005, 0.01, 0.03, 0.1, 0.25, 1.0]))
        cases.append(power_case(f"power-random-{i}", kind, control, treatment, effect))
    # Nothing to compute: no variance, a zero mean, a zero effect, no users.
    cases.append(power_case("power-zero-variance", "binomial", binomial(100, 100), binomial(100, 100), 0.1))
    cases.append(power_case("power-zero-mean", "mean", summary(100, 0.0, 250.0), summary(100, 0.0, 250.0), 0.1))
    cases.append(power_case("power-zero-effect", "binomial", binomial(100, 10), binomial(100, 10), 0.0))
    cases.append(power_case("power-empty", "count", summary(0, 0, 0), summary(0, 0, 0), 0.1))
    cases.append(power_case("power-empty-treatment", "binomial", binomial(1000, 100), summary(0, 0, 0), 0.2))
    return cases


def srm_cases(rng: np.random.Generator) -> list:
    cases = [
        srm_case("srm-even", [5000, 5000], [0.5, 0.5]),
        srm_case("srm-mismatch", [5300, 4700], [0.5, 0.5]),
        srm_case("srm-three-way", [1055, 945, 1000], [1 / 3, 1 / 3, 1 / 3]),
        srm_case("srm-weighted-exact", [250, 750], [0.25, 0.75]),
        srm_case("srm-weighted-off", [300, 700], [0.25, 0.75]),
        srm_case("srm-huge", [10_000_000, 10_010_000], [0.5, 0.5]),
        srm_case("srm-extreme", [10_000_000, 5_000_000], [0.5, 0.5]),
        srm_case("srm-no-users", [0, 0], [0.5, 0.5]),
        srm_case("srm-one-empty", [0, 100], [0.5, 0.5]),
        srm_case("srm-zero-weight-skipped", [100, 100, 7], [0.5, 0.5, 0.0]),
        srm_case("srm-unnormalised-weights", [480, 520], [1.0, 1.0]),
        srm_case("srm-single-variant", [100], [1.0]),
        srm_case("srm-tiny", [1, 2], [0.5, 0.5]),
        srm_case("srm-four-way", [2500, 2600, 2400, 2550], [0.25, 0.25, 0.25, 0.25]),
    ]
    for i in range(30):
        k = int(rng.integers(2, 6))
        weights = [round(float(w), 4) for w in rng.dirichlet(np.ones(k) * 3)]
        total = int(10 ** rng.uniform(1, 7))
        skew = rng.normal(0, 0.02, k) if i % 2 else np.zeros(k)
        probs = np.clip(np.array(weights) * (1 + skew), 1e-6, None)
        users = [int(u) for u in rng.multinomial(total, probs / probs.sum())]
        cases.append(srm_case(f"srm-random-{i}", users, weights))
    return cases


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    installed = importlib.metadata.version("gbstats")
    if installed != GBSTATS_VERSION:
        sys.exit(f"gbstats {GBSTATS_VERSION} is needed, found {installed}")
    warnings.simplefilter("ignore")  # overflow/invalid warnings of the edge cases
    np.seterr(all="ignore")
    rng = np.random.default_rng(SEED)
    data = {
        "gbstats_version": installed,
        "generator": "scripts/gbstats/generate.py",
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pandas": importlib.metadata.version("pandas"),
        },
        "settings": {
            "alpha": ALPHA,
            "sequential_tuning_parameter": 5000,
            "target_power": TARGET_POWER,
            "difference_type": "relative",
        },
        "comparisons": comparison_cases(rng),
        "power": power_cases(rng),
        "srm": srm_cases(rng),
    }
    check_inputs(data)
    text = json.dumps(data, sort_keys=True, allow_nan=False, indent=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    nulls = sum(c["comparison_is_null"] for c in data["comparisons"])
    print(f"wrote {out}: {len(data['comparisons'])} comparisons ({nulls} null), "
          f"{len(data['power'])} power cases, {len(data['srm'])} SRM cases, "
          f"{len(text) // 1024} KiB")


def check_inputs(data: dict) -> None:
    """Every float input of a computed case must read back exactly in any
    JSON parser: at most 15 significant digits times a power of ten up to
    10^22, which a parser turns into a double with one correctly rounded
    multiplication or division."""
    def ok(x):
        if isinstance(x, int):
            return True
        _, digits, exponent = Decimal(repr(x)).normalize().as_tuple()
        return x == 0 or (len(digits) <= 15 and -22 <= exponent <= 22)

    ids = set()
    for section in ("comparisons", "power"):
        for case in data[section]:
            assert case["id"] not in ids, case["id"]
            ids.add(case["id"])
            # A case gbstats has no result for only needs the same null-ness,
            # which a last-bit difference of its extreme inputs keeps.
            exact = not case.get("comparison_is_null", False)
            for side in ("control", "treatment"):
                for v in case[side].values():
                    assert ok(v) or (not exact and math.isfinite(v)), (case["id"], v)


if __name__ == "__main__":
    main()
