//! A safetensors file read a tensor at a time from any reader (a file natively, a
//! browser's File in the worker), so the file never has to sit in memory whole beside
//! the weights made from it. The header is checked against the file before anything is
//! sized by it: every tensor's bytes must lie inside the file and match its shape.

use std::io::{Read, Seek, SeekFrom};

use candle_core::{DType, Device, Tensor};

use crate::error::{EngineError, Result};

/// The most a header may claim (the format's own readers use 100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// One tensor's entry in the header.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Where its bytes are, from the start of the file.
    pub start: u64,
    pub len: u64,
}

/// A safetensors file's header, checked, and its reader.
pub struct SafetensorsFile<R> {
    reader: R,
    pub entries: Vec<Entry>,
}

fn lie(what: String) -> EngineError {
    EngineError::BadModelFile(format!("model.safetensors: {what}"))
}

fn dtype_of(name: &str) -> Option<DType> {
    Some(match name {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F64" => DType::F64,
        "I64" => DType::I64,
        "U32" => DType::U32,
        "U8" => DType::U8,
        _ => return None,
    })
}

impl<R: Read + Seek> SafetensorsFile<R> {
    /// Reads and checks the header.
    pub fn open(mut reader: R) -> Result<Self> {
        let io = |e: std::io::Error| lie(e.to_string());
        let size = reader.seek(SeekFrom::End(0)).map_err(io)?;
        reader.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut length = [0u8; 8];
        reader.read_exact(&mut length).map_err(|_| lie("too short to be a safetensors file".into()))?;
        let length = u64::from_le_bytes(length);
        if length > MAX_HEADER || length.saturating_add(8) > size {
            return Err(lie(format!("its header claims {length} bytes, more than the file holds")));
        }
        let mut header = vec![0u8; length as usize];
        reader.read_exact(&mut header).map_err(io)?;
        let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header).map_err(|e| lie(format!("its header is not JSON: {e}")))?;
        let data_start = 8 + length;
        let mut entries = Vec::with_capacity(header.len());
        for (name, value) in &header {
            if name == "__metadata__" {
                continue;
            }
            let field = |key: &str| value.get(key).ok_or_else(|| lie(format!("tensor `{name}` has no `{key}`")));
            let dtype_name = field("dtype")?.as_str().unwrap_or_default();
            let dtype = dtype_of(dtype_name).ok_or_else(|| lie(format!("tensor `{name}` is of type `{dtype_name}`, which attnscope does not read")))?;
            let numbers = |key: &str| -> Result<Vec<u64>> {
                field(key)?
                    .as_array()
                    .and_then(|a| a.iter().map(|v| v.as_u64()).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| lie(format!("tensor `{name}`: `{key}` is not a list of whole numbers")))
            };
            let shape = numbers("shape")?;
            let offsets = numbers("data_offsets")?;
            let [begin, end] = offsets[..] else { return Err(lie(format!("tensor `{name}`: data_offsets is not two numbers"))) };
            let elements = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
            let bytes = elements.and_then(|n| n.checked_mul(dtype.size_in_bytes() as u64));
            let (start, stop) = (data_start.checked_add(begin), data_start.checked_add(end));
            match (bytes, start, stop) {
                (Some(bytes), Some(start), Some(stop)) if begin <= end && end - begin == bytes && stop <= size => {
                    entries.push(Entry { name: name.clone(), dtype, shape: shape.iter().map(|&d| d as usize).collect(), start, len: bytes });
                }
                _ => return Err(lie(format!("tensor `{name}` claims bytes {begin}..{end} that do not fit its shape {shape:?} or the file"))),
            }
        }
        Ok(Self { reader, entries })
    }

    /// Reads one tensor (as float32 when it is a float).
    pub fn tensor(&mut self, entry: &Entry, device: &Device) -> Result<Tensor> {
        let io = |e: std::io::Error| lie(format!("tensor `{}`: {e}", entry.name));
        self.reader.seek(SeekFrom::Start(entry.start)).map_err(io)?;
        let mut bytes = vec![0u8; entry.len as usize];
        self.reader.read_exact(&mut bytes).map_err(io)?;
        let tensor = Tensor::from_raw_buffer(&bytes, entry.dtype, &entry.shape, device)?;
        Ok(if entry.dtype.is_float() { tensor.to_dtype(DType::F32)? } else { tensor })
    }

    /// Every tensor, largest first, each handed to `keep` as soon as it is read (so what
    /// a big one leaves behind, the small ones fill; wasm memory never shrinks).
    pub fn each_tensor(&mut self, device: &Device, mut keep: impl FnMut(String, Tensor) -> Result<()>) -> Result<()> {
        let mut entries = self.entries.clone();
        entries.sort_by_key(|e| std::cmp::Reverse(e.len));
        for entry in entries {
            let tensor = self.tensor(&entry, device)?;
            keep(entry.name, tensor)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend(data);
        bytes
    }

    #[test]
    fn reads_what_candle_wrote_tensor_by_tensor() {
        let device = Device::Cpu;
        let a = Tensor::new(&[[1f32, 2.], [3., 4.]], &device).unwrap();
        let b = Tensor::new(&[5f32, 6., 7.], &device).unwrap().to_dtype(DType::F16).unwrap();
        let path = std::env::temp_dir().join(format!("attnscope-st-{}.safetensors", std::process::id()));
        candle_core::safetensors::save(&[("a", a.clone()), ("b", b)].into_iter().map(|(n, t)| (n.to_string(), t)).collect(), &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).ok();
        let mut file = SafetensorsFile::open(Cursor::new(bytes)).unwrap();
        let mut seen = Vec::new();
        file.each_tensor(&device, |name, t| {
            seen.push((name, t.flatten_all()?.to_vec1::<f32>()?));
            Ok(())
        })
        .unwrap();
        seen.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(seen, [("a".to_string(), vec![1., 2., 3., 4.]), ("b".to_string(), vec![5., 6., 7.])]);
    }

    #[test]
    fn headers_that_lie_are_refused_before_anything_is_sized_by_them() {
        let cases = [
            (file(r#"{"t":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4]}}"#, &[0; 4]), "do not fit"),
            (file(r#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, &[0; 4]), "do not fit"),
            (file(r#"{"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, &[0; 4]), "do not fit"),
            (file(r#"{"t":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}"#, &[0; 4]), "does not read"),
            (file(r#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, &[0; 4]), "do not fit"),
            (file("not json", &[]), "not JSON"),
            ((u64::MAX).to_le_bytes().to_vec(), "more than the file holds"),
            (vec![1, 2, 3], "too short"),
        ];
        for (bytes, expected) in cases {
            let message = SafetensorsFile::open(Cursor::new(bytes)).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains(expected), "{expected}: {message}");
        }
    }
}
