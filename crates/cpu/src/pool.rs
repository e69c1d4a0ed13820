//! A small thread pool for one op at a time: the caller publishes a job of `n` tasks, every thread
//! (the caller included) claims task indices until none are left, and the caller returns when all
//! are done. Idle workers spin briefly on the job counter before parking, so the back-to-back ops of
//! a token step do not each pay a thread wake-up; a pool left idle sleeps.
//!
//! Tasks are claimed dynamically (a compare-and-swap on a counter tagged with the job number), so
//! uneven tasks and cores shared with other processes balance themselves; it scales to many threads.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The task index of a closed job's claim word (above any task count).
const CLOSED: u64 = 0xFFFF_FFFF;

/// How long an idle worker spins before parking.
const SPIN: Duration = Duration::from_micros(200);

type Job = *const (dyn Fn(usize) + Sync);

struct Shared {
    /// `job number << 32 | next task index`.
    claim: AtomicU64,
    /// Tasks of the current job, and how many have finished.
    tasks: AtomicUsize,
    finished: AtomicUsize,
    /// The current job; written only by the caller while no task of any job is running.
    job: UnsafeCell<Option<Job>>,
    stop: AtomicBool,
    /// Set when a task panicked; `run` re-raises it on the caller.
    panicked: AtomicBool,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

// SAFETY: `job` is written by the publishing thread only between jobs (when every task of the
// previous job has finished and before the new job number is visible), and read by workers only
// after they have claimed a task of the job it belongs to.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    threads: usize,
    /// Serialises `run` calls from different threads (the backend is used from one, but be safe).
    running: Mutex<()>,
}

impl Pool {
    /// A pool of `threads` (≥ 1) threads in total: `threads − 1` workers plus the caller.
    pub fn new(threads: usize) -> std::io::Result<Pool> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            claim: AtomicU64::new(0),
            tasks: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            job: UnsafeCell::new(None),
            stop: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let mut workers = Vec::with_capacity(threads - 1);
        for i in 1..threads {
            let s = Arc::clone(&shared);
            workers.push(std::thread::Builder::new().name(format!("aviary-cpu-{i}")).spawn(move || worker(&s))?);
        }
        Ok(Pool { shared, workers, threads, running: Mutex::new(()) })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f(0) .. f(n − 1)` across the pool and returns when all have finished.
    pub fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        if n == 0 {
            return;
        }
        if n == 1 || self.threads == 1 {
            (0..n).for_each(f);
            return;
        }
        assert!((n as u64) < CLOSED, "{n} tasks do not fit the claim word");
        let _guard = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let s = &*self.shared;
        // Close the previous job first: a worker that read its claim word when it was exhausted
        // (index = task count) and then reads the new, larger task count would otherwise win its
        // compare-and-swap on the old word and run the new closure with a stale index, making the
        // new job finish early while that task still runs (and reads the caller's dead frame).
        // After this store such a swap fails, and the Release/Acquire pair on `tasks` makes any
        // worker that sees the new count also see the closed word.
        let old_job = s.claim.load(Ordering::Relaxed) >> 32;
        s.claim.store(old_job << 32 | CLOSED, Ordering::Relaxed);
        // SAFETY: no task is running (the previous `run` waited for all of its tasks), so no worker
        // reads `job` now; the lifetime is erased because this call outlives every use (below).
        unsafe {
            let erased: Job = std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f);
            *s.job.get() = Some(erased);
        }
        s.tasks.store(n, Ordering::Release);
        s.finished.store(0, Ordering::Relaxed);
        let job_no = old_job + 1;
        s.claim.store(job_no << 32, Ordering::Release);
        if s.sleepers.load(Ordering::Acquire) > 0 {
            let _l = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        work(s, job_no);
        // Wait for tasks other threads claimed.
        while s.finished.load(Ordering::Acquire) < n {
            std::hint::spin_loop();
        }
        if s.panicked.swap(false, Ordering::AcqRel) {
            panic!("a task of the cpu backend's thread pool panicked (message above)");
        }
    }
}

/// Claims and runs tasks of job `job_no` until none are left.
fn work(s: &Shared, job_no: u64) {
    loop {
        let cur = s.claim.load(Ordering::Acquire);
        if cur >> 32 != job_no {
            return;
        }
        let idx = (cur & 0xFFFF_FFFF) as usize;
        if idx >= s.tasks.load(Ordering::Acquire) {
            return;
        }
        if s.claim.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            continue;
        }
        // SAFETY: a claimed task of the current job means the publisher is still inside `run`
        // (it waits for this task), so the job closure is alive.
        let f = unsafe { &*(*s.job.get()).expect("job is set while tasks are claimable") };
        // A panicking task still counts as finished, so the caller does not wait forever.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(idx))).is_err() {
            s.panicked.store(true, Ordering::Release);
        }
        s.finished.fetch_add(1, Ordering::AcqRel);
    }
}

fn worker(s: &Shared) {
    let mut seen = 0u64;
    loop {
        // Spin for a new job, then park.
        let start = Instant::now();
        let mut spins = 0u32;
        let job_no = loop {
            let j = s.claim.load(Ordering::Acquire) >> 32;
            if j != seen {
                break j;
            }
            if s.stop.load(Ordering::Relaxed) {
                return;
            }
            spins += 1;
            if spins.is_multiple_of(64) && start.elapsed() > SPIN {
                let mut g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                s.sleepers.fetch_add(1, Ordering::AcqRel);
                while s.claim.load(Ordering::Acquire) >> 32 == seen && !s.stop.load(Ordering::Relaxed) {
                    g = s.wake.wait_timeout(g, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0;
                }
                s.sleepers.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            std::hint::spin_loop();
        };
        seen = job_no;
        work(s, job_no);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        {
            let _l = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_across_many_jobs() {
        for threads in [1, 2, 5] {
            let pool = Pool::new(threads).unwrap();
            for n in [0, 1, 3, 64, 1000] {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                pool.run(n, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "threads {threads}, n {n}");
            }
        }
    }

    /// Back-to-back jobs whose task count grows from one to the next: the case where a worker that
    /// saw the old job exhausted could claim a stale index of the new one (see `run`).
    #[test]
    fn growing_back_to_back_jobs_run_each_task_once() {
        let pool = Pool::new(2).unwrap();
        let hits: Vec<AtomicUsize> = (0..8).map(|_| AtomicUsize::new(0)).collect();
        for job in 0..20_000 {
            let n = 2 + job % 6;
            pool.run(n, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            for (i, h) in hits.iter().enumerate() {
                assert_eq!(h.swap(0, Ordering::Relaxed), usize::from(i < n), "job {job}, task {i} of {n}");
            }
        }
    }

    #[test]
    fn a_panicking_task_panics_the_caller_instead_of_hanging() {
        let pool = Pool::new(2).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.run(8, &|i| assert_ne!(i, 5))));
        assert!(r.is_err());
        // The pool still works afterwards.
        let count = AtomicUsize::new(0);
        pool.run(10, &|_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn a_parked_pool_wakes_up() {
        let pool = Pool::new(3).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let count = AtomicUsize::new(0);
        pool.run(100, &|_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 100);
    }
}
