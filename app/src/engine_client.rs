//! The page's side of the worker: start it, send it requests, hand its answers on.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use crate::protocol::{decode, encode, encode_with_files, encode_with_pixels, reassemble, FromWorker, ToWorker};

/// The engine's worker. Cheap to clone.
#[derive(Clone)]
pub struct EngineClient {
    worker: Rc<Worker>,
}

impl EngineClient {
    /// Starts the worker (Trunk's loader shim for the `worker` binary) and calls
    /// `on_answer` with each answer, reports already reassembled.
    pub fn start(on_answer: impl Fn(FromWorker) + 'static) -> Result<Self, String> {
        let worker = Worker::new("./worker_loader.js").map_err(|_| "cannot start the engine's worker".to_string())?;
        let on_answer = Rc::new(on_answer);
        let answer = on_answer.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let message = match decode::<FromWorker>(&event.data()) {
                Ok((FromWorker::Report { run, report, shapes, millis, memory_bytes }, Some(data))) => {
                    match reassemble(report, &shapes, data) {
                        Ok(report) => FromWorker::Report { run, report, shapes, millis, memory_bytes },
                        Err(message) => FromWorker::Failed { model: String::new(), run: Some(run), message },
                    }
                }
                Ok((FromWorker::ProbeResult { run, scores, report, shapes, offset, millis }, Some(data))) => {
                    match reassemble(report, &shapes, data) {
                        Ok(report) => FromWorker::ProbeResult { run, scores, report, shapes, offset, millis },
                        Err(message) => FromWorker::Failed { model: String::new(), run: Some(run), message },
                    }
                }
                Ok((FromWorker::WholeMap { run, layer, head, queries, keys, millis, .. }, Some(values))) => {
                    FromWorker::WholeMap { run, layer, head, queries, keys, millis, values }
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
        let (value, transfer) = encode_with_pixels(request, pixels);
        let _ = self.worker.post_message_with_transfer(&value, &transfer);
    }

    /// Sends a request with the person's `File` objects beside it.
    pub fn send_with_files(&self, request: &ToWorker, files: &js_sys::Array) {
        let _ = self.worker.post_message(&encode_with_files(request, files));
    }
}
