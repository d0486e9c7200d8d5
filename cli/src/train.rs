//! `attnscope train dates`: a dates model trained from a seed, its progress on stderr, its
//! files written where `run` and the page read them.

use std::time::Instant;

use engine::rnn::seq2seq::Score;
use engine::train::dates_training::{DatesSettings, DatesTraining};

use crate::flags::TrainFlags;
use crate::{usage, Failure};

/// How often the held-out dates are decoded (each time about as long as a batch's step).
const MEASURE_EVERY: usize = 25;
/// How many held-out dates are decoded: 1,000 give the share exact within ±0.6% at 99%.
const HELD_OUT: usize = 1000;

pub fn train(flags: TrainFlags) -> Result<(), Failure> {
    let TrainFlags { task, score, seed, out, steps, until } = flags;
    if task != "dates" {
        return Err(usage(format!("`{task}` is not a task attnscope trains; it trains: dates")));
    }
    let score = Score::parse(&score).ok_or_else(|| usage(format!("--score {score}: give additive, dot, general, concat or local")))?;
    if !(0.0..=1.0).contains(&until) {
        return Err(usage(format!("--until {until}: give a share between 0 and 1")));
    }
    // The dates models' matrices are small (64 × 96): split over threads they take longer
    // (125 batches: 12.3 s on two threads, 8.4 s on one, measured on two cores). candle reads
    // the thread count from RAYON_NUM_THREADS at each product; a person's own setting stands.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // Set before any thread of this process starts.
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    std::fs::create_dir_all(&out).map_err(|e| Failure::Input(format!("cannot make {}: {e}", out.display())))?;
    let mut training = DatesTraining::new(DatesSettings::new(score, seed), HELD_OUT)?;
    let started = Instant::now();
    let mut losses = Vec::new();
    while training.steps < steps {
        losses.push(training.step()?);
        if training.steps.is_multiple_of(MEASURE_EVERY) || training.steps == steps {
            let measured = training.evaluate()?;
            let mean_loss = losses.iter().sum::<f64>() / losses.len().max(1) as f64;
            losses.clear();
            eprintln!(
                "step {:>5}  loss {mean_loss:.4}  held-out exact {:5.1}%  digits read from their field {:5.1}%  {:.1} s",
                training.steps,
                100.0 * measured.exact,
                100.0 * measured.digits_in_field,
                started.elapsed().as_secs_f64()
            );
            if measured.exact >= until {
                break;
            }
        }
    }
    let files = training.files()?;
    for (name, bytes) in [("config.json", &files.config), ("vocabulary.json", &files.vocabulary), ("model.safetensors", &files.weights)] {
        std::fs::write(out.join(name), bytes).map_err(|e| Failure::Input(format!("cannot write {}: {e}", out.join(name).display())))?;
    }
    eprintln!("wrote {} ({} batches of {})", out.display(), training.steps, training.settings().batch);
    Ok(())
}
