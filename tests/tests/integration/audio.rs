//! Sound in: the log-mel Whisper reads, against transformers' WhisperFeatureExtractor on
//! the same 16 kHz samples (tests/fixtures/whisper/<clip>.*, made by
//! scripts/whisper_reference.py reference).

use attnscope_tests::root;
use candle_core::Device;
use engine::audio::mel::{log_mel, FRAMES};
use engine::audio::wav::read_wav;

#[test]
fn the_log_mel_is_transformers_to_1e_4() {
    for clip in super::speech::CLIPS {
        log_mel_of(clip);
    }
}

fn log_mel_of(clip: &str) {
    let folder = root().join("tests/fixtures/whisper");
    let samples = read_wav(&std::fs::read(folder.join(format!("{clip}.wav"))).unwrap()).unwrap();
    assert_eq!(samples.len(), super::speech::record(clip).samples, "{clip}: 16 kHz samples");
    let mel = log_mel(&samples, 80);
    assert_eq!((mel.mels, mel.frames), (80, FRAMES));

    let reference = candle_core::safetensors::load(folder.join(format!("{clip}.safetensors")), &Device::Cpu).unwrap();
    let head = reference["mel_head"].to_vec2::<f32>().unwrap();
    let padding = reference["padding_value"].to_vec1::<f32>().unwrap()[0];
    let kept = head[0].len();
    let mut worst = (0.0f32, 0, 0);
    for (m, row) in head.iter().enumerate() {
        for (t, &want) in row.iter().enumerate() {
            let diff = (mel.at(m, t) - want).abs();
            if diff > worst.0 {
                worst = (diff, m, t);
            }
        }
    }
    eprintln!("{clip} log-mel: largest difference {:.2e} (mel {}, frame {})", worst.0, worst.1, worst.2);
    assert!(worst.0 <= 1e-4, "mel {} frame {}: off by {}", worst.1, worst.2, worst.0);
    // Every frame past the sound is silence's one value.
    let tail = (0..80).flat_map(|m| (kept..FRAMES).map(move |t| (m, t)));
    let off = tail.map(|(m, t)| (mel.at(m, t) - padding).abs()).fold(0.0, f32::max);
    assert!(off <= 1e-4, "the padding frames are off by {off}");
}
