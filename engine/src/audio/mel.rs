//! The log-mel spectrogram as Whisper computes it (OpenAI's `log_mel_spectrogram`, and
//! transformers' `WhisperFeatureExtractor`): 30 s of 16 kHz sound (cut or padded with
//! silence), a centred short-time Fourier transform (400-sample periodic Hann windows every
//! 160 samples, the signal reflected at its ends), power, a Slaney mel filter bank up to
//! 8 kHz, log10 floored at 1e-10, everything below the loudest value minus 8 raised to it,
//! then (x + 4) / 4. 3000 frames of 10 ms.

use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

use super::SAMPLE_RATE;

/// The window and the step of the transform, in samples.
pub const N_FFT: usize = 400;
pub const HOP: usize = 160;
/// What the model hears at once: 30 s.
pub const CHUNK_SAMPLES: usize = 30 * SAMPLE_RATE as usize;
/// Frames of a chunk: one per hop (the transform's last frame is dropped, as Whisper does).
pub const FRAMES: usize = CHUNK_SAMPLES / HOP;
/// Frequency bins of one transform.
const BINS: usize = N_FFT / 2 + 1;

/// A log-mel spectrogram, [mels, frames] row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct LogMel {
    pub mels: usize,
    pub frames: usize,
    pub values: Vec<f32>,
}

impl LogMel {
    pub fn at(&self, mel: usize, frame: usize) -> f32 {
        self.values[mel * self.frames + frame]
    }
}

/// Whisper's log-mel of `samples` (16 kHz mono): the first 30 s, padded with silence.
pub fn log_mel(samples: &[f32], mels: usize) -> LogMel {
    let signal: Vec<f64> = (0..CHUNK_SAMPLES).map(|i| samples.get(i).map_or(0.0, |&s| f64::from(s))).collect();
    // Centred frames: the signal reflected by half a window at both ends.
    let half = N_FFT / 2;
    let reflected = |i: usize| -> f64 {
        let at = i as i64 - half as i64;
        let n = CHUNK_SAMPLES as i64;
        let at = if at < 0 {
            -at
        } else if at >= n {
            2 * n - 2 - at
        } else {
            at
        };
        signal[at as usize]
    };
    let window: Vec<f64> = (0..N_FFT).map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos()).collect();
    let filters = mel_filters(mels);
    let fft = FftPlanner::<f64>::new().plan_fft_forward(N_FFT);
    let mut buffer = vec![Complex::new(0.0, 0.0); N_FFT];
    let mut power = vec![0.0f64; BINS];
    // [mels, frames], log10 of the mel energies.
    let mut values = vec![0.0f64; mels * FRAMES];
    // Each triangle covers a few bins: its first and last non-zero one.
    let spans: Vec<(usize, usize)> = (0..mels)
        .map(|m| {
            let row = &filters[m * BINS..(m + 1) * BINS];
            let first = row.iter().position(|&f| f != 0.0).unwrap_or(0);
            (first, row.iter().rposition(|&f| f != 0.0).map_or(first, |last| last + 1))
        })
        .collect();
    for frame in 0..FRAMES {
        let start = frame * HOP;
        // A window of silence (the padding after a short sound) transforms to zeros: its
        // energies are the floor, with no transform to run.
        if (start..start + N_FFT).all(|i| reflected(i) == 0.0) {
            (0..mels).for_each(|m| values[m * FRAMES + frame] = 1e-10f64.log10());
            continue;
        }
        for (n, slot) in buffer.iter_mut().enumerate() {
            *slot = Complex::new(reflected(start + n) * window[n], 0.0);
        }
        fft.process(&mut buffer);
        for (k, p) in power.iter_mut().enumerate() {
            *p = buffer[k].norm_sqr();
        }
        for (m, &(first, last)) in spans.iter().enumerate() {
            let energy: f64 = filters[m * BINS + first..m * BINS + last].iter().zip(&power[first..last]).map(|(f, p)| f * p).sum();
            values[m * FRAMES + frame] = energy.max(1e-10).log10();
        }
    }
    let loudest = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let values = values.into_iter().map(|v| ((v.max(loudest - 8.0) + 4.0) / 4.0) as f32).collect();
    LogMel { mels, frames: FRAMES, values }
}

/// Slaney's mel scale: linear to 1 kHz, logarithmic above.
fn hz_to_mel(hz: f64) -> f64 {
    if hz < 1000.0 {
        3.0 * hz / 200.0
    } else {
        15.0 + (hz / 1000.0).ln() * 27.0 / 6.4f64.ln()
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel < 15.0 {
        200.0 * mel / 3.0
    } else {
        1000.0 * (6.4f64.ln() / 27.0 * (mel - 15.0)).exp()
    }
}

/// `mels` triangular filters over the transform's bins (0 to 8 kHz), each scaled to unit
/// area (Slaney's norm), [mels, bins]: librosa's and transformers' `mel_filter_bank`.
pub fn mel_filters(mels: usize) -> Vec<f64> {
    let nyquist = f64::from(SAMPLE_RATE) / 2.0;
    let (low, high) = (hz_to_mel(0.0), hz_to_mel(nyquist));
    let edges: Vec<f64> = (0..mels + 2).map(|i| mel_to_hz(low + (high - low) * i as f64 / (mels + 1) as f64)).collect();
    let mut filters = vec![0.0; mels * BINS];
    for m in 0..mels {
        let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
        let area = 2.0 / (right - left);
        for k in 0..BINS {
            let hz = nyquist * k as f64 / (BINS - 1) as f64;
            let rising = (hz - left) / (centre - left);
            let falling = (right - hz) / (right - centre);
            filters[m * BINS + k] = rising.min(falling).max(0.0) * area;
        }
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mel_scale_is_linear_to_a_kilohertz_and_round_trips() {
        assert_eq!(hz_to_mel(1000.0), 15.0);
        assert_eq!(hz_to_mel(500.0), 7.5);
        for hz in [0.0, 250.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9, "{hz}");
        }
    }

    #[test]
    fn a_pure_tone_is_loudest_in_the_band_around_its_pitch() {
        let tone: Vec<f32> = (0..SAMPLE_RATE as usize).map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / SAMPLE_RATE as f32).sin() * 0.5).collect();
        let mel = log_mel(&tone, 80);
        assert_eq!((mel.mels, mel.frames), (80, 3000));
        // Frame 50 (0.5 s): the band whose centre is nearest 1 kHz is the loudest.
        let loudest = (0..80).max_by(|&a, &b| mel.at(a, 50).total_cmp(&mel.at(b, 50))).unwrap();
        let (low, high) = (hz_to_mel(0.0), hz_to_mel(8000.0));
        let centre = |m: usize| mel_to_hz(low + (high - low) * (m + 1) as f64 / 81.0);
        let nearest = (0..80).min_by(|&a, &b| (centre(a) - 1000.0).abs().total_cmp(&(centre(b) - 1000.0).abs())).unwrap();
        assert!(loudest.abs_diff(nearest) <= 1, "loudest {loudest}, nearest {nearest}");
        // Past the tone, silence: the floor, eight decades under the loudest, (x + 4) / 4 apart.
        let top = mel.values.iter().copied().fold(f32::MIN, f32::max);
        assert!((mel.at(0, 2000) - (top - 2.0)).abs() < 1e-6, "{} vs {}", mel.at(0, 2000), top - 2.0);
    }
}
