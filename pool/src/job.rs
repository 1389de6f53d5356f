//! A render job between caller and worker, and the claim both sides race
//! for: a worker starting it, or the caller giving up on it (queue timeout)
//! or leaving (its future dropped, its stream's reader gone).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use crate::render::Reply;
use crate::RenderRequest;

/// A render job on its way to a worker.
pub(crate) struct Job {
    pub request: RenderRequest,
    pub enqueued: Instant,
    pub reply: Reply,
    pub claim: Arc<JobClaim>,
}

/// A job's state between queue and worker, and whether its caller is still
/// there.
#[derive(Default)]
pub(crate) struct JobClaim {
    state: AtomicU8,
    left: AtomicBool,
    leaving: Notify,
}

impl JobClaim {
    const QUEUED: u8 = 0;
    const STARTED: u8 = 1;
    const ABANDONED: u8 = 2;

    /// The worker takes the job; false if the caller abandoned it.
    pub fn start(&self) -> bool {
        self.transition(Self::STARTED)
    }

    /// The caller gives up; false if a worker already started the job.
    pub fn abandon(&self) -> bool {
        self.transition(Self::ABANDONED)
    }

    fn transition(&self, to: u8) -> bool {
        self.state
            .compare_exchange(Self::QUEUED, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The caller went away: nobody reads this render's answer any more.
    pub fn leave(&self) {
        self.left.store(true, Ordering::Release);
        // One waiter (the worker): a stored permit covers a leave that
        // happens before the worker starts waiting.
        self.leaving.notify_one();
    }

    /// Resolves once the caller went away.
    pub async fn left(&self) {
        if self.left.load(Ordering::Acquire) {
            return;
        }
        self.leaving.notified().await;
    }
}

/// Tells the worker the caller left when dropped before `keep` (a render
/// future dropped mid-way, or a stream's reader dropped before its end).
pub(crate) struct LeaveOnDrop(Option<Arc<JobClaim>>);

impl LeaveOnDrop {
    pub fn new(claim: Arc<JobClaim>) -> Self {
        Self(Some(claim))
    }

    /// The caller got what it waited for: dropping says nothing.
    pub fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for LeaveOnDrop {
    fn drop(&mut self) {
        if let Some(claim) = self.0.take() {
            claim.leave();
        }
    }
}
