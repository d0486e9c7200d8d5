//! The page's side of the worker: start it, send it requests, hand its answers on.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use crate::protocol::{decode, encode, encode_with_bytes, encode_with_files, reassemble, FromWorker, ToWorker};

/// The engine's worker. Cheap to clone.
#[derive(Clone)]
pub struct EngineClient {
    worker: Rc<Worker>,
}

impl EngineClient {
    /// Starts the worker and calls `on_answer` with each answer, reports already
    /// reassembled. Where the page is cross-origin isolated (it may share memory between
    /// threads), the worker with threads (scripts/build_threads.sh), one per core; elsewhere
    /// Trunk's loader shim for the one-thread `worker` binary. The worker's `Ready` says which.
    pub fn start(on_answer: impl Fn(FromWorker) + 'static) -> Result<Self, String> {
        let isolated = js_sys::Reflect::get(&js_sys::global(), &"crossOriginIsolated".into()).ok().and_then(|v| v.as_bool()).unwrap_or(false);
        let worker = if isolated {
            let cores = web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency()).max(1.0);
            let options = web_sys::WorkerOptions::new();
            options.set_type(web_sys::WorkerType::Module);
            Worker::new_with_options(&format!("./threads/loader.js?threads={cores}"), &options)
        } else {
            Worker::new("./worker_loader.js")
        }
        .map_err(|_| "cannot start the engine's worker".to_string())?;
        let on_answer = Rc::new(on_answer);
        let answer = on_answer.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            ARRIVED.with(|a| a.set(crate::now()));
            let message = match decode::<FromWorker>(&event.data()) {
                Ok((FromWorker::Report { run, report, shapes, millis, memory_bytes }, Some(data))) => match reassemble(report, &shapes, data) {
                    Ok(report) => FromWorker::Report { run, report, shapes, millis, memory_bytes },
                    Err(message) => FromWorker::Failed { model: String::new(), run: Some(run), message },
                },
                Ok((FromWorker::ProbeResult { run, scores, report, shapes, offset, length, millis }, Some(data))) => match reassemble(report, &shapes, data) {
                    Ok(report) => FromWorker::ProbeResult { run, scores, report, shapes, offset, length, millis },
                    Err(message) => FromWorker::Failed { model: String::new(), run: Some(run), message },
                },
                Ok((FromWorker::WholeMap { run, layer, head, queries, keys, millis, .. }, Some(values))) => {
                    FromWorker::WholeMap { run, layer, head, queries, keys, millis, values }
                }
                Ok((FromWorker::Attending { run, done, total, tokens, cut, blocks, .. }, Some(layer_maps))) => {
                    FromWorker::Attending { run, done, total, tokens, cut, blocks, layer_maps }
                }
                Ok((FromWorker::TrainedModel { run, task, index, score, config, vocabulary, .. }, _)) => {
                    FromWorker::TrainedModel { run, task, index, score, config, vocabulary, weights: crate::protocol::bytes_of(&event.data()) }
                }
                Ok((message, _)) => message,
                Err(message) => FromWorker::Failed { model: String::new(), run: None, message },
            };
            answer(message);
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget(); // lives as long as the page
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
            let message = format!("the engine's worker failed: {}", event.message());
            on_answer(FromWorker::Failed { model: String::new(), run: None, message });
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        Ok(Self { worker: Rc::new(worker) })
    }

    pub fn send(&self, request: &ToWorker) {
        let (value, _) = encode(request, None);
        // Posting to a live worker does not fail; a dead one has reported through onerror.
        let _ = self.worker.post_message(&value);
    }

    /// Sends a request with samples beside it (transferred, not copied).
    pub fn send_with_samples(&self, request: &ToWorker, samples: &[f32]) {
        let (value, transfer) = encode(request, Some(samples));
        let _ = self.worker.post_message_with_transfer(&value, &transfer);
    }

    /// Sends a request with pixels beside it (transferred, not copied).
    pub fn send_with_pixels(&self, request: &ToWorker, pixels: &[u8]) {
        let (value, transfer) = encode_with_bytes(request, pixels);
        let _ = self.worker.post_message_with_transfer(&value, &transfer);
    }

    /// Sends a request with the person's `File` objects beside it.
    pub fn send_with_files(&self, request: &ToWorker, files: &js_sys::Array) {
        let _ = self.worker.post_message(&encode_with_files(request, files));
    }
}

thread_local! {
    /// When the worker's last answer reached this thread, before it was decoded.
    static ARRIVED: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// When the worker's last answer reached this thread (`performance.now()`), before decoding:
/// the page's wait is told apart from the worker's time and the decoding's.
pub fn last_arrival() -> f64 {
    ARRIVED.with(|a| a.get())
}
