//! `attnscope train dates|digits|memory|snail`: a model trained from a seed, its progress on stderr, its
//! files written to a folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use engine::rnn::glimpse::Glimpse;
use engine::rnn::seq2seq::Score;
use engine::train::babi::Task;
use engine::train::dates_training::{DatesSettings, DatesTraining};
use engine::train::digits::Digits;
use engine::train::digits_training::{DigitsSettings, DigitsTraining};
use engine::train::memory_training::{MemorySettings, MemoryTraining};
use engine::train::omniglot::Omniglot;
use engine::train::snail_training::{SnailSettings, SnailTraining};
use engine::train::Learning;

use crate::flags::TrainFlags;
use crate::{usage, Failure};

/// How often the held-out examples are read (each time about as long as a batch's step).
const MEASURE_EVERY: usize = 25;
/// How many held-out dates are decoded: 1,000 give the share exact within ±0.6% at 99%.
const HELD_OUT: usize = 1000;

/// The line stderr shows of a measure, (share exact, share read from the right place).
fn measured(task: &str, preparing: bool, (exact, placed): (f64, f64)) -> String {
    if task == "snail" && preparing {
        format!(
            "picture embedding: new alphabets 5-way by nearest neighbour {:5.1}%  held-out background drawings classified {:5.1}%",
            100.0 * exact,
            100.0 * placed
        )
    } else if task == "snail" {
        format!("new alphabets 5-way 1-shot {:5.1}% (chance 20%)  the query's attention on its class's example {:5.1}%", 100.0 * exact, 100.0 * placed)
    } else if task == "digits" {
        format!("held-out strips read whole {:5.1}%  looked at the digit written {:5.1}%", 100.0 * exact, 100.0 * placed)
    } else if task == "memory" {
        format!("held-out stories answered {:5.1}%  supporting facts weighed most by a hop {:5.1}%", 100.0 * exact, 100.0 * placed)
    } else {
        format!("held-out exact {:5.1}%  digits read from their field {:5.1}%", 100.0 * exact, 100.0 * placed)
    }
}

pub fn train(flags: TrainFlags) -> Result<(), Failure> {
    let TrainFlags { task, score, attention, data, babi_task, seed, out, steps, until } = flags;
    let until = until.unwrap_or(match (task.as_str(), babi_task) {
        ("digits", _) => 0.85,
        // A point above each aim (95%, 90%), so the written model meets it on other stories.
        ("memory", 1) => 0.96,
        ("memory", _) => 0.91,
        // Seeds 1–3 pass it after 3,775–4,775 batches and end 6,000 at 73–76% (chance 20%),
        // measured on 400 episodes.
        ("snail", _) => 0.72,
        _ => 0.99,
    });
    let steps = steps.unwrap_or(if task == "snail" { 6000 } else { 3000 });
    if !(0.0..=1.0).contains(&until) {
        return Err(usage(format!("--until {until}: give a share between 0 and 1")));
    }
    let mut training: Box<dyn Learning> = match task.as_str() {
        "dates" => {
            let score = Score::parse(&score).ok_or_else(|| usage(format!("--score {score}: give additive, dot, general, concat or local")))?;
            Box::new(DatesTraining::new(DatesSettings::new(score, seed), HELD_OUT)?)
        }
        "digits" => {
            let attention = Glimpse::parse(&attention).ok_or_else(|| usage(format!("--attention {attention}: give soft or hard")))?;
            let digits = read_digits(data.as_deref())?;
            Box::new(DigitsTraining::new(DigitsSettings::new(attention, seed), Arc::new(digits), HELD_OUT)?)
        }
        "memory" => {
            let babi = Task::from_number(babi_task).ok_or_else(|| usage(format!("--task {babi_task}: give 1 or 2")))?;
            Box::new(MemoryTraining::new(MemorySettings::new(babi, seed), HELD_OUT)?)
        }
        "snail" => Box::new(SnailTraining::new(SnailSettings::new(seed), Arc::new(read_omniglot(data.as_deref())?))?),
        _ => return Err(usage(format!("`{task}` is not a task attnscope trains; it trains: dates, digits, memory, snail"))),
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
            let measure = training.measure()?;
            let preparing = training.is_preparing();
            let (exact, line) = (measure.0, measured(&task, preparing, measure));
            let mean_loss = losses.iter().sum::<f64>() / losses.len().max(1) as f64;
            losses.clear();
            eprintln!("step {at:>5}  loss {mean_loss:.4}  {line}  {:.1} s", started.elapsed().as_secs_f64());
            if exact >= until && !preparing {
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

/// A file of assets/data: in the working folder's, else in the project's the program was
/// built from.
fn data_file(relative: &str) -> PathBuf {
    let here = Path::new("assets/data").join(relative);
    if here.is_file() {
        here
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/data").join(relative)
    }
}

/// Omniglot as the project keeps it: `--data FOLDER` (its index.json and images.bin.gz), else
/// assets/data/omniglot.
fn read_omniglot(data: Option<&Path>) -> Result<Omniglot, Failure> {
    let folder = data.map(Path::to_path_buf).unwrap_or_else(|| data_file("omniglot/index.json").with_file_name(""));
    let read = |name: &str| {
        let path = folder.join(name);
        std::fs::read(&path)
            .map_err(|e| Failure::Input(format!("cannot read {} ({e}): give the folder of Omniglot's index.json and images.bin.gz with --data", shown(&path))))
    };
    Ok(Omniglot::from_files(&read("index.json")?, &read("images.bin.gz")?)?)
}

/// scikit-learn's digits: `--data`, else the copy `make models` fetched.
fn read_digits(data: Option<&Path>) -> Result<Digits, Failure> {
    let path = data.map(Path::to_path_buf).unwrap_or_else(|| data_file("digits/digits.csv.gz"));
    let bytes = std::fs::read(&path)
        .map_err(|e| Failure::Input(format!("cannot read {} ({e}): give scikit-learn's digits.csv.gz with --data, or run `make models`", shown(&path))))?;
    Ok(Digits::from_gzip(&bytes)?)
}

fn shown(path: &Path) -> String {
    PathBuf::from(path).display().to_string()
}
