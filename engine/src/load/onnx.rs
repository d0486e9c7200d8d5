//! An ONNX model file read for its weights: the graph's initializers (name, shape, element
//! type, where the bytes are) and its nodes (operator, inputs, outputs), which say what an
//! unnamed initializer is by what it is used for. ONNX is protocol buffers; only the fields
//! needed here are read, every length checked against what the file holds, so a cut or
//! lying file is an error, never a panic or an allocation the file does not back.
//!
//! ModelProto.graph = 7; GraphProto.node = 1, .initializer = 5; NodeProto.input = 1,
//! .output = 2, .name = 3, .op_type = 4; TensorProto.dims = 1, .data_type = 2,
//! .float_data = 4, .name = 8, .raw_data = 9, .data_location = 14 (1: external, refused).

use std::collections::BTreeMap;
use std::ops::Range;

use candle_core::{Device, Tensor};

use crate::error::{EngineError, Result};

/// TensorProto.DataType FLOAT: the one element type read.
const FLOAT: u64 = 1;
/// More dimensions than any model has: a header that says so is lying.
const MAX_RANK: usize = 8;

/// An initializer: its shape and where its float32 values are.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxTensor {
    pub dims: Vec<usize>,
    /// The little-endian float32 bytes in the file (raw_data or packed float_data).
    pub bytes: Range<usize>,
}

/// A node of the graph.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OnnxNode {
    pub name: String,
    pub op_type: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

/// A parsed file, borrowing its bytes.
#[derive(Debug)]
pub struct OnnxFile<'a> {
    pub initializers: BTreeMap<String, OnnxTensor>,
    pub nodes: Vec<OnnxNode>,
    data: &'a [u8],
}

fn bad(message: String) -> EngineError {
    EngineError::BadModelFile(format!("ONNX file: {message}"))
}

/// One protocol-buffer field: its number, and its value (a number, or a byte range).
enum Value {
    Number(u64),
    Bytes(Range<usize>),
}

/// The fields of one message, `data[range]`, in order.
struct Fields<'a> {
    data: &'a [u8],
    at: usize,
    end: usize,
}

impl<'a> Fields<'a> {
    fn of(data: &'a [u8], range: Range<usize>) -> Self {
        Self { data, at: range.start, end: range.end }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.data[..self.end].get(self.at).ok_or_else(|| bad(format!("it ends inside a number at byte {}", self.at)))?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(bad(format!("a number at byte {} is longer than ten bytes", self.at)))
    }

    fn skip(&mut self, n: usize, what: &str) -> Result<Range<usize>> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.end)
            .ok_or_else(|| bad(format!("{what} of {n} bytes at byte {} runs past the end of its message (byte {})", self.at, self.end)))?;
        let range = self.at..end;
        self.at = end;
        Ok(range)
    }

    /// The next field, or `None` at the end of the message.
    fn next_field(&mut self) -> Result<Option<(u64, Value)>> {
        if self.at >= self.end {
            return Ok(None);
        }
        let key = self.varint()?;
        let (number, wire) = (key >> 3, key & 7);
        let value = match wire {
            0 => Value::Number(self.varint()?),
            1 => Value::Bytes(self.skip(8, "a 64-bit field")?),
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| bad("a length past any file".into()))?;
                Value::Bytes(self.skip(n, "a field")?)
            }
            5 => Value::Bytes(self.skip(4, "a 32-bit field")?),
            other => return Err(bad(format!("field {number} has wire type {other}, which protocol buffers do not use here"))),
        };
        Ok(Some((number, value)))
    }
}

fn text(data: &[u8], range: Range<usize>, what: &str) -> Result<String> {
    String::from_utf8(data[range].to_vec()).map_err(|_| bad(format!("{what} is not UTF-8")))
}

impl<'a> OnnxFile<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        let mut model = Fields::of(data, 0..data.len());
        let mut graph = None;
        while let Some((number, value)) = model.next_field()? {
            if let (7, Value::Bytes(range)) = (number, value) {
                graph = Some(range);
            }
        }
        let graph = graph.ok_or_else(|| bad("it has no graph (is it an ONNX model?)".into()))?;
        let (mut initializers, mut nodes) = (BTreeMap::new(), Vec::new());
        let mut fields = Fields::of(data, graph);
        while let Some((number, value)) = fields.next_field()? {
            match (number, value) {
                (1, Value::Bytes(range)) => nodes.push(node(data, range)?),
                (5, Value::Bytes(range)) => {
                    let (name, tensor) = initializer(data, range)?;
                    initializers.insert(name, tensor);
                }
                _ => {}
            }
        }
        if initializers.is_empty() {
            return Err(bad("its graph holds no weights".into()));
        }
        Ok(Self { initializers, nodes, data })
    }

    /// An initializer as a float32 tensor of its shape.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let t = self.initializers.get(name).ok_or_else(|| bad(format!("it has no initializer `{name}`")))?;
        Ok(Tensor::from_raw_buffer(&self.data[t.bytes.clone()], candle_core::DType::F32, &t.dims, &Device::Cpu)?)
    }
}

fn node(data: &[u8], range: Range<usize>) -> Result<OnnxNode> {
    let mut node = OnnxNode::default();
    let mut fields = Fields::of(data, range);
    while let Some((number, value)) = fields.next_field()? {
        if let Value::Bytes(range) = value {
            match number {
                1 => node.inputs.push(text(data, range, "a node's input")?),
                2 => node.outputs.push(text(data, range, "a node's output")?),
                3 => node.name = text(data, range, "a node's name")?,
                4 => node.op_type = text(data, range, "a node's operator")?,
                _ => {}
            }
        }
    }
    Ok(node)
}

fn initializer(data: &[u8], range: Range<usize>) -> Result<(String, OnnxTensor)> {
    let (mut dims, mut data_type, mut name, mut raw, mut floats, mut external) = (Vec::new(), None, None, None, None, false);
    let mut fields = Fields::of(data, range);
    while let Some((number, value)) = fields.next_field()? {
        match (number, value) {
            (1, Value::Number(d)) => dims.push(d),
            (1, Value::Bytes(packed)) => {
                let mut inner = Fields::of(data, packed);
                while inner.at < inner.end {
                    dims.push(inner.varint()?);
                }
            }
            (2, Value::Number(t)) => data_type = Some(t),
            (4, Value::Bytes(packed)) => floats = Some(packed),
            (8, Value::Bytes(r)) => name = Some(text(data, r, "an initializer's name")?),
            (9, Value::Bytes(r)) => raw = Some(r),
            (14, Value::Number(1)) => external = true,
            _ => {}
        }
        if dims.len() > MAX_RANK {
            return Err(bad(format!("an initializer has more than {MAX_RANK} dimensions")));
        }
    }
    let name = name.ok_or_else(|| bad("an initializer has no name".into()))?;
    if external {
        return Err(bad(format!("`{name}` is stored in an external file: give a model whose weights are inside the .onnx")));
    }
    if data_type != Some(FLOAT) {
        return Err(bad(format!("`{name}` is of ONNX element type {}, not float32", data_type.unwrap_or(0))));
    }
    let dims: Vec<usize> =
        dims.into_iter().map(usize::try_from).collect::<std::result::Result<_, _>>().map_err(|_| bad(format!("`{name}` has a dimension past any file")))?;
    let count = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or_else(|| bad(format!("`{name}`'s shape overflows")))?;
    let bytes = raw.or(floats).ok_or_else(|| bad(format!("`{name}` holds no values")))?;
    if Some(bytes.len()) != count.checked_mul(4) {
        return Err(bad(format!("`{name}` has shape {dims:?} ({count} floats) but holds {} bytes", bytes.len())));
    }
    Ok((name, OnnxTensor { dims, bytes }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn field(number: u64, bytes: &[u8], out: &mut Vec<u8>) {
        varint(number << 3 | 2, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    /// A model with one 2 × 2 float initializer `w` and one MatMul node using it.
    fn model() -> Vec<u8> {
        let mut tensor = Vec::new();
        for d in [2u64, 2] {
            varint(1 << 3, &mut tensor);
            varint(d, &mut tensor);
        }
        varint(2 << 3, &mut tensor);
        varint(FLOAT, &mut tensor);
        field(8, b"w", &mut tensor);
        let values: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        field(9, &values, &mut tensor);
        let mut node = Vec::new();
        field(1, b"x", &mut node);
        field(1, b"w", &mut node);
        field(2, b"y", &mut node);
        field(4, b"MatMul", &mut node);
        let mut graph = Vec::new();
        field(1, &node, &mut graph);
        field(5, &tensor, &mut graph);
        let mut model = Vec::new();
        varint(1 << 3, &mut model);
        varint(7, &mut model); // ir_version
        field(7, &graph, &mut model);
        model
    }

    #[test]
    fn initializers_and_nodes_are_read() {
        let bytes = model();
        let file = OnnxFile::parse(&bytes).unwrap();
        assert_eq!(file.initializers["w"].dims, vec![2, 2]);
        assert_eq!(file.tensor("w").unwrap().to_vec2::<f32>().unwrap(), vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
        assert_eq!(file.nodes[0].op_type, "MatMul");
        assert_eq!(file.nodes[0].inputs, vec!["x", "w"]);
    }

    #[test]
    fn a_file_cut_anywhere_is_an_error_never_a_panic() {
        let bytes = model();
        for cut in 0..bytes.len() {
            assert!(OnnxFile::parse(&bytes[..cut]).is_err(), "cut at {cut} of {}", bytes.len());
        }
    }

    #[test]
    fn a_shape_that_lies_about_its_values_is_refused() {
        let mut bytes = model();
        // The first dimension 2 -> 3: six floats claimed, four held.
        let at = bytes.windows(2).position(|w| w == [0x08, 0x02]).unwrap();
        bytes[at + 1] = 3;
        let e = OnnxFile::parse(&bytes).unwrap_err().to_string();
        assert!(e.contains("holds 16 bytes"), "{e}");
    }
}
