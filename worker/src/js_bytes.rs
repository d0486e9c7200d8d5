//! A file's bytes kept in JavaScript's memory and read a piece at a time, so that a
//! 100 MB model file never sits in the worker's wasm memory beside the 540 MB of
//! weights made from it (wasm memory never shrinks: its peak is what it keeps).

use std::io::{Read, Seek, SeekFrom};

use js_sys::Uint8Array;

pub struct JsBytes {
    array: Uint8Array,
    position: u64,
}

impl JsBytes {
    pub fn new(array: Uint8Array) -> Self {
        Self { array, position: 0 }
    }

    fn len(&self) -> u64 {
        self.array.length() as u64
    }
}

impl Read for JsBytes {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let start = self.position.min(self.len());
        let end = (start + buf.len() as u64).min(self.len());
        let count = (end - start) as usize;
        self.array.subarray(start as u32, end as u32).copy_to(&mut buf[..count]);
        self.position = end;
        Ok(count)
    }
}

impl Seek for JsBytes {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.position = seek_target(self.position, self.len(), to)?;
        Ok(self.position)
    }
}

/// Where a seek `to` lands from `position` in something `len` bytes long (past the end
/// is allowed, as for files; before the start is an error).
pub fn seek_target(position: u64, len: u64, to: SeekFrom) -> std::io::Result<u64> {
    let target = match to {
        SeekFrom::Start(offset) => Some(offset),
        SeekFrom::End(delta) => len.checked_add_signed(delta),
        SeekFrom::Current(delta) => position.checked_add_signed(delta),
    };
    target.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a seek before the start"))
}
