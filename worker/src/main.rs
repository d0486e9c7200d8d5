//! The worker's entry point; everything else is in the library ([`attnscope_worker`]).

fn main() {
    // A worker with threads starts once its thread pool is up: its loader calls
    // `initThreadPool` and then `startWorker` (see `attnscope_worker::start_worker`).
    #[cfg(not(feature = "threads"))]
    attnscope_worker::start();
}
