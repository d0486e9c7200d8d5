//! `attnscope train dates|digits`: a model trained from a seed, its progress on stderr, its
//! files written to a folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use engine::rnn::glimpse::Glimpse;
use engine::rnn::seq2seq::Score;
use engine::train::dates_training::{DatesSettings, DatesTraining};
use engine::train::digits::Digits;
use engine::train::digits_training::{DigitsSettings, DigitsTraining};

use crate::flags::TrainFlags;
use crate::{usage, Failure};

/// How often the held-out examples are read (each time about as long as a batch's step).
const MEASURE_EVERY: usize = 25;
/// How many held-out dates are decoded: 1,000 give the share exact within ±0.6% at 99%.
const HELD_OUT: usize = 1000;

/// A training that steps a batch at a time and measures itself.
trait Steps {
    fn step(&mut self) -> engine::Result<f64>;
    fn steps(&self) -> usize;
    /// The share exact, and the line stderr shows.
    fn measure(&self) -> engine::Result<(f64, String)>;
    /// The files to write, by name.
    fn files(&self) -> engine::Result<Vec<(&'static str, Vec<u8>)>>;
}

impl Steps for DatesTraining {
    fn step(&mut self) -> engine::Result<f64> {
        DatesTraining::step(self)
    }
    fn steps(&self) -> usize {
        self.steps
    }
    fn measure(&self) -> engine::Result<(f64, String)> {
        let m = self.evaluate()?;
        Ok((m.exact, format!("held-out exact {:5.1}%  digits read from their field {:5.1}%", 100.0 * m.exact, 100.0 * m.digits_in_field)))
    }
    fn files(&self) -> engine::Result<Vec<(&'static str, Vec<u8>)>> {
        let files = DatesTraining::files(self)?;
        Ok(vec![("config.json", files.config), ("vocabulary.json", files.vocabulary), ("model.safetensors", files.weights)])
    }
}

impl Steps for DigitsTraining {
    fn step(&mut self) -> engine::Result<f64> {
        DigitsTraining::step(self)
    }
    fn steps(&self) -> usize {
        self.steps
    }
    fn measure(&self) -> engine::Result<(f64, String)> {
        let m = self.evaluate()?;
        let line = format!(
            "held-out strips read whole {:5.1}%  digits {:5.1}%  looked at the digit written {:5.1}%",
            100.0 * m.exact,
            100.0 * m.digits,
            100.0 * m.on_digit
        );
        Ok((m.exact, line))
    }
    fn files(&self) -> engine::Result<Vec<(&'static str, Vec<u8>)>> {
        let (config, weights) = DigitsTraining::files(self)?;
        Ok(vec![("config.json", config), ("model.safetensors", weights)])
    }
}

pub fn train(flags: TrainFlags) -> Result<(), Failure> {
    let TrainFlags { task, score, attention, data, seed, out, steps, until } = flags;
    let until = until.unwrap_or(if task == "digits" { 0.85 } else { 0.99 });
    if !(0.0..=1.0).contains(&until) {
        return Err(usage(format!("--until {until}: give a share between 0 and 1")));
    }
    let mut training: Box<dyn Steps> = match task.as_str() {
        "dates" => {
            let score = Score::parse(&score).ok_or_else(|| usage(format!("--score {score}: give additive, dot, general, concat or local")))?;
            Box::new(DatesTraining::new(DatesSettings::new(score, seed), HELD_OUT)?)
        }
        "digits" => {
            let attention = Glimpse::parse(&attention).ok_or_else(|| usage(format!("--attention {attention}: give soft or hard")))?;
            let digits = read_digits(data.as_deref())?;
            Box::new(DigitsTraining::new(DigitsSettings::new(attention, seed), Arc::new(digits), HELD_OUT)?)
        }
        _ => return Err(usage(format!("`{task}` is not a task attnscope trains; it trains: dates, digits"))),
    };
    // The models' matrices are small (64 × 96): split over threads they take longer (125
    // batches of dates: 12.3 s on two threads, 8.4 s on one, measured on two cores). candle
    // reads the thread count from RAYON_NUM_THREADS at each product; a person's own setting
    // stands.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // Set before any product of this process runs, so before rayon's threads start.
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    engine::train::keep_freed_memory();
    std::fs::create_dir_all(&out).map_err(|e| Failure::Input(format!("cannot make {}: {e}", out.display())))?;
    let started = Instant::now();
    let mut losses = Vec::new();
    while training.steps() < steps {
        losses.push(training.step()?);
        let at = training.steps();
        if at.is_multiple_of(MEASURE_EVERY) || at == steps {
            let (exact, line) = training.measure()?;
            let mean_loss = losses.iter().sum::<f64>() / losses.len().max(1) as f64;
            losses.clear();
            eprintln!("step {at:>5}  loss {mean_loss:.4}  {line}  {:.1} s", started.elapsed().as_secs_f64());
            if exact >= until {
                break;
            }
        }
    }
    for (name, bytes) in training.files()? {
        std::fs::write(out.join(name), bytes).map_err(|e| Failure::Input(format!("cannot write {}: {e}", out.join(name).display())))?;
    }
    eprintln!("wrote {} ({} batches)", out.display(), training.steps());
    Ok(())
}

/// scikit-learn's digits: `--data`, else the copy `make models` fetched.
fn read_digits(data: Option<&Path>) -> Result<Digits, Failure> {
    let path = data.map(Path::to_path_buf).unwrap_or_else(|| {
        let fetched = Path::new("assets/data/digits/digits.csv.gz");
        let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/data/digits/digits.csv.gz");
        if fetched.is_file() {
            fetched.to_path_buf()
        } else {
            beside
        }
    });
    let bytes = std::fs::read(&path)
        .map_err(|e| Failure::Input(format!("cannot read {} ({e}): give scikit-learn's digits.csv.gz with --data, or run `make models`", shown(&path))))?;
    Ok(Digits::from_gzip(&bytes)?)
}

fn shown(path: &Path) -> String {
    PathBuf::from(path).display().to_string()
}
