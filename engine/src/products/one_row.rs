//! One row (or a few) times a matrix: a decoder's step, a readout. The loop order and
//! vector width that measured fastest on each target: tiles of output columns held in
//! registers in WebAssembly (a wasm store and load per term costs more than the strided
//! reads down the matrix), row by row elsewhere, compiled for AVX2 where the processor has it.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::{right_operand, Strided};

/// `x` [m, k] (contiguous) times `w` [k, n] (its columns side by side, its rows possibly
/// further apart: one thread's share of a wider matrix), both float32, for a few rows `m`:
/// [m, n].
pub fn rows_times_matrix(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.apply_op2_no_bwd(w, &RowsTimesMatrix)
}

struct RowsTimesMatrix;

impl CustomOp2 for RowsTimesMatrix {
    fn name(&self) -> &'static str {
        "rows-times-matrix"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (&[m, k], &[k2, n]) = (l1.dims(), l2.dims()) else {
            candle_core::bail!("rows-times-matrix takes two matrices, not {:?} and {:?}", l1.dims(), l2.dims())
        };
        if k != k2 {
            candle_core::bail!("rows-times-matrix: [{m}, {k}] cannot multiply [{k2}, {n}]")
        }
        let (CpuStorage::F32(x), CpuStorage::F32(w)) = (s1, s2) else { candle_core::bail!("rows-times-matrix is for float32") };
        let Some((x0, x1)) = l1.contiguous_offsets() else { candle_core::bail!("rows-times-matrix needs a contiguous left operand") };
        let (w0, row_stride, _, matrix_len) = right_operand("rows-times-matrix", l2, (k, n))?;
        let Some(w) = w.get(w0..w0 + matrix_len) else { candle_core::bail!("rows-times-matrix: the right operand runs past its storage") };
        if row_stride == 0 && k > 1 {
            candle_core::bail!("rows-times-matrix needs the right operand's rows apart, not strides {:?}", l2.stride())
        }
        let w = Strided { values: w, row_stride: row_stride.max(1), columns: n };
        let mut out = vec![0f32; m * n];
        if n > 0 {
            for (row, out_row) in x[x0..x1].chunks_exact(k.max(1)).zip(out.chunks_exact_mut(n)) {
                row_times_matrix(&row[..k], w, out_row);
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}

/// out [n] = x [k] · w [k, n], the loop order and vector width that measured fastest
/// on each target (a 20-word translation: wasm 25 -> 20 ms in Node, natively on par with gemm).
fn row_times_matrix(x: &[f32], w: Strided, out: &mut [f32]) {
    #[cfg(target_arch = "wasm32")]
    return row_times_matrix_in_tiles(x, w, out);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has just said it runs AVX2.
        return unsafe { row_times_matrix_avx2(x, w, out) };
    }
    #[allow(unreachable_code)]
    row_times_matrix_by_rows(x, w, out)
}

/// Row by row: the matrix is read once, front to back, and `out` stays in the L1 cache.
#[inline(always)]
fn row_times_matrix_by_rows(x: &[f32], w: Strided, out: &mut [f32]) {
    let n = out.len();
    out.fill(0.0);
    for (&xi, w_row) in x.iter().zip(w.values.chunks(w.row_stride)) {
        for (sum, &wv) in out.iter_mut().zip(&w_row[..n]) {
            *sum += xi * wv;
        }
    }
}

/// The same loops compiled for AVX2 (native builds target plain x86-64, SSE2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_times_matrix_avx2(x: &[f32], w: Strided, out: &mut [f32]) {
    row_times_matrix_by_rows(x, w, out)
}

/// Output columns per tile in wasm: their sums stay in registers (a wasm store and load
/// per term costs more than the strided reads down the matrix).
#[cfg(any(target_arch = "wasm32", test))]
const TILE: usize = 32;

/// Tile by tile of TILE output columns, each walking down the whole matrix.
#[cfg(any(target_arch = "wasm32", test))]
fn row_times_matrix_in_tiles(x: &[f32], w: Strided, out: &mut [f32]) {
    let n = out.len();
    let whole = n / TILE * TILE;
    for start in (0..whole).step_by(TILE) {
        let mut sums = [0f32; TILE];
        for (&xi, w_row) in x.iter().zip(w.values.chunks(w.row_stride)) {
            let w_tile: &[f32; TILE] = w_row[start..start + TILE].try_into().unwrap();
            for (sum, &wv) in sums.iter_mut().zip(w_tile) {
                *sum += xi * wv;
            }
        }
        out[start..start + TILE].copy_from_slice(&sums);
    }
    // The columns past the last whole tile.
    let rest = &mut out[whole..];
    rest.fill(0.0);
    for (&xi, w_row) in x.iter().zip(w.values.chunks(w.row_stride)) {
        for (sum, &wv) in rest.iter_mut().zip(&w_row[whole..]) {
            *sum += xi * wv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Against a float64 product written out by hand, for widths that fill whole tiles
    /// and widths that leave columns over.
    #[test]
    fn equals_the_product_by_definition() {
        for (m, k, n) in [(1, 7, 5), (1, 64, 96), (2, 33, 70), (3, 256, 1536)] {
            let x: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
            let w: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 40.0).collect();
            let device = Device::Cpu;
            let ours = rows_times_matrix(&Tensor::from_vec(x.clone(), (m, k), &device).unwrap(), &Tensor::from_vec(w.clone(), (k, n), &device).unwrap())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            for r in 0..m {
                for c in 0..n {
                    let exact: f64 = (0..k).map(|i| x[r * k + i] as f64 * w[i * n + c] as f64).sum();
                    let got = ours[r * n + c] as f64;
                    assert!((got - exact).abs() <= 1e-4 * exact.abs().max(1.0), "[{m},{k}]x[{k},{n}] at ({r},{c}): {got} vs {exact}");
                }
            }
        }
    }

    /// Both loop orders give the same sums, in the same order, bit for bit.
    #[test]
    fn the_wasm_tiles_equal_the_rows() {
        for n in [5, 32, 70, 1536] {
            let k = 256;
            let x: Vec<f32> = (0..k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
            let w: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 40.0).collect();
            let (mut tiles, mut rows) = (vec![f32::NAN; n], vec![f32::NAN; n]);
            let w = Strided { values: &w, row_stride: n, columns: n };
            row_times_matrix_in_tiles(&x, w, &mut tiles);
            row_times_matrix_by_rows(&x, w, &mut rows);
            assert_eq!(tiles, rows, "width {n}");
        }
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let device = Device::Cpu;
        let x = Tensor::zeros((1, 4), candle_core::DType::F32, &device).unwrap();
        let w = Tensor::zeros((5, 3), candle_core::DType::F32, &device).unwrap();
        assert!(rows_times_matrix(&x, &w).is_err());
        let w = Tensor::zeros((3, 4), candle_core::DType::F32, &device).unwrap();
        assert!(rows_times_matrix(&x, &w.t().unwrap()).is_err(), "a transposed matrix's columns are not side by side");
    }

    /// A thread's share of a wider matrix's columns (rows further apart than its width)
    /// gives the same bits as the share copied out.
    #[test]
    fn a_share_of_a_wider_matrixs_columns_multiplies_in_place() {
        let device = Device::Cpu;
        let (k, n) = (70, 100);
        let x = Tensor::from_vec((0..k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect::<Vec<_>>(), (1, k), &device).unwrap();
        let w = Tensor::from_vec((0..k * n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 40.0).collect::<Vec<_>>(), (k, n), &device).unwrap();
        let share = w.narrow(1, 30, 45).unwrap();
        assert_eq!(share.stride(), [n, 1]);
        let in_place = rows_times_matrix(&x, &share).unwrap().to_vec2::<f32>().unwrap();
        let copied = rows_times_matrix(&x, &share.contiguous().unwrap()).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(in_place, copied);
    }
}
