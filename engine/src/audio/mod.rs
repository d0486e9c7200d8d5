//! Sound in: a WAV file's samples as 16 kHz mono, and the log-mel spectrogram Whisper
//! reads (the page decodes other formats with the browser and hands over the samples).

pub mod mel;
pub mod wav;

/// The rate every model here hears at.
pub const SAMPLE_RATE: u32 = 16_000;
