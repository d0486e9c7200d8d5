//! The engine's worker with wasm threads (built by scripts/build_threads.sh, started by
//! app/threads/loader.js): the thread pool's start and the worker's.

pub use attnscope_worker::{init_thread_pool, start_worker};
