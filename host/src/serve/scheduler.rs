//! Admission and fair scheduling: a bounded queue per tenant, a ceiling on
//! each tenant's running invocations, and free sandbox slots handed to the
//! tenants in turn (round robin), so one tenant's backlog never delays
//! another's work behind it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Work waiting for a slot. `work(true)` runs it (on a blocking thread);
/// `work(false)` abandons it (cancelled while queued, or at shutdown), so
/// that its caller still gets an answer.
pub struct Job {
    pub id: String,
    pub work: Box<dyn FnOnce(bool) + Send>,
}

/// Why a job was not queued.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// The tenant's queue is full; try again after this many seconds.
    QueueFull { retry_after_secs: u64 },
    /// The server is shutting down.
    ShuttingDown,
}

struct Lane {
    pending: VecDeque<(Job, Instant)>,
    running: usize,
    max_running: usize,
    max_queue: usize,
    /// A moving average of how long this tenant's jobs run, for Retry-After.
    mean_secs: f64,
}

struct State {
    lanes: BTreeMap<String, Lane>,
    /// The tenant served last; the next free slot goes to the one after it.
    last: Option<String>,
    running: usize,
    closed: bool,
}

/// The scheduler. Jobs run on tokio's blocking pool.
pub struct Scheduler {
    state: Mutex<State>,
    max_running: usize,
    runtime: Option<tokio::runtime::Handle>,
}

impl Scheduler {
    /// A scheduler for `max_running` sandboxes at once and these tenants
    /// (`(id, max_running, max_queue)`).
    pub fn new(
        max_running: usize,
        tenants: &[(String, usize, usize)],
        runtime: Option<tokio::runtime::Handle>,
    ) -> Arc<Scheduler> {
        let lanes = tenants
            .iter()
            .map(|(id, max_running, max_queue)| {
                (
                    id.clone(),
                    Lane {
                        pending: VecDeque::new(),
                        running: 0,
                        max_running: *max_running,
                        max_queue: *max_queue,
                        mean_secs: 1.0,
                    },
                )
            })
            .collect();
        Arc::new(Scheduler {
            state: Mutex::new(State {
                lanes,
                last: None,
                running: 0,
                closed: false,
            }),
            max_running: max_running.max(1),
            runtime,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job` for `tenant` and starts what can start.
    pub fn submit(self: &Arc<Self>, tenant: &str, job: Job) -> Result<(), Refused> {
        {
            let mut state = self.lock();
            if state.closed {
                return Err(Refused::ShuttingDown);
            }
            let Some(lane) = state.lanes.get_mut(tenant) else {
                return Err(Refused::ShuttingDown);
            };
            if lane.pending.len() >= lane.max_queue {
                let ahead = (lane.pending.len() + lane.running) as f64;
                let secs = (lane.mean_secs * ahead / lane.max_running as f64).ceil();
                return Err(Refused::QueueFull {
                    retry_after_secs: (secs as u64).clamp(1, 3600),
                });
            }
            lane.pending.push_back((job, Instant::now()));
        }
        self.pump();
        Ok(())
    }

    /// Takes the jobs that may start now, tenants in turn.
    fn take_startable(&self) -> Vec<(String, Job, Instant)> {
        let mut state = self.lock();
        let mut started = Vec::new();
        while state.running < self.max_running {
            let names: Vec<String> = state.lanes.keys().cloned().collect();
            let start = match &state.last {
                Some(last) => names.iter().position(|n| n > last).unwrap_or(0),
                None => 0,
            };
            let chosen = (0..names.len())
                .map(|offset| &names[(start + offset) % names.len()])
                .find(|name| {
                    let lane = &state.lanes[*name];
                    !lane.pending.is_empty() && lane.running < lane.max_running
                })
                .cloned();
            let Some(name) = chosen else { break };
            let Some(lane) = state.lanes.get_mut(&name) else {
                break;
            };
            let Some((job, queued_at)) = lane.pending.pop_front() else {
                break;
            };
            lane.running += 1;
            state.running += 1;
            state.last = Some(name.clone());
            started.push((name, job, queued_at));
        }
        started
    }

    /// Starts every job that has a slot.
    fn pump(self: &Arc<Self>) {
        for (tenant, job, _) in self.take_startable() {
            let scheduler = Arc::clone(self);
            let run = move || {
                let began = Instant::now();
                // A panic inside one job must not leak its slot.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (job.work)(true)));
                scheduler.finished(&tenant, began.elapsed().as_secs_f64());
            };
            match &self.runtime {
                Some(handle) => {
                    handle.spawn_blocking(run);
                }
                None => {
                    std::thread::spawn(run);
                }
            }
        }
    }

    fn finished(self: &Arc<Self>, tenant: &str, secs: f64) {
        {
            let mut state = self.lock();
            state.running = state.running.saturating_sub(1);
            if let Some(lane) = state.lanes.get_mut(tenant) {
                lane.running = lane.running.saturating_sub(1);
                lane.mean_secs = 0.8 * lane.mean_secs + 0.2 * secs;
            }
        }
        self.pump();
    }

    /// Removes a queued job (to cancel it); `None` if it is not queued.
    pub fn remove_queued(&self, tenant: &str, id: &str) -> Option<Job> {
        let mut state = self.lock();
        let lane = state.lanes.get_mut(tenant)?;
        let at = lane.pending.iter().position(|(job, _)| job.id == id)?;
        lane.pending.remove(at).map(|(job, _)| job)
    }

    /// Stops taking jobs and hands back every queued one.
    pub fn close(&self) -> Vec<Job> {
        let mut state = self.lock();
        state.closed = true;
        state
            .lanes
            .values_mut()
            .flat_map(|lane| lane.pending.drain(..).map(|(job, _)| job))
            .collect()
    }

    /// Queued jobs per tenant, and sandboxes running now.
    pub fn depths(&self) -> (Vec<(String, usize)>, usize) {
        let state = self.lock();
        (
            state
                .lanes
                .iter()
                .map(|(name, lane)| (name.clone(), lane.pending.len()))
                .collect(),
            state.running,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> Job {
        Job {
            id: id.into(),
            work: Box::new(|_| {}),
        }
    }

    #[test]
    fn free_slots_go_to_tenants_in_turn_within_their_ceilings() {
        let scheduler = Scheduler::new(
            1,
            &[
                ("a".into(), 1, 10),
                ("b".into(), 1, 10),
                ("c".into(), 1, 10),
            ],
            None,
        );
        // Queue without starting anything: hold the only slot.
        scheduler.lock().running = 1;
        for id in ["a1", "a2", "a3", "a4"] {
            scheduler
                .lock()
                .lanes
                .get_mut("a")
                .unwrap()
                .pending
                .push_back((job(id), Instant::now()));
        }
        for id in ["b1", "b2"] {
            scheduler
                .lock()
                .lanes
                .get_mut("b")
                .unwrap()
                .pending
                .push_back((job(id), Instant::now()));
        }
        scheduler
            .lock()
            .lanes
            .get_mut("c")
            .unwrap()
            .pending
            .push_back((job("c1"), Instant::now()));
        let mut order = Vec::new();
        loop {
            scheduler.lock().running = 0;
            for lane in scheduler.lock().lanes.values_mut() {
                lane.running = 0;
            }
            let started = scheduler.take_startable();
            if started.is_empty() {
                break;
            }
            order.extend(started.into_iter().map(|(_, job, _)| job.id));
        }
        assert_eq!(order, ["a1", "b1", "c1", "a2", "b2", "a3", "a4"]);
    }

    #[test]
    fn a_tenant_at_its_ceiling_leaves_slots_to_others_and_a_full_queue_is_refused() {
        let scheduler = Scheduler::new(4, &[("noisy".into(), 2, 1), ("quiet".into(), 2, 1)], None);
        {
            let mut state = scheduler.lock();
            let lane = state.lanes.get_mut("noisy").unwrap();
            lane.pending.push_back((job("n1"), Instant::now()));
            lane.pending.push_back((job("n2"), Instant::now()));
            lane.pending.push_back((job("n3"), Instant::now()));
        }
        let started: Vec<String> = scheduler
            .take_startable()
            .into_iter()
            .map(|(_, j, _)| j.id)
            .collect();
        assert_eq!(started, ["n1", "n2"], "noisy stops at its ceiling of 2");
        let refused = scheduler.submit("noisy", job("n4")).unwrap_err();
        assert!(
            matches!(refused, Refused::QueueFull { retry_after_secs } if retry_after_secs >= 1)
        );
        assert_eq!(scheduler.lock().lanes["quiet"].max_running, 2);
        assert!(scheduler.remove_queued("noisy", "n3").is_some());
        assert!(scheduler.remove_queued("noisy", "n3").is_none());
        assert_eq!(scheduler.close().len(), 0);
        assert_eq!(
            scheduler.submit("quiet", job("q1")).unwrap_err(),
            Refused::ShuttingDown
        );
    }
}
