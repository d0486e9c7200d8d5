//! The blocked product: four rows of `x` times eight columns of the weights, sixteen
//! running sums in eight vector registers (simd128 in WebAssembly, AVX2 where the processor
//! has it, plain arrays elsewhere), blocked so that a stretch of rows of `x` and a stretch of
//! the weights' rows stay in the caches; the weights read in place by a few rows, or, by many,
//! from a copy of a tile's columns side by side (see [`each_tile`]). Each output
//! is summed over the inner dimension one term after the other (see [`super`]).

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::{right_operand, Strided};

/// `x` [m, k] (contiguous float32) times `w` [k, n] (float32, row-major, its rows possibly
/// further apart than n: the columns of a wider matrix, one thread's share) → [m, n]; or
/// each of a batch, [b, m, k] times [b, k, n] → [b, m, n].
pub fn matrix_product(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.apply_op2_no_bwd(w, &MatrixProduct)
}

struct MatrixProduct;

impl CustomOp2 for MatrixProduct {
    fn name(&self) -> &'static str {
        "matrix-product"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let ((batch, m, k), (batch2, k2, n)) = match (l1.dims(), l2.dims()) {
            (&[m, k], &[k2, n]) => ((1, m, k), (1, k2, n)),
            (&[b, m, k], &[b2, k2, n]) => ((b, m, k), (b2, k2, n)),
            (a, b) => candle_core::bail!("matrix-product takes two matrices or two batches of them, not {a:?} and {b:?}"),
        };
        if k != k2 || batch != batch2 {
            candle_core::bail!("matrix-product: {:?} cannot multiply {:?}", l1.dims(), l2.dims())
        }
        let (CpuStorage::F32(x), CpuStorage::F32(w)) = (s1, s2) else { candle_core::bail!("matrix-product is for float32") };
        let Some((x0, x1)) = l1.contiguous_offsets() else { candle_core::bail!("matrix-product needs a contiguous left operand") };
        let (w0, row_stride, batch_stride, matrix_len) = right_operand("matrix-product", l2, (k, n))?;
        if batch > 0 && w0 + (batch - 1) * batch_stride + matrix_len > w.len() {
            candle_core::bail!("matrix-product: the right operand runs past its storage")
        }
        let x = &x[x0..x1];
        let mut out = vec![0f32; batch * m * n];
        // A piece is a stretch of one matrix's rows; each output is one piece's, summed in
        // the same order whichever thread takes it.
        let rows_in_piece = ROWS_IN_BLOCK;
        let pieces_of_matrix = m.div_ceil(rows_in_piece).max(1);
        let piece = |index: usize, out: &mut [f32]| {
            let (i, first_row) = (index / pieces_of_matrix, index % pieces_of_matrix * rows_in_piece);
            let rows = rows_in_piece.min(m - first_row);
            let start = w0 + i * batch_stride;
            let w = Strided { values: &w[start..start + matrix_len], row_stride, columns: n };
            multiply(&x[(i * m + first_row) * k..][..rows * k], (rows, k), w, out);
        };
        if m > 0 && n > 0 {
            each_piece(&mut out, rows_in_piece * n, m * n, piece);
        }
        Ok((CpuStorage::F32(out), Shape::from(if l1.dims().len() == 2 { vec![m, n] } else { vec![batch, m, n] })))
    }
}

/// `piece(index, its outputs)` for each piece of `out`: pieces of `piece_len` outputs, each
/// matrix (`matrix_len` outputs) cut apart so that no piece spans two. The pieces are spread
/// over rayon's threads where there are several: natively (attention's products are most of
/// a long text's work), and in WebAssembly with threads, where a projection of many rows is
/// one product cut by rows (see `arch::nn::Linear::forward`) and a piece of attention's own
/// split may share its rows with a thread that has finished its pieces.
fn each_piece(out: &mut [f32], piece_len: usize, matrix_len: usize, piece: impl Fn(usize, &mut [f32]) + Sync) {
    // Below this many outputs a split costs more than it saves.
    #[cfg(any(not(target_arch = "wasm32"), feature = "parallel"))]
    if out.len() >= 1 << 14 && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        let pieces: Vec<&mut [f32]> = out.chunks_mut(matrix_len).flat_map(|matrix| matrix.chunks_mut(piece_len)).collect();
        pieces.into_par_iter().enumerate().for_each(|(i, out)| piece(i, out));
        return;
    }
    out.chunks_mut(matrix_len).flat_map(|matrix| matrix.chunks_mut(piece_len)).enumerate().for_each(|(i, out)| piece(i, out));
}

/// Rows of `x` in a block: their stretch of the inner dimension stays in L2 (48 × 384 floats, 72 KB).
const ROWS_IN_BLOCK: usize = 48;
/// The inner dimension in stretches: eight columns of the weights over it stay in L1 (12 KB).
const DEPTH_IN_BLOCK: usize = 384;
/// Blocks of this many rows or more read their weights from a panel (see [`each_tile`]).
/// Measured in the page on GPT-2 small's and Pythia-160m's projections (`bench families`):
/// packed, 6 rows (two tiles) took 20 % longer, the copy's scattered reads having no
/// arithmetic to hide behind, while 21, 65 and 149 rows took 5 %, 11 % and 16 % less.
const PACKED_FROM_ROWS: usize = 16;
/// A tile: rows of `x` by columns of `w`, its sums held in registers.
const TILE_ROWS: usize = 4;
const TILE_COLUMNS: usize = 8;

/// Every tile of the columns `columns` (a whole number of tiles `COLUMNS` wide) of
/// out [m, n] = x [m, k] · w, handed to `kernel` with its rows (1 to [`TILE_ROWS`]), in an
/// order that keeps each output's sum in the naive order: the inner dimension a stretch at a
/// time, outermost; within it blocks of rows that stay in the caches.
///
/// Where a block has [`PACKED_FROM_ROWS`] rows or more, the stretch of a tile's columns they all
/// read is first copied side by side (a panel, `depth` × `COLUMNS`): read in place, each
/// of the stretch's terms is on another cache line and, for a wide matrix, another page
/// (GPT-2's 768 × 3072 projection: 12 KB apart), once for every tile of rows. The copy changes
/// where the weights are read from, not which terms are summed or in what order.
#[inline(always)]
fn each_tile<const COLUMNS: usize>(
    x: &[f32],
    (m, k): (usize, usize),
    w: Strided,
    out: &mut [f32],
    columns: std::ops::Range<usize>,
    mut kernel: impl FnMut(Tile<'_>, usize),
) {
    let n = w.columns;
    let mut panel: Vec<f32> = Vec::new();
    for depth_start in (0..k).step_by(DEPTH_IN_BLOCK) {
        let depth = DEPTH_IN_BLOCK.min(k - depth_start);
        for row_start in (0..m).step_by(ROWS_IN_BLOCK) {
            let rows_in_block = ROWS_IN_BLOCK.min(m - row_start);
            let packed = rows_in_block >= PACKED_FROM_ROWS;
            for column in columns.clone().step_by(COLUMNS) {
                let in_place = &w.values[depth_start * w.row_stride + column..];
                let (weights, w_stride) = if packed {
                    // Rows of a length known here, copied as a few vector moves (a call to
                    // memcpy per row cost more than the packing saved, in WebAssembly).
                    panel.resize(depth * COLUMNS, 0.0);
                    for (i, to) in panel.chunks_exact_mut(COLUMNS).enumerate() {
                        to.copy_from_slice(&in_place[i * w.row_stride..][..COLUMNS]);
                    }
                    (&panel[..], COLUMNS)
                } else {
                    (in_place, w.row_stride)
                };
                let mut row = row_start;
                while row < row_start + rows_in_block {
                    let rows = TILE_ROWS.min(row_start + rows_in_block - row);
                    let tile = Tile {
                        x: &x[row * k + depth_start..],
                        x_stride: k,
                        w: weights,
                        w_stride,
                        out: &mut out[row * n + column..],
                        out_stride: n,
                        depth,
                        first: depth_start == 0,
                    };
                    kernel(tile, rows);
                    row += rows;
                }
            }
        }
    }
}

/// `tile.kernel::<rows>()` for a tile of 1 to [`TILE_ROWS`] rows (the kernels unroll their rows).
macro_rules! by_rows {
    ($rows:expr, $tile:ident . $kernel:ident) => {
        match $rows {
            4 => $tile.$kernel::<4>(),
            3 => $tile.$kernel::<3>(),
            2 => $tile.$kernel::<2>(),
            _ => $tile.$kernel::<1>(),
        }
    };
}

/// out [m, n] = x [m, k] · w [k, n]. On x86-64 with AVX2, tiles of sixteen columns in its
/// wider registers (picked as the program runs, so a build for any x86-64 has both), and
/// the columns past the last of them as everywhere else: the same multiplies and additions
/// in the same order, so the same sums.
fn multiply(x: &[f32], shape: (usize, usize), w: Strided, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2, checked just above.
        let done = unsafe { avx2::multiply(x, shape, w, out) };
        return multiply_portable(x, shape, w, out, done);
    }
    multiply_portable(x, shape, w, out, 0)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{each_tile, Strided, Tile};
    use std::arch::x86_64::*;

    /// Columns of a tile: two AVX registers, so that four rows keep eight running sums
    /// (enough independent additions to keep the adders busy).
    const COLUMNS: usize = 16;

    /// The columns 0..returned of out [m, n] = x [m, k] · w [k, n], in tiles of
    /// [`super::TILE_ROWS`] × [`COLUMNS`], each output summed one term after the other.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn multiply(x: &[f32], (m, k): (usize, usize), w: Strided, out: &mut [f32]) -> usize {
        let n = w.columns;
        let whole = n / COLUMNS * COLUMNS;
        if whole == 0 || k == 0 {
            return 0;
        }
        each_tile::<COLUMNS>(x, (m, k), w, out, 0..whole, |tile, rows| {
            // SAFETY: the processor has AVX2 (this function's contract); `multiply_avx2`
            // checks the tile's reach against its operands.
            unsafe { by_rows!(rows, tile.multiply_avx2) }
        });
        whole
    }

    impl Tile<'_> {
        /// ROWS rows of x times [`COLUMNS`] columns of w over `depth` terms, into `out` (or
        /// added to what it holds, past the first stretch of the inner dimension): a multiply
        /// and then an addition, never fused, as the other targets compute them.
        #[inline(always)]
        pub(super) unsafe fn multiply_avx2<const ROWS: usize>(self) {
            assert!(self.fits::<ROWS>(COLUMNS), "a tile past its operands");
            // SAFETY: `fits` has checked every load and store below against the slices'
            // lengths; the caller, that the processor has AVX2.
            unsafe {
                let (x, w, out) = (self.x.as_ptr(), self.w.as_ptr(), self.out.as_mut_ptr());
                let mut sums = [[_mm256_setzero_ps(); 2]; ROWS];
                if !self.first {
                    for (r, sum) in sums.iter_mut().enumerate() {
                        let row = out.add(r * self.out_stride);
                        *sum = [_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8))];
                    }
                }
                let mut w_row = w;
                for i in 0..self.depth {
                    let (w0, w1) = (_mm256_loadu_ps(w_row), _mm256_loadu_ps(w_row.add(8)));
                    for (r, sum) in sums.iter_mut().enumerate() {
                        let xi = _mm256_broadcast_ss(&*x.add(r * self.x_stride + i));
                        sum[0] = _mm256_add_ps(sum[0], _mm256_mul_ps(xi, w0));
                        sum[1] = _mm256_add_ps(sum[1], _mm256_mul_ps(xi, w1));
                    }
                    w_row = w_row.add(self.w_stride);
                }
                for (r, sum) in sums.iter().enumerate() {
                    let row = out.add(r * self.out_stride);
                    _mm256_storeu_ps(row, sum[0]);
                    _mm256_storeu_ps(row.add(8), sum[1]);
                }
            }
        }
    }
}

/// The columns `first_column..` of out [m, n] = x [m, k] · w [k, n] (the columns before are
/// another kernel's).
fn multiply_portable(x: &[f32], (m, k): (usize, usize), w: Strided, out: &mut [f32], first_column: usize) {
    let n = w.columns;
    let whole = first_column + (n - first_column) / TILE_COLUMNS * TILE_COLUMNS;
    each_tile::<TILE_COLUMNS>(x, (m, k), w, out, first_column..whole, |tile, rows| by_rows!(rows, tile.multiply));
    // The columns past the last whole tile, one at a time, summed in the same order.
    for row in 0..m {
        for column in whole..n {
            let mut sum = 0.0f32;
            for i in 0..k {
                sum += x[row * k + i] * w.values[i * w.row_stride + column];
            }
            out[row * n + column] = sum;
        }
    }
}

/// ROWS rows of x (`x_stride` apart) times TILE_COLUMNS columns of w over `depth` of the
/// inner dimension, into `out` (or added to what it holds, past the first stretch).
struct Tile<'a> {
    x: &'a [f32],
    x_stride: usize,
    w: &'a [f32],
    w_stride: usize,
    out: &'a mut [f32],
    out_stride: usize,
    depth: usize,
    first: bool,
}

impl Tile<'_> {
    /// Whether ROWS rows of `columns` columns lie inside the operands: checked once, so that
    /// the loops need no checks.
    #[inline(always)]
    fn fits<const ROWS: usize>(&self, columns: usize) -> bool {
        self.depth >= 1
            && self.x.len() >= (ROWS - 1) * self.x_stride + self.depth
            && self.w.len() >= (self.depth - 1) * self.w_stride + columns
            && self.out.len() >= (ROWS - 1) * self.out_stride + columns
    }

    #[cfg(target_arch = "wasm32")]
    #[inline(always)]
    fn multiply<const ROWS: usize>(self) {
        use core::arch::wasm32::*;
        assert!(self.fits::<ROWS>(TILE_COLUMNS), "a tile past its operands");
        // SAFETY: `fits` has checked every load and store below against the slices' lengths.
        unsafe {
            let (x, w, out) = (self.x.as_ptr(), self.w.as_ptr(), self.out.as_mut_ptr());
            let mut sums = [[f32x4_splat(0.0); 2]; ROWS];
            if !self.first {
                for (r, sum) in sums.iter_mut().enumerate() {
                    *sum = [v128_load(out.add(r * self.out_stride) as *const v128), v128_load(out.add(r * self.out_stride + 4) as *const v128)];
                }
            }
            let mut w_row = w;
            for i in 0..self.depth {
                let (w0, w1) = (v128_load(w_row as *const v128), v128_load(w_row.add(4) as *const v128));
                for (r, sum) in sums.iter_mut().enumerate() {
                    let xi = v128_load32_splat(x.add(r * self.x_stride + i) as *const u32);
                    sum[0] = f32x4_add(sum[0], f32x4_mul(xi, w0));
                    sum[1] = f32x4_add(sum[1], f32x4_mul(xi, w1));
                }
                w_row = w_row.add(self.w_stride);
            }
            for (r, sum) in sums.iter().enumerate() {
                v128_store(out.add(r * self.out_stride) as *mut v128, sum[0]);
                v128_store(out.add(r * self.out_stride + 4) as *mut v128, sum[1]);
            }
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[inline(always)]
    fn multiply<const ROWS: usize>(self) {
        assert!(self.fits::<ROWS>(TILE_COLUMNS), "a tile past its operands");
        let mut sums = [[0f32; TILE_COLUMNS]; ROWS];
        if !self.first {
            for (r, sum) in sums.iter_mut().enumerate() {
                sum.copy_from_slice(&self.out[r * self.out_stride..][..TILE_COLUMNS]);
            }
        }
        for i in 0..self.depth {
            let w_row = &self.w[i * self.w_stride..][..TILE_COLUMNS];
            for (r, sum) in sums.iter_mut().enumerate() {
                let xi = self.x[r * self.x_stride + i];
                for (s, &wv) in sum.iter_mut().zip(w_row) {
                    *s += xi * wv;
                }
            }
        }
        for (r, sum) in sums.iter().enumerate() {
            self.out[r * self.out_stride..][..TILE_COLUMNS].copy_from_slice(sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The naive product, each output summed one term after the other.
    fn naive(x: &[f32], (m, k): (usize, usize), w: &[f32], n: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for row in 0..m {
            for column in 0..n {
                let mut sum = 0.0f32;
                for i in 0..k {
                    sum += x[row * k + i] * w[i * n + column];
                }
                out[row * n + column] = sum;
            }
        }
        out
    }

    #[test]
    fn the_blocked_product_sums_as_the_naive_loop_does_for_every_edge() {
        // Rows not a multiple of the tile's or the block's, an inner dimension of two
        // stretches and a bit, columns past the last whole tile.
        for (m, k, n) in [(1, 1, 1), (5, 3, 8), (21, 800, 19), (53, 384, 24), (4, 385, 8)] {
            let x: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.37).collect();
            let w: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.21).collect();
            let ours = matrix_product(&Tensor::from_vec(x.clone(), (m, k), &Device::Cpu).unwrap(), &Tensor::from_vec(w.clone(), (k, n), &Device::Cpu).unwrap())
                .unwrap();
            assert_eq!(ours.to_vec2::<f32>().unwrap().concat(), naive(&x, (m, k), &w, n), "{m} × {k} × {n}: the same sums, to the bit");
            let candles = Tensor::from_vec(x, (m, k), &Device::Cpu).unwrap().matmul(&Tensor::from_vec(w, (k, n), &Device::Cpu).unwrap()).unwrap();
            let worst = (ours - candles).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
            assert!(worst < 1e-3, "{m} × {k} × {n}: gemm differs by {worst}");
        }
    }

    /// The processor's own tiles (AVX2 where it has it) and the portable ones give the same
    /// bits: the same terms summed in the same order, whatever the registers.
    #[test]
    fn every_kernel_sums_to_the_same_bits() {
        for (m, k, n) in [(7, 390, 37), (48, 64, 16), (5, 1, 33)] {
            let x: Vec<f32> = (0..m * k).map(|i| ((i * 7919 % 1013) as f32 - 506.0) * 1.37e-3).collect();
            let w: Vec<f32> = (0..k * n).map(|i| ((i * 104_729 % 997) as f32 - 498.0) * 2.11e-2).collect();
            let strided = Strided { values: &w, row_stride: n, columns: n };
            let (mut dispatched, mut portable) = (vec![0f32; m * n], vec![0f32; m * n]);
            multiply(&x, (m, k), strided, &mut dispatched);
            multiply_portable(&x, (m, k), strided, &mut portable, 0);
            assert_eq!(dispatched, portable, "{m} × {k} × {n}");
            assert_eq!(portable, naive(&x, (m, k), &w, n), "{m} × {k} × {n}");
        }
    }

    #[test]
    fn each_of_a_batch_multiplies_as_candle_does() {
        // Three heads' queries [3, 5, 4] times their keys transposed [3, 4, 9], then as
        // probabilities times values [3, 9, 4]: small integers, exact either way.
        let cpu = &Device::Cpu;
        let numbers = |count: usize, seed: usize| (0..count).map(|i| ((i * seed % 9) as f32) - 4.0).collect::<Vec<_>>();
        let q = Tensor::from_vec(numbers(60, 5), (3, 5, 4), cpu).unwrap();
        let k = Tensor::from_vec(numbers(108, 7), (3, 9, 4), cpu).unwrap();
        let kt = k.t().unwrap().contiguous().unwrap();
        let ours = matrix_product(&q, &kt).unwrap();
        assert_eq!(ours.dims(), [3, 5, 9]);
        assert_eq!(ours.to_vec3::<f32>().unwrap(), q.matmul(&kt).unwrap().to_vec3::<f32>().unwrap());
        assert_eq!(matrix_product(&ours, &k).unwrap().to_vec3::<f32>().unwrap(), ours.matmul(&k).unwrap().to_vec3::<f32>().unwrap());
        assert_eq!(super::super::product(&q, &k.t().unwrap()).unwrap().to_vec3::<f32>().unwrap(), q.matmul(&kt).unwrap().to_vec3::<f32>().unwrap());
        assert!(matrix_product(&q, &kt.narrow(0, 0, 2).unwrap()).is_err(), "batches of two sizes");
    }

    #[test]
    fn a_share_of_a_wider_matrixs_columns_multiplies_in_place() {
        // W [out 24, in 6] stored column-major, as the projections keep it; a thread's share
        // is outputs 8..20, whose transpose has rows 24 apart.
        let (m, k, out) = (3, 6, 24);
        let x = Tensor::from_vec((0..m * k).map(|i| i as f32 * 0.5 - 3.0).collect::<Vec<_>>(), (m, k), &Device::Cpu).unwrap();
        let weight = Tensor::from_vec((0..out * k).map(|i| ((i * 3 % 7) as f32) - 3.0).collect::<Vec<_>>(), (out, k), &Device::Cpu).unwrap();
        let column_major = weight.t().unwrap().contiguous().unwrap().t().unwrap();
        let share = column_major.narrow(0, 8, 12).unwrap().t().unwrap(); // [in, 12], rows 24 apart
        assert_eq!(share.stride(), [24, 1]);
        let ours = matrix_product(&x, &share).unwrap().to_vec2::<f32>().unwrap();
        let theirs = x.matmul(&weight.narrow(0, 8, 12).unwrap().t().unwrap()).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(ours, theirs, "small integers: exact either way");
        let wrong = matrix_product(&x, &weight.t().unwrap()); // [6, 24] with columns 6 apart
        assert!(wrong.unwrap_err().to_string().contains("side by side"));
    }
}
