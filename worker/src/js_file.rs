//! A file the person picked or dropped (a browser `File`), read a piece at a time in the
//! worker with `FileReaderSync`: neither JavaScript's memory nor the worker's wasm memory
//! ever holds the whole file, only the piece being read (a tensor, or a buffer of metadata).

use std::cell::Cell;
use std::io::{Read, Seek, SeekFrom};
use std::rc::Rc;

use js_sys::Uint8Array;
use web_sys::{File, FileReaderSync};

use crate::js_bytes::seek_target;

pub struct JsFile {
    file: File,
    reader: FileReaderSync,
    position: u64,
    progress: Option<Rc<ReadProgress>>,
}

/// How much of a person's files has been read, told every few megabytes through `tell`.
pub struct ReadProgress {
    read: Cell<u64>,
    told: Cell<u64>,
    pub total: u64,
    tell: Box<dyn Fn(u64, u64)>,
}

/// How often progress is told.
const TELL_EVERY: u64 = 4 << 20;

impl ReadProgress {
    /// `tell(read, total)` hears the count of bytes read so far.
    pub fn new(total: u64, tell: impl Fn(u64, u64) + 'static) -> Rc<Self> {
        Rc::new(Self { read: Cell::new(0), told: Cell::new(0), total, tell: Box::new(tell) })
    }

    fn add(&self, count: u64) {
        let read = self.read.get() + count;
        self.read.set(read);
        if read - self.told.get() >= TELL_EVERY || read >= self.total {
            self.told.set(read);
            (self.tell)(read.min(self.total), self.total);
        }
    }
}

impl JsFile {
    pub fn new(file: File) -> Result<Self, String> {
        let reader = FileReaderSync::new().map_err(|_| "this browser cannot read files in a worker".to_string())?;
        Ok(Self { file, reader, position: 0, progress: None })
    }

    /// Counts what it reads into `progress`.
    pub fn counted(mut self, progress: &Rc<ReadProgress>) -> Self {
        self.progress = Some(progress.clone());
        self
    }

    fn len(&self) -> u64 {
        self.file.size() as u64
    }

    /// The whole file (for the small ones: config.json, tokenizer.json).
    pub fn read_all(&mut self) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(self.len() as usize);
        self.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

impl Read for JsFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let start = self.position.min(self.len());
        let end = (start + buf.len() as u64).min(self.len());
        if end == start {
            return Ok(0);
        }
        let piece = self.file.slice_with_f64_and_f64(start as f64, end as f64).map_err(|_| std::io::Error::other("cannot cut a piece of the file"))?;
        let bytes = self.reader.read_as_array_buffer(&piece).map_err(|_| std::io::Error::other(format!("cannot read {}", self.file.name())))?;
        let count = (end - start) as usize;
        Uint8Array::new(&bytes).copy_to(&mut buf[..count]);
        self.position = end;
        if let Some(progress) = &self.progress {
            progress.add(count as u64);
        }
        Ok(count)
    }
}

impl Seek for JsFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.position = seek_target(self.position, self.len(), to)?;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn progress_is_told_every_few_megabytes_and_at_the_end() {
        let heard = Rc::new(RefCell::new(Vec::new()));
        let sink = heard.clone();
        let total = 10 << 20;
        let progress = ReadProgress::new(total, move |read, total| sink.borrow_mut().push((read, total)));
        for _ in 0..10 {
            progress.add(1 << 20);
        }
        assert_eq!(*heard.borrow(), [(4 << 20, total), (8 << 20, total), (10 << 20, total)]);
    }
}
