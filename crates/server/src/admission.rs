//! Admission of write requests: how many are handled at once, adapted to how fast they are.
//!
//! On a busy machine most of a request's time is spent waiting for a core, not for the database:
//! the more requests are handled at once, the longer each takes. So a write request is handled
//! only if fewer than a limit are in flight; otherwise it is refused at once (503 `overloaded`,
//! `Retry-After`) before its key is checked or its body read, which costs next to nothing. The
//! limit adapts like TCP's congestion window (additive increase, multiplicative decrease) and
//! Envoy's adaptive concurrency filter: every window of answers, when more than one in ten took
//! longer than the latency target the limit shrinks by a quarter, and when answers were fast and
//! the limit was reached it grows by an eighth. A machine twice as fast admits twice as many,
//! and no setting has to be measured per machine.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::state::AppState;

/// The fewest write requests handled at once, whatever the latency (unless the maximum is
/// lower): 32 clients sending one after the other, as the benchmark's closed loop does, are never
/// refused, and the writers always get something to group.
const MIN_LIMIT: usize = 32;
/// Answers per adjustment of the limit.
const WINDOW_ANSWERS: u32 = 64;
/// Share of a window's answers allowed over the target before the limit shrinks.
const SLOW_SHARE: f64 = 0.1;

/// The adaptive bound on write requests in flight. Cheap to share: one per server.
pub struct Admission {
    in_flight: AtomicUsize,
    limit: AtomicUsize,
    min_limit: usize,
    max_limit: usize,
    target: Duration,
    /// The limit was reached during this window: the demand was there to use more. (Apart
    /// from the window, so that a refusal takes no lock.)
    saturated: AtomicBool,
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    answers: u32,
    slow: u32,
}

impl Admission {
    /// Starts at `max_limit / 4` and adapts between [`MIN_LIMIT`] (or `max_limit`, if lower)
    /// and `max_limit` so that about nine answers in ten come within `target`.
    pub fn new(max_limit: usize, target: Duration) -> Arc<Self> {
        let max_limit = max_limit.max(1);
        let min_limit = MIN_LIMIT.min(max_limit);
        Arc::new(Self {
            in_flight: AtomicUsize::new(0),
            limit: AtomicUsize::new((max_limit / 4).max(min_limit)),
            min_limit,
            max_limit,
            target,
            saturated: AtomicBool::new(false),
            window: Mutex::new(Window::default()),
        })
    }

    /// A place among the requests in flight, or `None` when the limit is reached.
    /// `sampled`: whether its latency steers the limit (a batch's does not: it is slow by size,
    /// not because the server is busy).
    pub fn try_admit(self: &Arc<Self>, sampled: bool) -> Option<Admitted> {
        let limit = self.limit.load(Ordering::Relaxed);
        let before = self.in_flight.fetch_add(1, Ordering::Relaxed);
        if before + 1 >= limit {
            self.saturated.store(true, Ordering::Relaxed);
        }
        if before >= limit {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Admitted { admission: self.clone(), since: Instant::now(), sampled })
    }

    /// Requests in flight now, and the current limit.
    pub fn load(&self) -> (usize, usize) {
        (self.in_flight.load(Ordering::Relaxed), self.limit.load(Ordering::Relaxed))
    }

    fn answered(&self, took: Duration, sampled: bool) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !sampled {
            return;
        }
        let mut window = self.window.lock().expect("not poisoned");
        window.answers += 1;
        window.slow += u32::from(took > self.target);
        if window.answers < WINDOW_ANSWERS {
            return;
        }
        let limit = self.limit.load(Ordering::Relaxed);
        let saturated = self.saturated.swap(false, Ordering::Relaxed);
        let next = if f64::from(window.slow) > SLOW_SHARE * f64::from(window.answers) {
            (limit - limit / 4).max(self.min_limit)
        } else if saturated {
            (limit + (limit / 8).max(1)).min(self.max_limit)
        } else {
            limit
        };
        self.limit.store(next, Ordering::Relaxed);
        *window = Window::default();
    }
}

/// A write request's place, given back (with its latency) when the answer is ready.
pub struct Admitted {
    admission: Arc<Admission>,
    since: Instant,
    sampled: bool,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.admission.answered(self.since.elapsed(), self.sampled);
    }
}

/// The extractor that admits a write request or refuses it. `SAMPLED`: whether its latency
/// steers the limit.
pub struct Slot<const SAMPLED: bool>(#[allow(dead_code, reason = "held, never read")] Admitted);

/// A single write (an event, an explanation).
pub type WriteSlot = Slot<true>;
/// A batch: admitted like a single write, but slow by its size, so its latency does not steer.
pub type BatchSlot = Slot<false>;

impl<S: Send + Sync, const SAMPLED: bool> FromRequestParts<S> for Slot<SAMPLED>
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let admitted = state.admission.try_admit(SAMPLED).ok_or_else(|| {
            state.metrics.record_overloaded();
            ApiError::Overloaded
        })?;
        Ok(Slot(admitted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One window of sampled answers, `slow` of them over the target.
    fn answer_window(admission: &Arc<Admission>, slow: u32) {
        for i in 0..WINDOW_ANSWERS {
            std::mem::forget(admission.try_admit(true).expect("room"));
            let took = if i < slow { Duration::from_secs(1) } else { Duration::from_millis(1) };
            admission.answered(took, true);
        }
    }

    #[test]
    fn the_limit_is_enforced_and_places_come_back() {
        let admission = Admission::new(4, Duration::from_millis(25));
        let held: Vec<_> = (0..4).map(|_| admission.try_admit(true).expect("within the limit")).collect();
        assert!(admission.try_admit(true).is_none(), "the fifth is refused at a limit of 4");
        drop(held);
        assert_eq!(admission.load().0, 0);
        assert!(admission.try_admit(false).is_some());
    }

    #[test]
    fn slow_answers_shrink_the_limit_and_fast_saturated_ones_grow_it_within_bounds() {
        let admission = Admission::new(512, Duration::from_millis(25));
        assert_eq!(admission.load().1, 128);
        // Fast answers while the limit is reached: it grows by an eighth a window, up to the maximum.
        for _ in 0..40 {
            let held: Vec<_> = std::iter::from_fn(|| admission.try_admit(false)).collect();
            drop(held);
            answer_window(&admission, 0);
        }
        assert_eq!(admission.load().1, 512);
        // More than one in ten slow: it shrinks by a quarter a window, down to the minimum.
        answer_window(&admission, WINDOW_ANSWERS / 5);
        assert_eq!(admission.load().1, 384);
        for _ in 0..20 {
            answer_window(&admission, WINDOW_ANSWERS / 2);
        }
        assert_eq!(admission.load().1, MIN_LIMIT);
        // A few slow ones (not more than one in ten) and no demand: it stays.
        answer_window(&admission, WINDOW_ANSWERS / 20);
        assert_eq!(admission.load().1, MIN_LIMIT);
        // Batches do not steer it.
        for _ in 0..WINDOW_ANSWERS {
            drop(admission.try_admit(false));
        }
        assert_eq!(admission.load().1, MIN_LIMIT);
    }
}
