//! The consensus thread: drains queued votes and confirm_reqs and runs the periodic work
//! (online weight, backlog and the buckets' election limits every second, hinted
//! rechecks, representative tiers, gap fetching, representative refresh, vote
//! generator flushes, election requests/rebroadcasts/expiry every 100 ms).

use std::time::{Duration, Instant};

use super::{lock, Shared};

impl Shared {
    pub(crate) fn run_consensus(&self) {
        let mut last_tick = Instant::now();
        let mut last_second = Instant::now() - Duration::from_secs(2);
        let mut last_reps = Instant::now();
        let mut last_gap = Instant::now();
        let mut last_hinted = Instant::now();
        let mut last_tiers = Instant::now();
        let tiers_interval = super::online::rep_tiers_interval(self.config.network);
        let hinted_interval =
            super::elections::scheduler::hinted::check_interval(self.config.network);
        while !self.is_stopped() {
            let (votes, requests) = {
                let mut inbox = lock(&self.inbox);
                if inbox.is_empty() {
                    // Votes waiting in the generator are due within a batching delay:
                    // look again soon (dispatch also wakes this loop when it adds some).
                    let wait = if lock(&self.generator).is_empty() {
                        Duration::from_millis(10)
                    } else {
                        Duration::from_millis(1)
                    };
                    inbox = self
                        .inbox_cv
                        .wait_timeout(inbox, wait)
                        .map(|r| r.0)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                (inbox.take_votes(), inbox.take_requests())
            };
            if self.is_stopped() {
                break;
            }
            if last_second.elapsed() >= Duration::from_secs(1) {
                last_second = Instant::now();
                self.update_online();
                self.refresh_intake();
                self.activate_backlog();
                self.update_buckets();
            }
            if last_gap.elapsed() >= Duration::from_millis(250) {
                last_gap = Instant::now();
                self.request_gaps();
            }
            if last_tiers.elapsed() >= tiers_interval {
                last_tiers = Instant::now();
                self.update_rep_tiers();
            }
            if last_hinted.elapsed() >= hinted_interval {
                last_hinted = Instant::now();
                self.recheck_hinted();
            }
            if last_reps.elapsed() >= Duration::from_secs(5) {
                last_reps = Instant::now();
                self.refresh_reps();
            }
            if !votes.is_empty() {
                self.process_votes(votes, false);
            }
            if !requests.is_empty() {
                self.answer_requests(requests);
            }
            let idle = lock(&self.inbox).is_empty() && lock(&self.queue).total() == 0;
            self.flush_generator(idle);
            if last_tick.elapsed() >= Duration::from_millis(100) {
                last_tick = Instant::now();
                self.tick_elections();
                self.broadcast_local_blocks();
            }
        }
    }
}
