//! A treatment against the control, with exactly the numbers of GrowthBook's
//! statistics engine `gbstats` 0.8.0 (PyPI): the frequentist t-test, the
//! sequential test and the Bayesian effect test on the relative lift, the
//! users still needed for 80 % power, and the sample-ratio-mismatch p-value.
//! No I/O.
//!
//! Each variant is summarised by its sufficient statistics ([`Summary`]):
//! the number of users `n`, the sum `Σy` and the sum of squares `Σy²` of the
//! per-user values `y`. GrowthBook describes the method at
//! <https://docs.growthbook.io/statistics/details>; the sources named on each
//! item are the files of the gbstats 0.8.0 wheel (`gbstats/…`).
//!
//! The vectors in `tests/fixtures/gbstats_vectors.json` were computed by
//! gbstats itself (`scripts/gbstats/generate.py`); the tests below check
//! every number against them.
//!
//! Distributions: the normal quantile and the χ² distribution are
//! `statrs`' own; the normal distribution function is `statrs`' incomplete
//! gamma function (its `Normal::cdf` is off by ~5e-11 relative). Student's t
//! is computed here (`students_t_*` below), because `statrs` 0.18's
//! `StudentsT` loses accuracy with many degrees of freedom: its quantile is
//! off by 1e-4 at 10⁶ and did not return within 20 s at 2·10⁷, which a
//! Welch test of 10⁷ users per variant reaches.

use serde::{Deserialize, Serialize};
use statrs::consts::LN_SQRT_2PI;
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};
use statrs::function::gamma::checked_gamma_ur;

/// Two-sided false positive rate of every test: gbstats' default `alpha`
/// (`FrequentistConfig`, `BayesianConfig`), so intervals are 95 %.
pub const ALPHA: f64 = 0.05;

/// The sequential test's tuning parameter N* (a number of users): gbstats'
/// default `SequentialConfig.sequential_tuning_parameter`.
pub const SEQUENTIAL_TUNING_PARAMETER: f64 = 5000.0;

/// The power at which [`required_users_per_variant`] stops: 80 %, as in
/// GrowthBook's power calculator.
pub const TARGET_POWER: f64 = 0.8;

/// What a metric's per-user value is, which decides its variance: the
/// domain's [`MetricKind`](crate::words::MetricKind).
///
/// gbstats 0.8.0 `gbstats/models/statistics.py`: `Binomial` is a
/// `ProportionStatistic` (a 0/1 value per user, variance `p(1 − p)`),
/// `Mean` and `Count` are a `SampleMeanStatistic` (any real value, or a
/// whole count, per user; sample variance).
pub use crate::words::MetricKind as Kind;

/// One variant's sufficient statistics of a metric.
///
/// `users` is the number of users `n`; `sum` is `Σy` and `sum_squares` is
/// `Σy²` over the users' values `y`, in the metric's unit (and its square).
/// For [`Kind::Binomial`] only `users` and `sum` (the conversions) are read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Users in the variant (`n`).
    pub users: u64,
    /// `Σy`, the sum of the users' values.
    pub sum: f64,
    /// `Σy²`, the sum of the squares of the users' values.
    pub sum_squares: f64,
}

impl Summary {
    /// The mean value per user, `Σy / n`, and 0 without users (gbstats
    /// 0.8.0 `gbstats/models/statistics.py`, `SampleMeanStatistic.mean` and
    /// `ProportionStatistic.mean`).
    pub fn mean(&self) -> f64 {
        if self.users == 0 {
            0.0
        } else {
            self.sum / self.users as f64
        }
    }

    /// The variance of one user's value (not of the mean), in the metric's
    /// unit squared (gbstats 0.8.0 `gbstats/models/statistics.py`):
    ///
    /// * [`Kind::Binomial`]: `p(1 − p)` with `p` = [`Summary::mean`]
    ///   (`ProportionStatistic.variance`);
    /// * [`Kind::Mean`], [`Kind::Count`]: `(Σy² − (Σy)²/n) / (n − 1)`, and 0
    ///   for `n ≤ 1` (`SampleMeanStatistic.variance`).
    ///
    /// It can be negative or NaN for inconsistent inputs (more conversions
    /// than users, `Σy² < (Σy)²/n`); [`compare`] then returns `None`.
    pub fn variance(&self, kind: Kind) -> f64 {
        match kind {
            Kind::Binomial => {
                let p = self.mean();
                p * (1.0 - p)
            }
            Kind::Mean | Kind::Count => {
                if self.users <= 1 {
                    0.0
                } else {
                    let n = self.users as f64;
                    (self.sum_squares - self.sum * self.sum / n) / (self.users - 1) as f64
                }
            }
        }
    }
}

/// A frequentist result on the relative lift: the fixed-horizon t-test or
/// the sequential test. Serialised as `{"lift", "ci", "p_value"}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Frequentist {
    /// `(mean_t − mean_c) / mean_c`, a fraction (0.2 is +20 %): gbstats'
    /// `expected`.
    pub lift: f64,
    /// The 95 % confidence interval of the lift, `[low, high]`, fractions.
    pub ci: [f64; 2],
    /// The two-sided p-value, in `[0, 1]`.
    pub p_value: f64,
}

/// The Bayesian result on the relative lift. Serialised as
/// `{"lift", "ci", "chance_to_win", "risk"}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bayesian {
    /// The posterior mean of the lift, a fraction: gbstats' `expected`
    /// (with the default improper prior, the observed lift).
    pub lift: f64,
    /// The 2.5 % and 97.5 % quantiles of the posterior, `[low, high]`.
    pub ci: [f64; 2],
    /// The posterior probability that the lift is above 0, in `[0, 1]`:
    /// gbstats' `chance_to_win`.
    pub chance_to_win: f64,
    /// The expected loss (relative, a fraction ≥ 0) of choosing
    /// `[control, treatment]`: gbstats' `risk` list, in its order —
    /// `risk[0]` is `E[max(lift, 0)]` (gbstats' `risk_ctrl`), `risk[1]` is
    /// `E[max(−lift, 0)]` (`risk_trt`).
    pub risk: [f64; 2],
}

/// A treatment against the control under the three tests. Serialised as
/// `{"frequentist", "sequential", "bayesian"}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    /// gbstats 0.8.0 `gbstats/frequentist/tests.py` `TwoSidedTTest` with the
    /// default `FrequentistConfig` (relative, alpha 0.05).
    pub frequentist: Frequentist,
    /// gbstats 0.8.0 `gbstats/frequentist/tests.py`
    /// `SequentialTwoSidedTTest` with the default `SequentialConfig`
    /// (tuning parameter 5000).
    pub sequential: Frequentist,
    /// gbstats 0.8.0 `gbstats/bayesian/tests.py` `EffectBayesianABTest`
    /// with the default `EffectBayesianConfig` (improper prior).
    pub bayesian: Bayesian,
}

/// The treatment against the control on the relative lift, as gbstats
/// 0.8.0 computes it with its default settings; `None` when it cannot be
/// computed.
///
/// All three tests start from the lift and its delta-method variance
/// (`gbstats/frequentist/tests.py` `frequentist_diff`,
/// `frequentist_variance`; <https://docs.growthbook.io/statistics/details>,
/// "Lift"):
///
/// ```text
/// lift = (μ_t − μ_c) / μ_c
/// σ²   = σ²_t / (μ_c² n_t) + σ²_c μ_t² / (μ_c⁴ n_c)
/// ```
///
/// * frequentist (`TwoSidedTTest.p_value`, `.confidence_interval`):
///   `p = 2(1 − F_ν(|lift / σ|))`, `ci = lift ∓ F⁻¹_ν(0.975) σ`, with
///   Student's t with the Welch–Satterthwaite degrees of freedom
///   (`TTest.dof`) `ν = (σ²_t/n_t + σ²_c/n_c)² / (σ⁴_t/(n_t²(n_t − 1)) +
///   σ⁴_c/(n_c²(n_c − 1)))` — t quantiles, not normal ones;
/// * sequential (`SequentialTwoSidedTTest`, Waudby-Smith et al. 2023, eq. 9
///   and 155; <https://docs.growthbook.io/statistics/sequential>): with
///   `N = n_c + n_t` and `ρ² = (−2 ln α + ln(1 − 2 ln α)) / 5000`,
///   `ci = lift ∓ σ√N · √(2(Nρ² + 1) ln(√(Nρ² + 1)/α) / (Nρ)²)` and
///   `p = min(1, √(Nρ² + 1) · exp(−ρ² (lift²N/σ²) / (2(Nρ² + 1))))` — no
///   quantile at all;
/// * Bayesian (`EffectBayesianABTest.compute_result`, `get_risk`;
///   `gbstats/utils.py` `truncated_normal_mean`): posterior `N(lift, σ²)`
///   (improper prior), `chance_to_win = P(X > 0)`, `ci` its normal 2.5 %
///   and 97.5 % quantiles, `risk = [E max(X, 0), E max(−X, 0)]` from the
///   truncated normal means.
///
/// `None` (gbstats returns its uninformative default result, raises, or
/// gives a non-finite number) when:
///
/// * the control mean is 0, including a control without users
///   (`ZERO_NEGATIVE_BASELINE_VARIATION`; gbstats refuses only exactly 0,
///   a negative control mean is computed);
/// * either variance is ≤ 0 or NaN: a variant with 0 or 1 users (mean and
///   count), all users converted or none (binomial), all values equal,
///   inconsistent inputs (`ZERO_NEGATIVE_VARIANCE`);
/// * the treatment has no users (`NO_UNITS_IN_VARIATION`);
/// * a variant has a single user yet a positive variance (a fractional
///   binomial sum), where gbstats' Welch degrees of freedom divide by
///   `n − 1 = 0` and raise `ZeroDivisionError`;
/// * extreme magnitudes where Python's float arithmetic in gbstats raises:
///   `pow` overflowing (`OverflowError`; a control mean beyond ~1e77, a
///   variance beyond ~1e154) or a division by a product that underflowed
///   to 0 (`ZeroDivisionError`; means below ~1e-81, variances below
///   ~1e-162);
/// * any of the results is not finite.
pub fn compare(kind: Kind, control: &Summary, treatment: &Summary) -> Option<Comparison> {
    let (c, t, lift, variance) = lift_and_variance(kind, control, treatment)?;
    Some(Comparison {
        frequentist: t_test(&c, &t, lift, variance)?,
        sequential: sequential_test(
            u128::from(c.users) + u128::from(t.users),
            lift,
            variance,
            ALPHA,
        )?,
        bayesian: bayesian_test(lift, variance)?,
    })
}

/// The sequential interval of [`compare`] for any estimate: `estimate`
/// with variance `variance` (of the estimate, not of one user's value)
/// from `users` users in all, at the two-sided false positive rate
/// `alpha` in `(0, 1)` — gbstats 0.8.0 `SequentialTwoSidedTTest` with
/// `SequentialConfig.alpha` = `alpha`. With the relative lift and its
/// delta-method variance at [`ALPHA`] it is [`Comparison::sequential`];
/// the guardrails of a staged rollout give it the absolute difference
/// (docs/src/rollouts.md). `None` for a variance that is
/// not positive and finite, or a result that is not finite.
pub fn sequential_interval(
    estimate: f64,
    variance: f64,
    users: u128,
    alpha: f64,
) -> Option<Frequentist> {
    if !(alpha > 0.0 && alpha < 1.0 && variance.is_finite() && variance > 0.0 && users > 0) {
        return None;
    }
    sequential_test(users, estimate, variance, alpha)
}

/// Both variants, the relative lift and its delta-method variance; `None`
/// in the cases listed on [`compare`].
fn lift_and_variance(
    kind: Kind,
    control: &Summary,
    treatment: &Summary,
) -> Option<(Variant, Variant, f64, f64)> {
    let c = Variant::new(kind, control);
    let t = Variant::new(kind, treatment);
    if c.mean == 0.0 || c.users == 0 || t.users == 0 || !c.has_variance() || !t.has_variance() {
        return None;
    }
    let lift = (t.mean - c.mean) / c.mean;
    // frequentist_variance; Python's float `pow` raises OverflowError where
    // a double would be ∞ (a control mean above 1e77).
    let (c_mean2, c_mean4, t_mean2) = (c.mean.powi(2), c.mean.powi(4), t.mean.powi(2));
    if c_mean4.is_infinite() || t_mean2.is_infinite() {
        return None;
    }
    let variance = t.variance / (c_mean2 * t.n()) + c.variance * t_mean2 / (c_mean4 * c.n());
    if !(lift.is_finite() && variance.is_finite() && variance > 0.0) {
        return None;
    }
    Some((c, t, lift, variance))
}

/// The two-sided power, in `[0, 1]`, of the frequentist test at
/// `users_per_variant` users in each of the two variants, for a true
/// relative effect `min_relative_effect` (a fraction: 0.05 is +5 %), with
/// the control's mean and per-user variance ([`Summary::mean`],
/// [`Summary::variance`]) taken for both variants; `None` when it cannot be
/// computed (no users, a zero mean, no variance, a zero or non-finite
/// effect).
///
/// gbstats 0.8.0 has no power code (its `power/` package came in later
/// releases), so this follows GrowthBook's own power calculator, front-end
/// `components/PowerCalculation/stats.ts` `powerEst` and
/// `powerStandardError`, documented at
/// <https://docs.growthbook.io/statistics/power> (technical details:
/// <https://docs.growthbook.io/statistics/power-technical>), equation 4:
///
/// ```text
/// σ²_Δ = σ²/(μ² n) + σ² μ_B²/(μ⁴ n),   μ_B = μ (1 + Δ)
/// π    = 1 − Φ(z₀.₉₇₅ − Δ/σ_Δ) + Φ(−z₀.₉₇₅ − Δ/σ_Δ)
/// ```
///
/// (normal, not t, quantiles; equal variances in both variants).
pub fn power(
    kind: Kind,
    control: &Summary,
    min_relative_effect: f64,
    users_per_variant: u64,
) -> Option<f64> {
    let plan = PowerPlan::new(kind, control, min_relative_effect)?;
    if users_per_variant == 0 {
        return None;
    }
    let power = plan.power_at(users_per_variant);
    power.is_finite().then_some(power)
}

/// The smallest number of users per variant (two variants of equal size) at
/// which [`power`] reaches [`TARGET_POWER`] (80 %) at two-sided alpha 0.05,
/// for a true relative effect `min_relative_effect` (a fraction), from the
/// control's mean and variance; `None` when [`power`] cannot be computed or
/// the number exceeds 2⁶³.
///
/// GrowthBook's calculator (front-end `PowerCalculation/stats.ts`
/// `powerMetricWeeks`) reports the first week whose users reach 80 % power;
/// this is the same rule on whole users: a closed-form upper bound
/// `(z₀.₉₇₅ + z₀.₈)² σ² (1 + (1 + Δ)²) / (μ² Δ²)` (the power formula
/// without its negligible second term), then bisection on `n`, the power
/// growing with `n`.
pub fn required_users_per_variant(
    kind: Kind,
    control: &Summary,
    min_relative_effect: f64,
) -> Option<u64> {
    PowerPlan::new(kind, control, min_relative_effect)?.required_users()
}

/// The users per variant still to be added before [`TARGET_POWER`] is
/// reached: [`required_users_per_variant`] minus the smaller of the two
/// variants' users (GrowthBook's power documentation: with unequal
/// variants, use the smaller), and 0 once reached.
pub fn users_still_needed(
    kind: Kind,
    control: &Summary,
    treatment: &Summary,
    min_relative_effect: f64,
) -> Option<u64> {
    let required = required_users_per_variant(kind, control, min_relative_effect)?;
    Some(required.saturating_sub(control.users.min(treatment.users)))
}

/// The sample-ratio-mismatch p-value of the users per variant against the
/// traffic weights (any positive scale; `users[i]` pairs with
/// `weights[i]`), in `[0, 1]`: the χ² goodness-of-fit test with `k − 1`
/// degrees of freedom, as gbstats 0.8.0 `gbstats/utils.py` `check_srm`
/// computes it (<https://docs.growthbook.io/statistics/srm>; GrowthBook
/// flags a mismatch below 0.001):
///
/// ```text
/// e_i = w_i / Σw · Σusers,   χ² = Σ_{w_i > 0} (users_i − e_i)² / e_i
/// ```
///
/// Variants whose weight is ≤ 0 are left out of χ² (but still count in
/// `k`), and no users at all gives 1. `None` for a single variant
/// (gbstats' χ² with 0 degrees of freedom is NaN), lists of different
/// lengths, or weights that give no finite statistic.
pub fn srm_p_value(users: &[u64], weights: &[f64]) -> Option<f64> {
    if users.len() != weights.len() {
        return None;
    }
    let total: u128 = users.iter().map(|&u| u128::from(u)).sum();
    if total == 0 {
        return Some(1.0);
    }
    let total = total as f64;
    let total_weight: f64 = weights.iter().sum();
    let mut statistic = 0.0;
    for (&observed, &weight) in users.iter().zip(weights) {
        if weight <= 0.0 {
            continue;
        }
        let expected = weight / total_weight * total;
        statistic += (observed as f64 - expected).powi(2) / expected;
    }
    if !statistic.is_finite() {
        return None;
    }
    let degrees_of_freedom = (users.len() - 1) as f64;
    let p = ChiSquared::new(degrees_of_freedom).ok()?.sf(statistic);
    p.is_finite().then_some(p)
}

/// A variant as gbstats sees it: its users, mean and per-user variance.
struct Variant {
    users: u64,
    mean: f64,
    variance: f64,
}

impl Variant {
    fn new(kind: Kind, summary: &Summary) -> Self {
        Variant {
            users: summary.users,
            mean: summary.mean(),
            variance: summary.variance(kind),
        }
    }

    fn n(&self) -> f64 {
        self.users as f64
    }

    /// gbstats' `_has_zero_variance` is `variance <= 0`; NaN is refused
    /// too (gbstats would return NaNs).
    fn has_variance(&self) -> bool {
        self.variance > 0.0
    }

    /// `n²(n − 1)` rounded once to a double, as Python's exact integers
    /// give it in gbstats' `TTest.dof`; `None` for `n < 2`, where gbstats
    /// divides by zero.
    fn welch_denominator(&self) -> Option<f64> {
        let n = u128::from(self.users);
        if n < 2 {
            return None;
        }
        Some(
            match n.checked_mul(n).and_then(|n2| n2.checked_mul(n - 1)) {
                Some(exact) => exact as f64,
                None => self.n() * self.n() * (self.n() - 1.0),
            },
        )
    }
}

/// gbstats 0.8.0 `gbstats/frequentist/tests.py` `TwoSidedTTest`.
fn t_test(c: &Variant, t: &Variant, lift: f64, variance: f64) -> Option<Frequentist> {
    // TTest.dof: the Welch–Satterthwaite approximation. Where Python's float
    // `pow` overflows (OverflowError) or the denominator underflows to 0
    // (ZeroDivisionError), gbstats has no result.
    let numerator = (t.variance / t.n() + c.variance / c.n()).powi(2);
    let (t_variance2, c_variance2) = (t.variance.powi(2), c.variance.powi(2));
    if numerator.is_infinite() || t_variance2.is_infinite() || c_variance2.is_infinite() {
        return None;
    }
    let denominator = t_variance2 / t.welch_denominator()? + c_variance2 / c.welch_denominator()?;
    if denominator == 0.0 {
        return None;
    }
    // The quotient itself may overflow to ν = ∞ (Python's division gives
    // inf), which scipy's t treats as the normal distribution.
    let dof = numerator / denominator;
    if dof.is_nan() || dof <= 0.0 {
        return None;
    }
    let se = variance.sqrt();
    let statistic = lift / se;
    // `2 * (1 - t.cdf(|z|, dof))`, with the same rounding of the cdf.
    let cdf = 1.0 - students_t_upper_tail(statistic.abs(), dof);
    let p_value = 2.0 * (1.0 - cdf);
    let width = students_t_quantile(1.0 - ALPHA / 2.0, dof)? * se;
    finite_frequentist(lift, [lift - width, lift + width], p_value)
}

/// gbstats 0.8.0 `gbstats/frequentist/tests.py` `SequentialTwoSidedTTest`
/// (`confidence_interval`, `rho`, `p_value`), with `test_value` 0.
fn sequential_test(users: u128, lift: f64, variance: f64, alpha: f64) -> Option<Frequentist> {
    // N = n_c + n_t, Python's exact integer rounded once.
    let n = users as f64;
    let rho =
        ((-2.0 * alpha.ln() + (-2.0 * alpha.ln() + 1.0).ln()) / SEQUENTIAL_TUNING_PARAMETER).sqrt();
    let n_rho2_1 = n * rho.powi(2) + 1.0;
    let s2 = variance * n;
    let width =
        s2.sqrt() * ((2.0 * n_rho2_1) * (n_rho2_1.sqrt() / alpha).ln() / (n * rho).powi(2)).sqrt();
    let st2 = lift.powi(2) * n / variance;
    let e_value = (rho.powi(2) * st2 / (2.0 * n_rho2_1)).exp() / n_rho2_1.sqrt();
    // Python's `min(1 / evalue, 1)`: the first argument unless 1 is smaller
    // (so a NaN stays NaN).
    let inverse = 1.0 / e_value;
    let p_value = if 1.0 < inverse { 1.0 } else { inverse };
    finite_frequentist(lift, [lift - width, lift + width], p_value)
}

fn finite_frequentist(lift: f64, ci: [f64; 2], p_value: f64) -> Option<Frequentist> {
    (lift.is_finite() && ci.iter().all(|x| x.is_finite()) && p_value.is_finite())
        .then_some(Frequentist { lift, ci, p_value })
}

/// gbstats 0.8.0 `gbstats/bayesian/tests.py`
/// `EffectBayesianABTest.compute_result` with the improper prior.
fn bayesian_test(lift: f64, variance: f64) -> Option<Bayesian> {
    // post_prec = 1/σ² + 0/prior variance; mean_diff = the data's lift.
    let posterior_precision = 1.0 / variance + 0.0;
    let mean = lift;
    let sd = (1.0 / posterior_precision).sqrt();
    if !(sd.is_finite() && sd > 0.0) {
        return None;
    }
    let normal = Normal::standard();
    // norm.sf(0, mean, sd) = Φ(−(0 − mean)/sd); norm.ppf([α/2, 1 − α/2], mean, sd).
    let chance_to_win = ndtr(-((0.0 - mean) / sd));
    let ci = [
        normal.inverse_cdf(ALPHA / 2.0) * sd + mean,
        normal.inverse_cdf(1.0 - ALPHA / 2.0) * sd + mean,
    ];
    let risk = risk(mean, sd);
    let values = [mean, ci[0], ci[1], chance_to_win, risk[0], risk[1]];
    values.iter().all(|x| x.is_finite()).then_some(Bayesian {
        lift: mean,
        ci,
        chance_to_win,
        risk,
    })
}

/// gbstats 0.8.0 `EffectBayesianABTest.get_risk`: `[risk_ctrl, risk_trt]`
/// of the posterior `N(mu, sigma²)`, from the means of the normal truncated
/// to `(0, ∞)` and `(−∞, 0)` as scipy 1.13 `truncnorm.stats` computes them
/// (`_log_gauss_mass` in log space).
fn risk(mu: f64, sigma: f64) -> [f64; 2] {
    let zero = (0.0 - mu) / sigma;
    let prob_control_better = ndtr(zero);
    let log_pdf = norm_log_pdf(zero);
    // Below 0: truncnorm(a = −∞, b = zero); its mean is −pdf(b)·σ + μ.
    let log_mass_below = if zero <= 0.0 {
        log_ndtr(zero)
    } else {
        (-ndtr(-zero)).ln_1p()
    };
    let mean_below = -(log_pdf - log_mass_below).exp() * sigma + mu;
    // Above 0: truncnorm(a = zero, b = ∞); its mean is pdf(a)·σ + μ.
    let log_mass_above = if zero > 0.0 {
        log_ndtr(-zero)
    } else {
        (-ndtr(zero)).ln_1p()
    };
    let mean_above = (log_pdf - log_mass_above).exp() * sigma + mu;
    [
        (1.0 - prob_control_better) * mean_above,
        -(prob_control_better * mean_below),
    ]
}

/// scipy's `_norm_logpdf`: `−x²/2 − ln √(2π)`.
fn norm_log_pdf(x: f64) -> f64 {
    -(x * x) / 2.0 - LN_SQRT_2PI
}

/// Φ(x), the standard normal distribution function, to ~1e-14 relative
/// also in the lower tail (scipy's `ndtr` is to ~1e-15): ½ Q(½, x²/2) for
/// x < 0 with `statrs`' regularized upper incomplete gamma Q, and 1 minus
/// that for x > 0. (`statrs`' `Normal::cdf` is off by ~5e-11 relative,
/// which moves the 80 %-power user count by 10⁻¹⁰ of itself.)
fn ndtr(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let half_square = 0.5 * x * x;
    if half_square == 0.0 {
        return 0.5;
    }
    // Q is refused only for x²/2 = ∞, whose tail is 0.
    let lower_tail = 0.5 * checked_gamma_ur(0.5, half_square).unwrap_or(0.0);
    if x < 0.0 {
        lower_tail
    } else {
        1.0 - lower_tail
    }
}

/// `ln Φ(x)`, accurate where Φ underflows (scipy's `log_ndtr`).
fn log_ndtr(x: f64) -> f64 {
    if x >= -1.0 {
        (-ndtr(-x)).ln_1p()
    } else if x >= -20.0 {
        ndtr(x).ln()
    } else {
        // ln Φ(x) = −x²/2 − ln(−x) − ln √(2π) + ln(1 − 1/x² + 3/x⁴ − …),
        // whose 12th term is below 1e-20 for x < −20.
        let inverse_x2 = 1.0 / (x * x);
        let mut term = 1.0;
        let mut series = 1.0;
        for k in 1..=12 {
            term *= -f64::from(2 * k - 1) * inverse_x2;
            series += term;
        }
        norm_log_pdf(x) - (-x).ln() + series.ln()
    }
}

/// Everything [`power`] needs of a metric and an effect.
struct PowerPlan {
    effect: f64,
    mean: f64,
    variance: f64,
}

impl PowerPlan {
    fn new(kind: Kind, control: &Summary, effect: f64) -> Option<Self> {
        let mean = control.mean();
        let variance = control.variance(kind);
        (control.users > 0
            && mean != 0.0
            && mean.is_finite()
            && variance > 0.0
            && variance.is_finite()
            && effect != 0.0
            && effect.is_finite())
        .then_some(PowerPlan {
            effect,
            mean,
            variance,
        })
    }

    /// GrowthBook front-end `powerEst` (two-tailed, not sequential) with
    /// `n` users per variant.
    fn power_at(&self, n: u64) -> f64 {
        let normal = Normal::standard();
        let z_star = normal.inverse_cdf(1.0 - 0.5 * ALPHA);
        let n = n as f64;
        let mean_b = self.mean * (1.0 + self.effect);
        let se = (self.variance / (self.mean.powi(2) * n)
            + self.variance * mean_b.powi(2) / (self.mean.powi(4) * n))
            .sqrt();
        let standardized = self.effect / se;
        1.0 - ndtr(z_star - standardized) + ndtr(-z_star - standardized)
    }

    fn required_users(&self) -> Option<u64> {
        const LIMIT: u64 = 1 << 63;
        let normal = Normal::standard();
        let k = normal.inverse_cdf(1.0 - 0.5 * ALPHA) + normal.inverse_cdf(TARGET_POWER);
        let bound = k * k * self.variance * (1.0 + (1.0 + self.effect).powi(2))
            / (self.mean * self.mean * self.effect * self.effect);
        if !(bound.is_finite() && bound < LIMIT as f64 && self.power_at(1).is_finite()) {
            return None;
        }
        // The bound reaches the target up to rounding; make sure.
        let mut high = (bound.ceil() as u64).max(1);
        while self.power_at(high) < TARGET_POWER {
            high = high.checked_mul(2).filter(|&h| h < LIMIT)?;
        }
        // Invariant: power_at(high) ≥ target, and low == 0 or below it.
        let mut low = 0;
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if self.power_at(middle) >= TARGET_POWER {
                high = middle;
            } else {
                low = middle;
            }
        }
        Some(high)
    }
}

// ---------------------------------------------------------------------------
// Student's t with real degrees of freedom ν > 0. Checked against mpmath (40
// digits) for ν from 1 to 5·10¹³: the 97.5 % quantile to 1.2e-13 relative
// (scipy 1.13's `stdtrit`, which gbstats calls, is within 4e-11 of it), and
// the upper tail P to 2e-16 absolute, about 2e-15/P relative (where ν > 10⁴,
// from 1 − I_y below; better elsewhere). That is all gbstats can use: its
// p-value is 2·(1 − cdf), rounded next to 1.
//
// The upper tail is P(T > t) = I_x(ν/2, 1/2) / 2 with x = ν/(ν + t²), the
// regularized incomplete beta function (DLMF 8.17.7, 8.18), evaluated as
//
// * for ν > 10⁴ and t² ≤ 1000: 1 − I_y(1/2, ν/2) with y = t²/(ν + t²) from
//   the hypergeometric series of DLMF 8.17.8, whose terms are all positive
//   (the continued fraction loses log₁₀ ν digits there);
// * for ν > 10¹², or ν > 10⁶ and t² > 1000: the normal tail with the first
//   correction term in 1/ν;
// * otherwise: the continued fraction of DLMF 8.17.22 (modified Lentz), on
//   I_x(a, b) or 1 − I_y(b, a), whichever converges.
//
// The prefactor x^a y^b / B(a, b) uses ln Γ(a + ½) − ln Γ(a) from Stirling's
// series of the difference, free of the cancellation of two ln Γ.

/// P(T > t) for t ≥ 0.
fn students_t_upper_tail(t: f64, nu: f64) -> f64 {
    if t.is_nan() || nu.is_nan() {
        return f64::NAN;
    }
    if t <= 0.0 {
        return 0.5;
    }
    let t2 = t * t;
    if t2.is_infinite() {
        return 0.0;
    }
    if nu > 1e12 || (nu > 1e6 && t2 > 1000.0) {
        // The normal tail and the first term in 1/ν of Fisher's expansion
        // (relative error ≤ t⁷/(96ν²): below 1e-14 for t ≤ 40 and
        // ν > 10¹²; and where t² > 1000 with ν > 10⁶ the tail is below
        // 1e-200).
        let density = norm_log_pdf(t).exp();
        return (ndtr(-t) + density * (t2 * t + t) / (4.0 * nu)).clamp(0.0, 0.5);
    }
    let a = nu / 2.0;
    // ln x = −ln(1 + t²/ν), ln y = −ln(1 + ν/t²).
    let ln_x = -(t2 / nu).ln_1p();
    let ln_y = -(nu / t2).ln_1p();
    // x^a y^½ / B(a, ½), with ln B(a, ½) = ln Γ(½) − (ln Γ(a + ½) − ln Γ(a)).
    let front =
        (a * ln_x + 0.5 * ln_y - 0.5 * std::f64::consts::PI.ln() + ln_gamma_ratio_half(a)).exp();
    let x = nu / (nu + t2);
    let y = t2 / (nu + t2);
    let tail = if nu > 1e4 && t2 <= 1000.0 {
        0.5 * (1.0 - front / 0.5 * hypergeometric_series(a, y))
    } else if x < (a + 1.0) / (a + 2.5) {
        0.5 * front / a * beta_continued_fraction(a, 0.5, x)
    } else {
        0.5 * (1.0 - front / 0.5 * beta_continued_fraction(0.5, a, y))
    };
    tail.clamp(0.0, 0.5)
}

/// The density of Student's t at t.
fn students_t_density(t: f64, nu: f64) -> f64 {
    if nu.is_infinite() {
        return norm_log_pdf(t).exp();
    }
    let log_density = ln_gamma_ratio_half(nu / 2.0)
        - 0.5 * (nu * std::f64::consts::PI).ln()
        - (nu + 1.0) / 2.0 * (t * t / nu).ln_1p();
    log_density.exp()
}

/// The quantile of Student's t at probability `p` in [0.5, 1): Newton's
/// method on the upper tail (convex and decreasing for t > 0, so the steps
/// stay in a bracket that a bisection step restores when they leave it).
fn students_t_quantile(p: f64, nu: f64) -> Option<f64> {
    if !(0.5..1.0).contains(&p) || nu.is_nan() || nu <= 0.0 {
        return None;
    }
    let q = 1.0 - p;
    if q == 0.5 {
        return Some(0.0);
    }
    // A bracket [low, high] with tail(low) > q > tail(high).
    let mut low = 0.0;
    let mut high = 1.0;
    while students_t_upper_tail(high, nu) > q {
        low = high;
        high *= 2.0;
        if high > 1e300 {
            return None;
        }
    }
    // Start from the Cornish–Fisher expansion (Abramowitz & Stegun 26.7.5).
    let z = Normal::standard().inverse_cdf(p);
    let (z2, z3) = (z * z, z * z * z);
    let guess = z
        + (z3 + z) / (4.0 * nu)
        + (5.0 * z3 * z2 + 16.0 * z3 + 3.0 * z) / (96.0 * nu * nu)
        + (3.0 * z3 * z2 * z2 + 19.0 * z3 * z2 + 17.0 * z3 - 15.0 * z) / (384.0 * nu.powi(3));
    let mut t = if guess > low && guess < high {
        guess
    } else {
        (low + high) / 2.0
    };
    for _ in 0..200 {
        let excess = students_t_upper_tail(t, nu) - q;
        if excess == 0.0 {
            return Some(t);
        }
        if excess > 0.0 {
            low = t;
        } else {
            high = t;
        }
        let density = students_t_density(t, nu);
        let mut next = t + excess / density;
        if !(next > low && next < high) {
            next = (low + high) / 2.0;
        }
        if (next - t).abs() <= 1e-15 * t || next == t {
            return Some(next);
        }
        t = next;
    }
    Some(t)
}

/// ln Γ(a + ½) − ln Γ(a) for a > 0: Stirling's series of both terms
/// (DLMF 5.11.1) after shifting a above 10 with Γ(z + 1) = z Γ(z).
fn ln_gamma_ratio_half(a: f64) -> f64 {
    fn stirling_tail(z: f64) -> f64 {
        // Σ B₂ₖ / (2k(2k − 1) z^(2k−1)), k = 1..8.
        const C: [f64; 8] = [
            1.0 / 12.0,
            -1.0 / 360.0,
            1.0 / 1260.0,
            -1.0 / 1680.0,
            1.0 / 1188.0,
            -691.0 / 360_360.0,
            1.0 / 156.0,
            -3617.0 / 122_400.0,
        ];
        let w = 1.0 / (z * z);
        C.iter().rev().fold(0.0, |acc, &c| acc * w + c) / z
    }
    let mut a = a;
    let mut shift = 0.0;
    while a < 10.0 {
        // ln Γ(a + ½) − ln Γ(a) = that of a + 1, minus ln((a + ½)/a).
        shift -= (0.5 / a).ln_1p();
        a += 1.0;
    }
    // (a ln(a + ½) − (a − ½) ln a − ½) = ½ ln a + (a ln(1 + 1/(2a)) − ½).
    shift + 0.5 * a.ln() + (a * (0.5 / a).ln_1p() - 0.5) + stirling_tail(a + 0.5) - stirling_tail(a)
}

/// Σₖ (a + ½)ₖ / (3/2)ₖ yᵏ, the series of I_y(½, a) = 2 y^½ x^a / B(½, a)
/// · Σ (DLMF 8.17.8), for a > 1, y ≤ 1000/(2a) (all terms positive).
fn hypergeometric_series(a: f64, y: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 0..100_000 {
        let k = f64::from(k);
        let ratio = (a + 0.5 + k) * y / (1.5 + k);
        term *= ratio;
        sum += term;
        if ratio < 1.0 && term <= sum * 1e-17 * (1.0 - ratio) {
            break;
        }
    }
    sum
}

/// The continued fraction of I_x(a, b) = x^a y^b / (a B(a, b)) · CF
/// (DLMF 8.17.22), by the modified Lentz method; converges fast for
/// x < (a + 1)/(a + b + 2).
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
    let mut h = d;
    for m in 1..100_000 {
        let m = f64::from(m);
        // Even step: d₂ₘ = m(b − m)x / ((a + 2m − 1)(a + 2m)).
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        h *= d * c;
        // Odd step: d₂ₘ₊₁ = −(a + m)(a + b + m)x / ((a + 2m)(a + 2m + 1)).
        let odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const VECTORS: &str = include_str!("../../tests/fixtures/gbstats_vectors.json");

    fn binomial(users: u64, conversions: u64) -> Summary {
        Summary {
            users,
            sum: conversions as f64,
            sum_squares: conversions as f64,
        }
    }

    fn round4(x: f64) -> f64 {
        (x * 1e4).round() / 1e4
    }

    /// The contract's worked example, to 4 decimals.
    #[test]
    fn contract_example() {
        let result =
            compare(Kind::Binomial, &binomial(195, 41), &binomial(198, 50)).expect("computable");
        let f = result.frequentist;
        assert_eq!(
            (round4(f.lift), f.ci.map(round4), round4(f.p_value)),
            (0.2010, [-0.2357, 0.6378], 0.3660)
        );
        let s = result.sequential;
        assert_eq!(
            (round4(s.lift), s.ci.map(round4), round4(s.p_value)),
            (0.2010, [-0.7111, 1.1132], 1.0)
        );
        let b = result.bayesian;
        assert_eq!(
            (
                round4(b.lift),
                b.ci.map(round4),
                round4(b.chance_to_win),
                b.risk.map(round4)
            ),
            (0.2010, [-0.2344, 0.6364], 0.8173, [0.2231, 0.0221])
        );
        let json = serde_json::to_value(result).expect("serialisable");
        assert_eq!(
            json["bayesian"]
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>()),
            Some(
                ["chance_to_win", "ci", "lift", "risk"]
                    .map(String::from)
                    .to_vec()
            )
        );
        assert_eq!(json["frequentist"]["ci"].as_array().map(Vec::len), Some(2));
        assert!(json["sequential"]["p_value"].is_number());
    }

    #[test]
    fn refuses_what_gbstats_refuses() {
        let some = binomial(100, 40);
        let kinds = [Kind::Binomial, Kind::Mean, Kind::Count];
        let degenerate = [
            Summary {
                users: 0,
                sum: 0.0,
                sum_squares: 0.0,
            },
            binomial(1, 1),
            binomial(100, 100),
            binomial(100, 0),
            Summary {
                users: 3,
                sum: f64::NAN,
                sum_squares: 1.0,
            },
            Summary {
                users: 3,
                sum: f64::INFINITY,
                sum_squares: f64::INFINITY,
            },
            Summary {
                users: u64::MAX,
                sum: 1e300,
                sum_squares: f64::MAX,
            },
        ];
        for kind in kinds {
            for d in &degenerate {
                // Never a panic; None or finite numbers.
                for r in [compare(kind, d, &some), compare(kind, &some, d)]
                    .into_iter()
                    .flatten()
                {
                    let json = serde_json::to_string(&r).expect("finite numbers serialise");
                    assert!(!json.contains("null"), "{json}");
                }
                let _ = required_users_per_variant(kind, d, 0.1);
                let _ = users_still_needed(kind, d, &some, 0.1);
                let _ = power(kind, d, 0.1, 100);
            }
        }
        // Control mean 0, no users, zero variance: None.
        assert_eq!(compare(Kind::Binomial, &binomial(100, 0), &some), None);
        assert_eq!(compare(Kind::Binomial, &binomial(0, 0), &some), None);
        assert_eq!(compare(Kind::Binomial, &some, &binomial(0, 0)), None);
        assert_eq!(compare(Kind::Binomial, &some, &binomial(100, 100)), None);
        let one = Summary {
            users: 1,
            sum: 4.0,
            sum_squares: 16.0,
        };
        assert_eq!(compare(Kind::Mean, &one, &one), None);
        assert_eq!(required_users_per_variant(Kind::Binomial, &some, 0.0), None);
        // gbstats: no users at all is a p-value of 1, even for no variants.
        assert_eq!(srm_p_value(&[], &[]), Some(1.0));
        assert_eq!(srm_p_value(&[3], &[1.0]), None);
        assert_eq!(srm_p_value(&[3, 4], &[1.0]), None);
        assert_eq!(srm_p_value(&[0, 0], &[1.0, 1.0]), Some(1.0));
        // Weights summing to 0: gbstats divides by zero.
        assert_eq!(srm_p_value(&[1, 2], &[1.0, -1.0]), None);
        assert_eq!(srm_p_value(&[1, 2], &[1.0, f64::NAN]), None);
        assert_eq!(srm_p_value(&[u64::MAX, u64::MAX], &[1.0, 1.0]), Some(1.0));
    }

    /// Extreme and inconsistent inputs: no panic, and only finite numbers.
    #[test]
    fn any_input_gives_finite_numbers_or_none() {
        let users = [0, 1, 2, 3, 17, 10_000_000, 1 << 40, u64::MAX];
        let values = [
            0.0,
            -0.0,
            1.0,
            -3.5,
            0.5,
            1e-300,
            1e-160,
            1e160,
            1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut pick = || {
            let u = users[(next() % users.len() as u64) as usize];
            let sum = values[(next() % values.len() as u64) as usize];
            let squares = values[(next() % values.len() as u64) as usize].abs();
            let scale = (next() % 1000) as f64 / 7.0;
            Summary {
                users: u,
                sum: sum * scale,
                sum_squares: squares * scale * scale,
            }
        };
        for i in 0..20_000 {
            let kind = [Kind::Binomial, Kind::Mean, Kind::Count][i % 3];
            let (c, t) = (pick(), pick());
            if let Some(r) = compare(kind, &c, &t) {
                let json = serde_json::to_string(&r).expect("serialises");
                assert!(!json.contains("null"), "{c:?} {t:?}: {json}");
                let p = [r.frequentist.p_value, r.sequential.p_value];
                assert!(p.iter().all(|p| (0.0..=1.0).contains(p)), "{r:?}");
            }
            let effect = [0.05, -0.5, 1e-9, 1e9, f64::NAN][i % 5];
            if let Some(p) = power(kind, &c, effect, t.users) {
                assert!((0.0..=1.0 + 1e-12).contains(&p), "{p}");
            }
            let _ = users_still_needed(kind, &c, &t, effect);
            let _ = srm_p_value(&[c.users, t.users], &[c.sum, t.sum]);
        }
    }

    #[test]
    fn students_t_matches_known_values() {
        // The 97.5 % quantile (mpmath at 40 digits, rounded to a double).
        let cases = [
            (1.0, 12.706_204_736_174_705),
            (2.0, 4.302_652_729_749_464),
            (10.0, 2.228_138_851_986_275),
            (1e3, 1.962_339_080_826_408_5),
            (123_456.5, 1.959_983_200_167_362_3),
            (2e7, 1.959_964_103_153_622_8),
        ];
        for (nu, q) in cases {
            let got = students_t_quantile(0.975, nu).expect("valid");
            assert!((got - q).abs() <= 1e-13 * q, "{nu}: {got} vs {q}");
        }
        // ν → ∞: the normal quantile.
        let z = Normal::standard().inverse_cdf(0.975);
        let got = students_t_quantile(0.975, 1e15).expect("valid");
        assert!((got - z).abs() < 1e-13, "{got}");
        // Cauchy (ν = 1): P(T > 1) = 1/4.
        assert!((students_t_upper_tail(1.0, 1.0) - 0.25).abs() < 1e-15);
        // ν = 2: P(T > t) = (1 − t/√(2 + t²))/2.
        for t in [0.1_f64, 1.0, 3.0, 30.0] {
            let r = (2.0 + t * t).sqrt();
            let exact = 1.0 / (r * (r + t));
            let got = students_t_upper_tail(t, 2.0);
            assert!(
                (got - exact).abs() <= 1e-14 * exact,
                "{t}: {got} vs {exact}"
            );
        }
    }

    // ------------------------------------------------------------------
    // The vectors computed by gbstats 0.8.0.

    /// Relative tolerance of every number, and the absolute floor below
    /// which differences are rounding noise of numbers near 0 (a p-value
    /// that gbstats computes as 2·(1 − cdf)). The worst errors measured
    /// (`cargo test -- --nocapture` prints them) are far below: lifts and
    /// the sequential test ≤ 2e-15, the Bayesian interval 4e-16, chance to
    /// win 1e-14, risks 5e-14, p-values 6e-13, the t-test's interval 1.2e-11
    /// (scipy's t quantile is good to ~4e-11), power 5e-15, SRM 3e-14; the
    /// users for 80 % power are equal.
    const RELATIVE: f64 = 1e-9;
    const ABSOLUTE: f64 = 1e-12;

    /// The worst errors seen, per quantity: relative where the value is
    /// large enough for the relative bound to be the binding one, and
    /// absolute over all values.
    #[derive(Default)]
    struct Errors {
        worst: std::collections::BTreeMap<&'static str, (f64, f64)>,
        failures: Vec<String>,
    }

    impl Errors {
        /// `got` against `want`, relative to `scale` (≥ |want|).
        fn check(&mut self, id: &str, what: &'static str, got: f64, want: f64, scale: f64) {
            let error = (got - want).abs();
            let (relative, absolute) = self.worst.entry(what).or_default();
            if RELATIVE * scale > ABSOLUTE {
                *relative = relative.max(error / scale);
            }
            *absolute = absolute.max(error);
            if !(error <= RELATIVE * scale || error <= ABSOLUTE) {
                self.failures.push(format!(
                    "{id} {what}: {got:e} vs gbstats {want:e} (error {error:e})"
                ));
            }
        }

        fn number(&mut self, id: &str, what: &'static str, got: f64, want: &Value) {
            let want = f64_of(want);
            self.check(id, what, got, want, want.abs());
        }

        /// An interval's ends, relative to its width (the quantile's
        /// product) or the end, whichever is larger: an end near 0 is the
        /// difference of two nearly equal numbers.
        fn interval(&mut self, id: &str, what: &'static str, got: [f64; 2], want: &Value) {
            let want = [f64_of(&want[0]), f64_of(&want[1])];
            let width = (want[1] - want[0]).abs();
            for (g, w) in got.into_iter().zip(want) {
                self.check(id, what, g, w, w.abs().max(width));
            }
        }

        fn finish(self, section: &str) {
            for (what, (relative, absolute)) in &self.worst {
                eprintln!(
                    "{section} {what}: worst relative error {relative:.1e}, absolute {absolute:.1e}"
                );
            }
            assert!(
                self.failures.is_empty(),
                "{} mismatches:\n{}",
                self.failures.len(),
                self.failures.join("\n")
            );
        }
    }

    fn vectors() -> Value {
        serde_json::from_str(VECTORS).expect("valid JSON")
    }

    fn f64_of(v: &Value) -> f64 {
        v.as_f64().unwrap_or_else(|| panic!("a number: {v}"))
    }

    fn summary_of(v: &Value) -> Summary {
        serde_json::from_value(v.clone()).expect("a summary")
    }

    fn kind_of(v: &Value) -> Kind {
        serde_json::from_value(v.clone()).expect("a kind")
    }

    #[test]
    fn comparisons_match_gbstats() {
        let data = vectors();
        assert_eq!(data["gbstats_version"], "0.8.0");
        let cases = data["comparisons"].as_array().expect("comparisons");
        assert!(cases.len() >= 500, "{}", cases.len());
        let mut errors = Errors::default();
        for case in cases {
            let id = case["id"].as_str().expect("id");
            let got = compare(
                kind_of(&case["kind"]),
                &summary_of(&case["control"]),
                &summary_of(&case["treatment"]),
            );
            let expect_null = case["comparison_is_null"].as_bool().expect("bool");
            let Some(got) = got else {
                if !expect_null {
                    errors
                        .failures
                        .push(format!("{id}: None, gbstats computes it"));
                }
                continue;
            };
            if expect_null {
                errors
                    .failures
                    .push(format!("{id}: {got:?}, gbstats gives nothing"));
                continue;
            }
            for (name, result) in [
                ("frequentist", got.frequentist),
                ("sequential", got.sequential),
            ] {
                let want = &case[name];
                let (lift, ci, p) = match name {
                    "frequentist" => ("frequentist lift", "frequentist ci", "frequentist p"),
                    _ => ("sequential lift", "sequential ci", "sequential p"),
                };
                errors.number(id, lift, result.lift, &want["lift"]);
                errors.interval(id, ci, result.ci, &want["ci"]);
                errors.number(id, p, result.p_value, &want["p_value"]);
            }
            let want = &case["bayesian"];
            let b = got.bayesian;
            errors.number(id, "bayesian lift", b.lift, &want["lift"]);
            errors.interval(id, "bayesian ci", b.ci, &want["ci"]);
            errors.number(id, "chance to win", b.chance_to_win, &want["chance_to_win"]);
            errors.number(id, "risk control", b.risk[0], &want["risk"][0]);
            errors.number(id, "risk treatment", b.risk[1], &want["risk"][1]);
        }
        errors.finish("comparisons");
    }

    #[test]
    fn power_matches_growthbooks_formula() {
        let data = vectors();
        let cases = data["power"].as_array().expect("power");
        let mut errors = Errors::default();
        for case in cases {
            let id = case["id"].as_str().expect("id");
            let kind = kind_of(&case["kind"]);
            let control = summary_of(&case["control"]);
            let treatment = summary_of(&case["treatment"]);
            let effect = f64_of(&case["min_relative_effect"]);
            let users = control.users.min(treatment.users);
            let want_power = case["power_at_current_users"].as_f64();
            match (power(kind, &control, effect, users), want_power) {
                (Some(got), Some(_)) => {
                    errors.number(id, "power", got, &case["power_at_current_users"]);
                }
                (None, None) => {}
                (got, want) => errors
                    .failures
                    .push(format!("{id}: power {got:?} vs {want:?}")),
            }
            let required = required_users_per_variant(kind, &control, effect);
            if required != case["required_users_per_variant"].as_u64() {
                errors.failures.push(format!(
                    "{id}: required {required:?} vs {}",
                    case["required_users_per_variant"]
                ));
            }
            let still = users_still_needed(kind, &control, &treatment, effect);
            if still != case["users_still_needed"].as_u64() {
                errors.failures.push(format!(
                    "{id}: still needed {still:?} vs {}",
                    case["users_still_needed"]
                ));
            }
        }
        errors.finish("power");
    }

    #[test]
    fn srm_matches_gbstats() {
        let data = vectors();
        let cases = data["srm"].as_array().expect("srm");
        let mut errors = Errors::default();
        for case in cases {
            let id = case["id"].as_str().expect("id");
            let users: Vec<u64> = serde_json::from_value(case["users"].clone()).expect("users");
            let weights: Vec<f64> =
                serde_json::from_value(case["weights"].clone()).expect("weights");
            match (srm_p_value(&users, &weights), case["p_value"].as_f64()) {
                (Some(got), Some(_)) => errors.number(id, "srm p", got, &case["p_value"]),
                (None, None) => {}
                (got, want) => errors.failures.push(format!("{id}: {got:?} vs {want:?}")),
            }
        }
        errors.finish("srm");
    }
}
