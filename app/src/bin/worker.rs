//! The worker's entry point; everything else is in `app::worker`.

fn main() {
    app::worker::start();
}
