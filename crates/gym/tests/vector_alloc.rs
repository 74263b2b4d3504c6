//! `VectorEnv::step` allocates nothing in steady state: counted with a global allocator.
//!
//! This file holds a single test so no other test allocates concurrently in this binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use gym::{CartPole, VectorEnv};

/// Counts allocations (from every thread) while `COUNTING` is set.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Fewer allocations than this in the counted steps: rayon's one-time lazy buffers (see the
/// assertion), never one per step or per episode.
const MAX_ONE_TIME: usize = 16;

#[test]
fn vector_step_does_not_allocate_in_steady_state() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    // The whole loop runs inside one `install`, as a training loop would: injecting a job
    // into the pool from outside may allocate inside rayon, which is not the env's doing.
    let (allocations, episodes) = pool.install(|| {
        let mut envs = VectorEnv::new((0..16).map(|_| CartPole::new()).collect()).unwrap();
        envs.reset(7);
        let mut actions = vec![0usize; 16];
        let mut episodes = 0;
        let mut run = |steps: usize, episodes: &mut usize| {
            for t in 0..steps {
                for (i, a) in actions.iter_mut().enumerate() {
                    *a = (t / (i + 1)) % 2;
                }
                envs.step(&actions).unwrap();
                *episodes += envs.infos().iter().filter(|info| info.episode.is_some()).count();
            }
        };
        run(200, &mut episodes); // warm-up: rayon's deques settle
        COUNTING.store(true, Ordering::SeqCst);
        run(2_000, &mut episodes);
        COUNTING.store(false, Ordering::SeqCst);
        (ALLOCATIONS.load(Ordering::SeqCst), episodes)
    });
    assert!(episodes > 100, "autoreset must be exercised, only {episodes} episodes");
    // On an idle machine this is 0. On a loaded one rayon allocates a few buffers once, lazily,
    // the first time a worker sleeps or is preempted mid-job (seen: 2–6 allocations of 48 B to
    // 2.3 KB, the same sizes every time, whatever the number of steps), which the warm-up cannot
    // force. An allocation per step (2,000) or per episode (over 100) is far above this bound.
    assert!(allocations < MAX_ONE_TIME, "VectorEnv::step allocated {allocations} times in 2000 steps");
}
