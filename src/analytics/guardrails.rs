//! Guardrails of a staged rollout (docs/src/rollouts.md):
//! each compares the runs started on the new version (the treatment) with
//! those started on the previous one (the control) since the rollout
//! began, with the always-valid sequential test of the experiment results
//! ([`comparison::sequential_interval`], gbstats' `SequentialTwoSidedTTest`),
//! so checking after every run does not inflate false alarms. No I/O: the
//! rollout service reads the figures and acts on the verdict.
//!
//! The test is on the absolute difference of the means, `μ_t − μ_c`, not
//! on the relative lift: a broken version is often one where nobody
//! completes, and a side with no variance (0 % completed) leaves the
//! relative lift's delta method, and gbstats, without a result. Its
//! variance is `σ²_t/n_t + σ²_c/n_c` for a mean or a count (gbstats'
//! `difference_type` absolute) and, for a rate, the pooled
//! `p(1 − p)(1/n_c + 1/n_t)` with `p` the rate of both sides together (the two-proportion
//! test's variance when there is no difference), which stays defined when
//! each side is all one way (every run waits at a dead end on the new
//! version, none on the previous one). Only when both sides are all the
//! same way (both 0 %, or both 100 %) is there nothing to judge.
//!
//! The error rate is held across all guardrails together by Bonferroni's
//! rule: with `k` guardrails each interval is taken at `alpha / k`, so the
//! chance that any of them ever lies wholly on its harmful side while the
//! new version is no worse is at most `alpha` (the union bound over the
//! sequential tests' time-uniform guarantees). A guardrail is breached when
//! its interval on the relative lift lies wholly on the harmful side:
//! above 0 for a rate that must not rise (a step's drop-off), below 0 for
//! one that must not fall (`completed`, a metric whose direction is
//! `increase`).
//!
//! Nothing is judged before [`MIN_USERS`] runs on each side: the delta
//! method's normal approximation needs some users before it holds.

use serde::Serialize;

use super::comparison::{self, Kind, Summary};
use crate::words::Direction;

/// The error rate held across all guardrails of a rollout together.
pub const ALPHA: f64 = comparison::ALPHA;

/// Runs on each side before a guardrail is judged at all.
pub const MIN_USERS: u64 = 100;

/// One guardrail's figures: the control and treatment summaries of its
/// per-run value.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// `completed`, `drop_off:STEP` or `metric:NAME`.
    pub name: String,
    pub kind: Kind,
    /// The way the value should move: a change the other way is harm.
    pub direction: Direction,
    /// Runs started on the previous version.
    pub control: Summary,
    /// Runs started on the new version.
    pub treatment: Summary,
}

/// One guardrail judged. Serialised as `{"name", "kind", "direction",
/// "control": {"users", "mean"}, "treatment": {"users", "mean"},
/// "difference", "ci", "alpha", "breached"}`; `difference` and `ci` are
/// null while it cannot be judged (too few runs, no variance).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judged {
    pub name: String,
    pub kind: Kind,
    pub direction: Direction,
    pub control: Side,
    pub treatment: Side,
    /// The treatment's mean minus the control's, in the value's unit (a
    /// fraction of runs for a rate).
    pub difference: Option<f64>,
    /// The sequential interval of the difference at `alpha`.
    pub ci: Option<[f64; 2]>,
    /// This guardrail's share of the error rate: [`ALPHA`] / guardrails.
    pub alpha: f64,
    pub breached: bool,
}

/// A side of a guardrail: its runs and their mean value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Side {
    pub users: u64,
    pub mean: f64,
}

impl From<&Summary> for Side {
    fn from(s: &Summary) -> Self {
        Side {
            users: s.users,
            mean: s.mean(),
        }
    }
}

/// Judge every guardrail, the error rate `alpha` shared among them.
pub fn judge(observed: &[Observed], alpha: f64) -> Vec<Judged> {
    let each = alpha / observed.len().max(1) as f64;
    observed
        .iter()
        .map(|o| {
            let enough = o.control.users >= MIN_USERS && o.treatment.users >= MIN_USERS;
            let test = enough.then(|| difference(o, each)).flatten();
            let breached = test.is_some_and(|t| match o.direction {
                Direction::Increase => t.ci[1] < 0.0,
                Direction::Decrease => t.ci[0] > 0.0,
            });
            Judged {
                name: o.name.clone(),
                kind: o.kind,
                direction: o.direction,
                control: (&o.control).into(),
                treatment: (&o.treatment).into(),
                difference: test.map(|t| t.lift),
                ci: test.map(|t| t.ci),
                alpha: each,
                breached,
            }
        })
        .collect()
}

/// The sequential test of `o` on the absolute difference at `alpha`.
fn difference(o: &Observed, alpha: f64) -> Option<comparison::Frequentist> {
    let (c, t) = (&o.control, &o.treatment);
    let (nc, nt) = (c.users as f64, t.users as f64);
    let variance = match o.kind {
        Kind::Binomial => {
            let p = (c.sum + t.sum) / (nc + nt);
            p * (1.0 - p) * (1.0 / nc + 1.0 / nt)
        }
        Kind::Mean | Kind::Count => t.variance(o.kind) / nt + c.variance(o.kind) / nc,
    };
    let users = u128::from(c.users) + u128::from(t.users);
    comparison::sequential_interval(t.mean() - c.mean(), variance, users, alpha)
}

/// The first breached guardrail, if any.
pub fn breached(judged: &[Judged]) -> Option<&Judged> {
    judged.iter().find(|j| j.breached)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64 (Steele, Lea and Flood 2014): a seeded, repeatable
    /// stream, so the simulations below give the same figures every run.
    struct TestRng(u64);

    impl TestRng {
        fn seeded() -> TestRng {
            TestRng(0x5EED_F10E)
        }

        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    fn binomial(users: u64, conversions: u64) -> Summary {
        Summary {
            users,
            sum: conversions as f64,
            sum_squares: conversions as f64,
        }
    }

    fn completed(control: Summary, treatment: Summary) -> Observed {
        Observed {
            name: "completed".into(),
            kind: Kind::Binomial,
            direction: Direction::Increase,
            control,
            treatment,
        }
    }

    #[test]
    fn a_clear_drop_in_completion_is_a_breach_and_a_rise_is_not() {
        let worse = judge(
            &[completed(binomial(2000, 1200), binomial(2000, 800))],
            ALPHA,
        );
        assert!(worse[0].breached, "{worse:?}");
        assert!(worse[0].ci.unwrap()[1] < 0.0);
        let better = judge(
            &[completed(binomial(2000, 800), binomial(2000, 1200))],
            ALPHA,
        );
        assert!(!better[0].breached, "{better:?}");
    }

    #[test]
    fn nothing_is_judged_before_enough_runs() {
        let j = judge(&[completed(binomial(99, 90), binomial(500, 0))], ALPHA);
        assert!(!j[0].breached);
        assert_eq!(j[0].difference, None);
    }

    #[test]
    fn a_dead_end_against_a_step_nobody_leaves_is_judged() {
        // Every run waits at the step on the new version, none on the
        // previous one: no variance on either side, a clear difference.
        let j = judge(
            &[Observed {
                name: "drop_off:welcome".into(),
                kind: Kind::Binomial,
                direction: Direction::Decrease,
                control: binomial(990, 0),
                treatment: binomial(110, 110),
            }],
            ALPHA,
        );
        assert!(j[0].breached, "{j:?}");
        let same = judge(&[completed(binomial(500, 0), binomial(500, 0))], ALPHA);
        assert!(!same[0].breached && same[0].ci.is_none());
    }

    #[test]
    fn a_dead_end_where_nobody_completes_is_judged() {
        // The treatment has no variance at all: the relative lift has no
        // result there, the absolute difference does.
        let j = judge(&[completed(binomial(200, 120), binomial(200, 0))], ALPHA);
        assert!(j[0].breached, "{j:?}");
        assert_eq!(j[0].difference, Some(-0.6));
    }

    #[test]
    fn the_error_rate_is_shared_among_the_guardrails() {
        let one = completed(binomial(3000, 1800), binomial(3000, 1700));
        let alone = judge(std::slice::from_ref(&one), ALPHA);
        let many = judge(&vec![one; 10], ALPHA);
        assert_eq!(many[0].alpha, ALPHA / 10.0);
        let width = |j: &Judged| j.ci.map(|c| c[1] - c[0]).unwrap();
        assert!(width(&many[0]) > width(&alone[0]));
    }

    #[test]
    fn the_interval_is_the_sequential_test_of_the_results() {
        // Given the relative lift and its variance, the interval is the
        // results' sequential one (pinned by the gbstats vectors).
        let (c, t) = (binomial(1000, 400), binomial(1000, 350));
        let reference = comparison::compare(Kind::Binomial, &c, &t).unwrap();
        let (mc, mt) = (c.mean(), t.mean());
        let lift = (mt - mc) / mc;
        let variance = t.variance(Kind::Binomial) / (mc * mc * 1000.0)
            + c.variance(Kind::Binomial) * mt * mt / (mc.powi(4) * 1000.0);
        let own = comparison::sequential_interval(lift, variance, 2000, ALPHA).unwrap();
        assert_eq!(own.ci, reference.sequential.ci);
        assert_eq!(own.p_value, reference.sequential.p_value);
        // The absolute difference: −0.05 with its own interval.
        let j = judge(&[completed(c, t)], ALPHA);
        assert!((j[0].difference.unwrap() + 0.05).abs() < 1e-12);
    }

    /// A flow of five steps; a run leaves at step `s` with `drop[s]`.
    struct Flow {
        drop: [f64; 5],
    }

    /// Per side: runs, runs that reached each step, runs that left at each.
    #[derive(Default, Clone)]
    struct Tally {
        runs: u64,
        completed: u64,
        reached: [u64; 5],
        left: [u64; 5],
    }

    impl Tally {
        fn play(&mut self, flow: &Flow, rng: &mut TestRng) {
            self.runs += 1;
            for (s, &p) in flow.drop.iter().enumerate() {
                self.reached[s] += 1;
                if uniform(rng) < p {
                    self.left[s] += 1;
                    return;
                }
            }
            self.completed += 1;
        }

        fn observed(control: &Tally, treatment: &Tally) -> Vec<Observed> {
            let mut all = vec![completed(
                binomial(control.runs, control.completed),
                binomial(treatment.runs, treatment.completed),
            )];
            for s in 0..5 {
                all.push(Observed {
                    name: format!("drop_off:step_{s}"),
                    kind: Kind::Binomial,
                    direction: Direction::Decrease,
                    control: binomial(control.reached[s], control.left[s]),
                    treatment: binomial(treatment.reached[s], treatment.left[s]),
                });
            }
            all
        }
    }

    fn uniform(rng: &mut TestRng) -> f64 {
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Play a rollout: each new run goes to the new version with `share`,
    /// guardrails judged after every `every` runs, up to `runs` runs.
    /// Returns the runs played when a guardrail was breached, if one was.
    fn rollout(
        previous: &Flow,
        new: &Flow,
        share: f64,
        runs: u64,
        every: u64,
        rng: &mut TestRng,
    ) -> Option<u64> {
        let (mut control, mut treatment) = (Tally::default(), Tally::default());
        for n in 1..=runs {
            if uniform(rng) < share {
                treatment.play(new, rng);
            } else {
                control.play(previous, rng);
            }
            if n % every == 0
                && breached(&judge(&Tally::observed(&control, &treatment), ALPHA)).is_some()
            {
                return Some(n);
            }
        }
        None
    }

    const PREVIOUS: Flow = Flow {
        drop: [0.10, 0.05, 0.08, 0.05, 0.04],
    };

    /// A new version no worse than the previous one is almost never rolled
    /// back, though its six guardrails are judged 200 times each: the
    /// false-alarm rate over 300 simulated rollouts stays within alpha.
    #[test]
    fn a_version_no_worse_is_almost_never_rolled_back() {
        let mut rng = TestRng::seeded();
        let same = Flow {
            drop: PREVIOUS.drop,
        };
        let rollouts = 300;
        let alarms = (0..rollouts)
            .filter(|_| rollout(&PREVIOUS, &same, 0.2, 10_000, 50, &mut rng).is_some())
            .count();
        let rate = alarms as f64 / rollouts as f64;
        eprintln!("false alarms: {alarms} of {rollouts} ({rate})");
        assert!(
            rate <= ALPHA,
            "{alarms} false alarms in {rollouts} rollouts"
        );
    }

    /// A version that loses a third more users at its third step is rolled
    /// back every time, within a bounded number of runs.
    #[test]
    fn a_clearly_worse_version_is_rolled_back_within_bounded_runs() {
        let mut rng = TestRng::seeded();
        let worse = Flow {
            drop: [0.10, 0.05, 0.30, 0.05, 0.04],
        };
        let mut latest = 0;
        for _ in 0..100 {
            let at = rollout(&PREVIOUS, &worse, 0.2, 20_000, 50, &mut rng)
                .expect("a clearly worse version is rolled back");
            latest = latest.max(at);
        }
        eprintln!("rolled back within {latest} runs (20 % on the new version)");
        assert!(latest <= 3_000, "rolled back only after {latest} runs");
    }
}
