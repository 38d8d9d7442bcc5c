//! One owner for the work an instance does besides answering requests
//! (docs/src/operations.md): the store follower, the readiness watcher, the
//! analytics aggregator, the warehouse sink, alert delivery and the group
//! committer are all started here, on one task tracker with one
//! cancellation token. Shutdown cancels the token and waits for them, at
//! most a bound: tasks that hold work (queued alerts, a group being
//! committed) finish it first.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The instance's background work; cheap to clone (one tracker, one token).
#[derive(Clone, Default)]
pub struct Background {
    tracker: TaskTracker,
    token: CancellationToken,
}

impl Background {
    pub fn new() -> Background {
        Background::default()
    }

    /// A task that runs until shutdown; it is dropped where it waits.
    pub fn spawn(&self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        let token = self.token.clone();
        self.tracker.spawn(async move {
            if token.run_until_cancelled(task).await.is_none() {
                tracing::debug!(task = name, "background task stopped");
            }
        });
    }

    /// A task that watches the token itself, to finish what it holds
    /// before it returns.
    pub fn spawn_with<F: Future<Output = ()> + Send + 'static>(
        &self,
        task: impl FnOnce(CancellationToken) -> F,
    ) {
        self.tracker.spawn(task(self.token.clone()));
    }

    /// [`Background::spawn_with`] on a thread of its own (blocking work).
    pub fn spawn_blocking(&self, task: impl FnOnce(CancellationToken) + Send + 'static) {
        let token = self.token.clone();
        self.tracker.spawn_blocking(move || task(token));
    }

    /// Cancel every task and wait for them, at most `within`; `false` if
    /// some were still running then.
    pub async fn stop(&self, within: Duration) -> bool {
        self.token.cancel();
        self.tracker.close();
        let stopped = tokio::time::timeout(within, self.tracker.wait())
            .await
            .is_ok();
        if !stopped {
            tracing::warn!(
                running = self.tracker.len(),
                "background work not finished before shutdown"
            );
        }
        stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_cancels_waiting_tasks_and_waits_for_those_finishing_work() {
        let background = Background::new();
        background.spawn("forever", std::future::pending());
        let (tx, rx) = tokio::sync::oneshot::channel();
        background.spawn_with(|token| async move {
            token.cancelled().await;
            // Work held at cancellation is finished, not dropped.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send("finished");
        });
        assert!(background.stop(Duration::from_secs(5)).await);
        assert_eq!(rx.await.unwrap(), "finished");

        let stuck = Background::new();
        stuck.spawn_with(|_| std::future::pending());
        assert!(!stuck.stop(Duration::from_millis(20)).await);
    }
}
