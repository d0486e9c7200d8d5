//! WAV files read into mono samples in [-1, 1] at 16 kHz: integer PCM of 8 to 32 bits or
//! 32-bit float, any number of channels (averaged), any rate (resampled).

use std::io::Cursor;

use super::SAMPLE_RATE;
use crate::error::{EngineError, Result};

/// The sound of a WAV file's bytes, mono at [`SAMPLE_RATE`].
pub fn read_wav(bytes: &[u8]) -> Result<Vec<f32>> {
    let bad = |e: hound::Error| EngineError::BadAudio(format!("not a WAV file the engine reads ({e})"));
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(bad)?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    // A header may claim more samples than the file holds: read what is there, never
    // allocate what the header says.
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<std::result::Result<_, _>>().map_err(bad)?,
        hound::SampleFormat::Int => {
            let scale = 2f32.powi(i32::from(spec.bits_per_sample.clamp(1, 32)) - 1);
            reader.into_samples::<i32>().map(|s| s.map(|v| v as f32 / scale)).collect::<std::result::Result<_, _>>().map_err(bad)?
        }
    };
    if samples.is_empty() {
        return Err(EngineError::BadAudio("the WAV file holds no sound".into()));
    }
    let mono: Vec<f32> = samples.chunks(channels).map(|frame| frame.iter().sum::<f32>() / frame.len() as f32).collect();
    Ok(resample(&mono, spec.sample_rate, SAMPLE_RATE))
}

/// `samples` at `from` Hz, at `to` Hz: a windowed-sinc interpolation (65 taps, low-passed
/// below the lower Nyquist frequency), the same filter as the reference script's.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || from == 0 || samples.is_empty() {
        return samples.to_vec();
    }
    let ratio = f64::from(from) / f64::from(to);
    let count = (samples.len() as f64 / ratio).round() as usize;
    let cutoff = (f64::from(to) / f64::from(from)).min(1.0);
    (0..count)
        .map(|i| {
            let t = i as f64 * ratio;
            let base = t.floor() as i64;
            let mut sum = 0.0;
            for tap in -32i64..=32 {
                let at = base + tap;
                if at < 0 || at as usize >= samples.len() {
                    continue;
                }
                let x = t - at as f64;
                let sinc = if x == 0.0 { 1.0 } else { (std::f64::consts::PI * cutoff * x).sin() / (std::f64::consts::PI * cutoff * x) };
                let window = 0.5 + 0.5 * (std::f64::consts::PI * x / 33.0).cos();
                sum += f64::from(samples[at as usize]) * cutoff * sinc * window;
            }
            sum as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(spec: hound::WavSpec, samples: &[i16]) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut bytes, spec).unwrap();
        for &s in samples {
            writer.write_sample(s).unwrap();
        }
        writer.finalize().unwrap();
        bytes.into_inner()
    }

    #[test]
    fn sixteen_bit_stereo_at_16_khz_is_averaged_and_scaled() {
        let spec = hound::WavSpec { channels: 2, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let samples = read_wav(&wav(spec, &[16384, 0, -32768, -32768])).unwrap();
        assert_eq!(samples, [0.25, -1.0]);
    }

    #[test]
    fn a_sine_keeps_its_pitch_when_resampled() {
        // 440 Hz at 22,050 Hz, one second: at 16 kHz, 16,000 samples of the same sine.
        let from: Vec<f32> = (0..22_050).map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 22_050.0).sin()).collect();
        let to = resample(&from, 22_050, 16_000);
        assert_eq!(to.len(), 16_000);
        let worst = (100..15_900).map(|i| (to[i] - (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16_000.0).sin()).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-3, "{worst}");
    }

    /// A WAV whose header claims four billion bytes of sound it does not hold.
    fn lying(whole: &[u8]) -> Vec<u8> {
        let mut bytes = whole.to_vec();
        let data = bytes.windows(4).position(|w| w == b"data").unwrap();
        bytes[data + 4..data + 8].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        bytes
    }

    #[test]
    fn not_a_wav_an_empty_one_a_cut_one_and_a_lying_one_say_so() {
        let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let whole = wav(spec, &[1, 2, 3, 4]);
        for (bytes, expected) in [
            (b"RIFF....not a wave".to_vec(), "not a WAV file"),
            (wav(spec, &[]), "holds no sound"),
            (whole[..whole.len() - 3].to_vec(), "not a WAV file"),
            (Vec::new(), "not a WAV file"),
            (lying(&whole), "not a WAV file"),
        ] {
            let error = read_wav(&bytes).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
