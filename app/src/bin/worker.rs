//! The worker's entry point; everything else is in `app::worker`.

fn main() {
    // A worker with threads starts once its thread pool is up: its loader calls
    // `initThreadPool` and then `startWorker` (see `app::worker::start_worker`).
    #[cfg(not(feature = "threads"))]
    app::worker::start();
}
