//! A file the person picked or dropped (a browser `File`), read a piece at a time in the
//! worker with `FileReaderSync`: neither JavaScript's memory nor the worker's wasm memory
//! ever holds the whole file, only the piece being read (a tensor, or a buffer of metadata).

use std::io::{Read, Seek, SeekFrom};

use js_sys::Uint8Array;
use web_sys::{File, FileReaderSync};

use crate::js_bytes::seek_target;

pub struct JsFile {
    file: File,
    reader: FileReaderSync,
    position: u64,
}

impl JsFile {
    pub fn new(file: File) -> Result<Self, String> {
        let reader = FileReaderSync::new().map_err(|_| "this browser cannot read files in a worker".to_string())?;
        Ok(Self { file, reader, position: 0 })
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
        let piece = self
            .file
            .slice_with_f64_and_f64(start as f64, end as f64)
            .map_err(|_| std::io::Error::other("cannot cut a piece of the file"))?;
        let bytes = self
            .reader
            .read_as_array_buffer(&piece)
            .map_err(|_| std::io::Error::other(format!("cannot read {}", self.file.name())))?;
        let count = (end - start) as usize;
        Uint8Array::new(&bytes).copy_to(&mut buf[..count]);
        self.position = end;
        Ok(count)
    }
}

impl Seek for JsFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.position = seek_target(self.position, self.len(), to)?;
        Ok(self.position)
    }
}
