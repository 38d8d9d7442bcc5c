//! Again on a lost race or a busy database: one policy for every write of a
//! run, whether it waits on a thread (inside a database closure) or on a
//! future (the pool, the group commit).

use std::time::Duration;

use diesel::Connection;

use super::Result;
use crate::store::AnyConnection;

const MAX_ATTEMPTS: u32 = 50;
/// How long a write keeps retrying a lost race or a busy database (an
/// import's transaction on SQLite) before answering 503 `storage_unavailable`.
const RETRY_FOR: Duration = Duration::from_secs(3);

/// An error that may go away on a fresh try: a lost race, a busy database.
pub trait Retryable {
    fn is_retryable(&self) -> bool;
}

impl Retryable for super::OnboardingError {
    fn is_retryable(&self) -> bool {
        super::OnboardingError::is_retryable(self)
    }
}

/// The retry policy: after `attempt` failed tries begun at `started`, how
/// long to wait before the next, or `None` when `result` is final.
fn backoff<T, E: Retryable>(
    result: &Result<T, E>,
    attempt: &mut u32,
    started: std::time::Instant,
) -> Option<Duration> {
    let Err(e) = result else { return None };
    if !e.is_retryable() || (*attempt >= MAX_ATTEMPTS && started.elapsed() >= RETRY_FOR) {
        return None;
    }
    *attempt += 1;
    Some(Duration::from_millis(u64::from((*attempt).min(20))))
}

/// Run `body` again on a lost race or a busy database.
pub(super) fn retrying<T>(body: impl FnMut() -> Result<T>) -> Result<T> {
    retrying_any(body)
}

/// [`retrying`] for any error that says whether it is [`Retryable`] (a sync).
pub fn retrying_any<T, E: Retryable>(mut body: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let (started, mut attempt) = (std::time::Instant::now(), 0);
    loop {
        let result = body();
        match backoff(&result, &mut attempt, started) {
            Some(wait) => std::thread::sleep(wait),
            None => return result,
        }
    }
}

/// [`retrying`] for a body that waits (on the pool or the group commit).
pub(super) async fn retrying_async<T, F: Future<Output = Result<T>>>(
    mut body: impl FnMut() -> F,
) -> Result<T> {
    let (started, mut attempt) = (std::time::Instant::now(), 0);
    loop {
        let result = body().await;
        match backoff(&result, &mut attempt, started) {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return result,
        }
    }
}

/// Run `body` in a transaction, again on a lost race.
pub(super) fn transact<T>(
    conn: &mut AnyConnection,
    mut body: impl FnMut(&mut AnyConnection) -> Result<T>,
) -> Result<T> {
    retrying(|| conn.transaction(|c| body(c)))
}
