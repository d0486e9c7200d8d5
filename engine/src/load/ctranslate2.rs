//! CTranslate2's `model.bin` (format 6), as faster-whisper ships Whisper: a header (format
//! version, the spec's name, its revision), then each variable (name, rank, dimensions, data
//! type, byte count, bytes), then aliases (a name for another variable, as Whisper's output
//! projection is its embedding table). Every length is checked against what the file holds
//! before anything is read or allocated, so a cut or lying file is an error, never a panic.

use std::collections::BTreeMap;
use std::ops::Range;

use candle_core::{DType, Device, Tensor};

use crate::error::{EngineError, Result};

/// The one format version read here.
const FORMAT: u32 = 6;
/// More dimensions than any model has: a header that says so is lying.
const MAX_RANK: usize = 8;

/// A variable's element type, in CTranslate2's numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ct2Type {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl Ct2Type {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Ct2Type::F32,
            1 => Ct2Type::I8,
            2 => Ct2Type::I16,
            3 => Ct2Type::I32,
            4 => Ct2Type::F16,
            5 => Ct2Type::BF16,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Ct2Type::I8 => 1,
            Ct2Type::I16 | Ct2Type::F16 | Ct2Type::BF16 => 2,
            Ct2Type::F32 | Ct2Type::I32 => 4,
        }
    }
}

/// Where a variable's bytes are, and what they are.
#[derive(Clone, Debug, PartialEq)]
pub struct Ct2Variable {
    pub shape: Vec<usize>,
    pub dtype: Ct2Type,
    /// The bytes' place in the file.
    pub bytes: Range<usize>,
}

/// A parsed file: its spec, and its variables by name (aliases resolved), borrowing the bytes.
#[derive(Debug)]
pub struct Ct2File<'a> {
    pub spec: String,
    pub revision: u32,
    variables: BTreeMap<String, Ct2Variable>,
    data: &'a [u8],
}

/// A cursor over the file that refuses to read past its end.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| bad(format!("the file ends inside {what} (at byte {} of {}, {n} more wanted)", self.at, self.data.len())))?;
        let bytes = &self.data[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().expect("two bytes")))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("four bytes")))
    }

    /// A length-prefixed, NUL-terminated name.
    fn name(&mut self, what: &str) -> Result<String> {
        let length = usize::from(self.u16(what)?);
        let bytes = self.take(length, what)?;
        let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        String::from_utf8(bytes.to_vec()).map_err(|_| bad(format!("{what} is not UTF-8")))
    }
}

fn bad(message: String) -> EngineError {
    EngineError::BadModelFile(format!("CTranslate2 model.bin: {message}"))
}

impl<'a> Ct2File<'a> {
    /// Parses the file's bytes.
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        let mut reader = Reader { data, at: 0 };
        let version = reader.u32("the format version")?;
        if version != FORMAT {
            return Err(bad(format!("format version {version}; attnscope reads version {FORMAT} (CTranslate2 3 and 4)")));
        }
        let spec = reader.name("the spec's name")?;
        let revision = reader.u32("the spec's revision")?;
        let count = reader.u32("the number of variables")? as usize;
        let mut variables = BTreeMap::new();
        for index in 0..count {
            let name = reader.name(&format!("variable {index}'s name"))?;
            let rank = usize::from(reader.u8(&format!("{name}'s rank"))?);
            if rank > MAX_RANK {
                return Err(bad(format!("{name} claims {rank} dimensions")));
            }
            let shape = (0..rank).map(|_| reader.u32(&format!("{name}'s shape")).map(|d| d as usize)).collect::<Result<Vec<_>>>()?;
            let code = reader.u8(&format!("{name}'s type"))?;
            let dtype = Ct2Type::from_code(code).ok_or_else(|| bad(format!("{name} has an unknown type code {code}")))?;
            let length = reader.u32(&format!("{name}'s size"))? as usize;
            let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if elements.and_then(|n| n.checked_mul(dtype.size())) != Some(length) {
                return Err(bad(format!("{name}'s shape {shape:?} of {dtype:?} does not make its {length} bytes")));
            }
            let start = reader.at;
            reader.take(length, &format!("{name}'s data"))?;
            variables.insert(name, Ct2Variable { shape, dtype, bytes: start..start + length });
        }
        let aliases = reader.u32("the number of aliases")?;
        for index in 0..aliases {
            let alias = reader.name(&format!("alias {index}"))?;
            let target = reader.name(&format!("alias {alias}'s target"))?;
            let variable = variables.get(&target).cloned().ok_or_else(|| bad(format!("alias {alias} names {target}, which the file lacks")))?;
            variables.insert(alias, variable);
        }
        if reader.at != data.len() {
            return Err(bad(format!("{} bytes follow the last alias", data.len() - reader.at)));
        }
        Ok(Self { spec, revision, variables, data })
    }

    pub fn variable(&self, name: &str) -> Option<&Ct2Variable> {
        self.variables.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.variables.keys().map(String::as_str)
    }

    /// A floating-point variable as a float32 tensor of its shape.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let variable = self.variable(name).ok_or_else(|| bad(format!("it has no `{name}`")))?;
        let dtype = match variable.dtype {
            Ct2Type::F32 => DType::F32,
            Ct2Type::F16 => DType::F16,
            Ct2Type::BF16 => DType::BF16,
            other => return Err(bad(format!("`{name}` is {other:?}, not a float"))),
        };
        let bytes = &self.data[variable.bytes.clone()];
        Ok(Tensor::from_raw_buffer(bytes, dtype, &variable.shape, &Device::Cpu)?.to_dtype(DType::F32)?)
    }

    /// A scalar setting (`decoder/num_heads`), whatever its integer type.
    pub fn integer(&self, name: &str) -> Result<i64> {
        let variable = self.variable(name).ok_or_else(|| bad(format!("it has no `{name}`")))?;
        let bytes = &self.data[variable.bytes.clone()];
        let value = match (variable.dtype, bytes.len()) {
            (Ct2Type::I8, 1) => i64::from(bytes[0] as i8),
            (Ct2Type::I16, 2) => i64::from(i16::from_le_bytes([bytes[0], bytes[1]])),
            (Ct2Type::I32, 4) => i64::from(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])),
            _ => return Err(bad(format!("`{name}` is not one integer"))),
        };
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file as CTranslate2 writes one: (name, shape, type code, bytes) and aliases.
    fn file(variables: &[(&str, &[u32], u8, Vec<u8>)], aliases: &[(&str, &str)]) -> Vec<u8> {
        let name = |out: &mut Vec<u8>, s: &str| {
            out.extend(((s.len() + 1) as u16).to_le_bytes());
            out.extend(s.as_bytes());
            out.push(0);
        };
        let mut out = FORMAT.to_le_bytes().to_vec();
        name(&mut out, "WhisperSpec");
        out.extend(3u32.to_le_bytes());
        out.extend((variables.len() as u32).to_le_bytes());
        for (n, shape, code, bytes) in variables {
            name(&mut out, n);
            out.push(shape.len() as u8);
            for d in *shape {
                out.extend(d.to_le_bytes());
            }
            out.push(*code);
            out.extend((bytes.len() as u32).to_le_bytes());
            out.extend(bytes);
        }
        out.extend((aliases.len() as u32).to_le_bytes());
        for (alias, target) in aliases {
            name(&mut out, alias);
            name(&mut out, target);
        }
        out
    }

    fn sample() -> Vec<u8> {
        // 1, -2, 0.5 and 3 as IEEE half floats.
        let halves: Vec<u8> = [0x3C00u16, 0xC000, 0x3800, 0x4200].iter().flat_map(|v| v.to_le_bytes()).collect();
        file(
            &[
                ("decoder/embeddings/weight", &[2, 2], 4, halves),
                ("decoder/num_heads", &[], 2, 6i16.to_le_bytes().to_vec()),
                ("decoder/pre_norm", &[], 1, vec![1]),
            ],
            &[("decoder/projection/weight", "decoder/embeddings/weight")],
        )
    }

    #[test]
    fn variables_settings_and_aliases_are_read_as_written() {
        let bytes = sample();
        let file = Ct2File::parse(&bytes).unwrap();
        assert_eq!((file.spec.as_str(), file.revision), ("WhisperSpec", 3));
        let embeddings = file.tensor("decoder/embeddings/weight").unwrap();
        assert_eq!(embeddings.to_vec2::<f32>().unwrap(), [[1.0, -2.0], [0.5, 3.0]]);
        let projection = file.tensor("decoder/projection/weight").unwrap();
        assert_eq!(projection.to_vec2::<f32>().unwrap(), embeddings.to_vec2::<f32>().unwrap(), "the alias is the table");
        assert_eq!(file.integer("decoder/num_heads").unwrap(), 6);
        assert_eq!(file.integer("decoder/pre_norm").unwrap(), 1);
        assert_eq!(file.names().count(), 4);
        assert!(file.tensor("decoder/num_heads").unwrap_err().to_string().contains("not a float"));
        assert!(file.tensor("nothing").unwrap_err().to_string().contains("has no `nothing`"));
    }

    #[test]
    fn a_file_cut_anywhere_is_an_error_never_a_panic() {
        let bytes = sample();
        for end in 0..bytes.len() {
            let error = Ct2File::parse(&bytes[..end]).unwrap_err().to_string();
            assert!(error.starts_with("cannot read the model file: CTranslate2 model.bin:"), "cut at {end}: {error}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Ct2File::parse(&longer).unwrap_err().to_string().contains("1 bytes follow"));
    }

    #[test]
    fn lying_headers_are_named() {
        // A shape that does not make the byte count, a huge shape, an unknown type, a
        // missing alias target, another format version.
        let cases: [(Vec<u8>, &str); 5] = [
            (file(&[("w", &[3, 2], 0, vec![0; 16])], &[]), "does not make its 16 bytes"),
            (file(&[("w", &[u32::MAX, u32::MAX, u32::MAX], 0, vec![0; 4])], &[]), "does not make its 4 bytes"),
            (file(&[("w", &[1], 9, vec![0; 4])], &[]), "unknown type code 9"),
            (file(&[("w", &[1], 0, vec![0; 4])], &[("v", "u")]), "alias v names u"),
            (
                {
                    let mut b = sample();
                    b[0] = 5;
                    b
                },
                "format version 5",
            ),
        ];
        for (bytes, expected) in cases {
            let error = Ct2File::parse(&bytes).unwrap_err().to_string();
            assert!(error.contains(expected), "{error} lacks {expected}");
        }
    }
}
