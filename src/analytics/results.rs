//! Experiment results on a metric: per variant the sufficient statistics,
//! per treatment the comparisons with the control that GrowthBook's engine
//! gives (docs/src/analytics.md "Outcomes and experiment results"). Pure: the caller loads
//! the exposures, the sums and the variants.

use serde::Serialize;

use super::comparison::{self, Comparison, Kind, Summary};
use super::outcomes::{COMPLETED, Metric};
use crate::store::outcomes as store;
use crate::store::{AnyConnection, FlowCache, StoreError};
use crate::words::{AggregateKind, MetricKind};

/// Below this sample-ratio p-value the split does not match the weights.
pub const SRM_THRESHOLD: f64 = 0.001;

/// The metric as results show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricView {
    pub name: String,
    pub kind: MetricKind,
    pub window_hours: u32,
    pub direction: crate::words::Direction,
    pub guardrail: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleRatio {
    pub p_value: f64,
    pub mismatch: bool,
}

/// One variant: its users (exposed), sums and moments, and for a treatment
/// its comparison with the control (`null` when it cannot be computed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantResult {
    pub scene: String,
    pub weight: f64,
    pub users: u64,
    pub sum: f64,
    pub sum_squares: f64,
    pub mean: Option<f64>,
    pub variance: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_control: Option<Option<Comparison>>,
}

/// How many users each variant needs to detect `min_relative_effect` at
/// 80 % power (two-sided alpha 0.05), and how many more than it has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Power {
    pub min_relative_effect: f64,
    pub users_per_variant: Option<u64>,
    pub users_still_needed: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Results {
    pub experiment_id: String,
    pub version: String,
    pub metric: MetricView,
    pub sample_ratio: Option<SampleRatio>,
    pub variants: Vec<VariantResult>,
    pub power: Power,
}

/// A variant as loaded: scene, weight, exposed users, sum, sum of squares.
pub type Observed = (String, f64, u64, f64, f64);

/// Assemble the results; `variants` in sheet order, the first the control.
pub fn assemble(
    experiment_id: &str,
    version: &str,
    metric: &Metric,
    variants: &[Observed],
    min_relative_effect: f64,
) -> Results {
    let k: Kind = metric.kind;
    let summaries: Vec<Summary> = variants
        .iter()
        .map(|&(_, _, users, sum, sum_squares)| Summary {
            users,
            sum,
            sum_squares,
        })
        .collect();
    let control = summaries.first().copied();
    let results = variants
        .iter()
        .zip(&summaries)
        .enumerate()
        .map(
            |(i, ((scene, weight, users, sum, sum_squares), s))| VariantResult {
                scene: scene.clone(),
                weight: *weight,
                users: *users,
                sum: *sum,
                sum_squares: *sum_squares,
                mean: (*users > 0).then(|| s.mean()),
                variance: (*users > 0)
                    .then(|| s.variance(k))
                    .filter(|v| v.is_finite()),
                vs_control: (i > 0).then(|| control.and_then(|c| comparison::compare(k, &c, s))),
            },
        )
        .collect();
    let users: Vec<u64> = summaries.iter().map(|s| s.users).collect();
    let weights: Vec<f64> = variants.iter().map(|v| v.1).collect();
    let sample_ratio = comparison::srm_p_value(&users, &weights).map(|p| SampleRatio {
        p_value: p,
        mismatch: p < SRM_THRESHOLD,
    });
    let smallest_treatment = summaries.iter().skip(1).min_by_key(|s| s.users);
    let power = Power {
        min_relative_effect,
        users_per_variant: control
            .and_then(|c| comparison::required_users_per_variant(k, &c, min_relative_effect)),
        users_still_needed: control
            .zip(smallest_treatment)
            .and_then(|(c, t)| comparison::users_still_needed(k, &c, t, min_relative_effect)),
    };
    Results {
        experiment_id: experiment_id.to_owned(),
        version: version.to_owned(),
        metric: MetricView {
            name: metric.name.clone(),
            kind: metric.kind,
            window_hours: metric.window_hours,
            direction: metric.direction,
            guardrail: metric.guardrail,
        },
        sample_ratio,
        variants: results,
        power,
    }
}

/// What [`load`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    Results(Results),
    /// The version has no such A/B group.
    NoExperiment,
    NoMetric,
}

/// The metric named, `completed` or a stored one.
pub fn metric(conn: &mut AnyConnection, name: &str) -> Result<Option<Metric>, StoreError> {
    if name == COMPLETED {
        return Ok(Some(Metric::completed()));
    }
    Ok(store::metric(conn, name)?
        .as_ref()
        .and_then(Metric::from_row))
}

/// The variants of an experiment with their users and sums of a metric,
/// from the aggregates: `(scene, weight, users, sum, sum_squares)`.
pub fn observed(
    conn: &mut AnyConnection,
    variants: &[(String, f64)],
    version: &str,
    experiment: &str,
    metric: &Metric,
) -> Result<Vec<Observed>, StoreError> {
    let counts = crate::store::aggregates::experiment_counts(conn, Some(version))?;
    let count = |kind: AggregateKind, variant: &str| {
        counts
            .iter()
            .find(|r| r.kind == kind.as_str() && r.step_key == experiment && r.variant == variant)
            .map_or(0, |r| r.users.max(0) as u64)
    };
    let sums = if metric.name == COMPLETED {
        Vec::new()
    } else {
        store::stats(conn, &metric.name, version, experiment)?
    };
    Ok(variants
        .iter()
        .map(|(scene, weight)| {
            let users = count(AggregateKind::Exposure, scene);
            let (sum, squares) = if metric.name == COMPLETED {
                let n = count(AggregateKind::Conversion, scene) as f64;
                (n, n)
            } else {
                sums.iter()
                    .find(|s| &s.0 == scene)
                    .map_or((0.0, 0.0), |s| (s.1, s.2))
            };
            (scene.clone(), *weight, users, sum, squares)
        })
        .collect())
}

/// Load and assemble the results of one experiment on one metric (inside
/// [`super::with_freshness`]; [`super::outcomes::pending`] adds the outcome
/// events not folded yet to its `pending_events`).
pub fn load(
    conn: &mut AnyConnection,
    flows: &FlowCache,
    version: &str,
    experiment: &str,
    metric_name: &str,
    min_effect: f64,
) -> Result<Found, StoreError> {
    let flow = flows.get(conn, version)?;
    let variants = super::variants_of(&flow, experiment);
    if variants.is_empty() {
        return Ok(Found::NoExperiment);
    }
    let Some(metric) = metric(conn, metric_name)? else {
        return Ok(Found::NoMetric);
    };
    let observed = observed(conn, &variants, version, experiment, &metric)?;
    Ok(Found::Results(assemble(
        experiment, version, &metric, &observed, min_effect,
    )))
}
