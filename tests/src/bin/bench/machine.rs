//! Which machine a table was measured on, and whether it was quiet: another process taking
//! the cores, or the machine slowing down (a shared host's neighbours, a throttled processor)
//! while the benchmark ran, changes every row and nothing in the code.

use std::hint::black_box;
use std::time::{Duration, Instant};

use attnscope_tests::bench::median;
use attnscope_tests::webdriver::Browser;

/// Another process's share of the cores before the benchmark starts above which the table
/// is not to be trusted: a tenth of the machine is already more than the rows' own spread.
const BUSY_SHARE: f64 = 0.10;
/// How much the reference loop may slow between the start and the end: the spread of its own
/// repeats on a quiet machine is a few percent, so a tenth means the machine changed.
const SLOWER_BY: f64 = 0.10;

/// The machine's state when the benchmark started.
pub(crate) struct Watch {
    /// The other processes' share of all cores over the second before the start.
    busy_before: Option<f64>,
    /// The reference loop's median time at the start.
    reference_before: Duration,
    /// The memory sweep's median time at the start.
    memory_before: Duration,
}

impl Watch {
    /// Measures the machine before anything of the benchmark runs, and says so on stderr.
    pub(crate) fn start() -> Self {
        let busy_before = busy_share(Duration::from_secs(1));
        let (reference_before, memory_before) = (reference_loop(), memory_sweep());
        eprintln!(
            "bench: {}; before the start {} of the cores busy, the reference loop {:.0} ms, the memory sweep {:.0} ms",
            processor(),
            busy_before.map_or("(unknown)".into(), |b| format!("{:.0} %", b * 100.0)),
            reference_before.as_secs_f64() * 1e3,
            memory_before.as_secs_f64() * 1e3
        );
        Watch { busy_before, reference_before, memory_before }
    }

    /// The reference loop timed again: one sentence for the table, with a warning when the
    /// machine was busy at the start or slower at the end.
    pub(crate) fn verdict(&self) -> String {
        let after = reference_loop();
        let (before_ms, after_ms) = (self.reference_before.as_secs_f64() * 1e3, after.as_secs_f64() * 1e3);
        let change = after_ms / before_ms - 1.0;
        let memory_after = memory_sweep();
        let (memory_before_ms, memory_after_ms) = (self.memory_before.as_secs_f64() * 1e3, memory_after.as_secs_f64() * 1e3);
        let memory_change = memory_after_ms / memory_before_ms - 1.0;
        let busy = self.busy_before.unwrap_or(0.0);
        let mut warnings = Vec::new();
        if busy > BUSY_SHARE {
            warnings.push(format!("other processes took {:.0} % of the cores before the start", busy * 100.0));
        }
        if change.abs() > SLOWER_BY {
            warnings.push(format!("the reference loop took {before_ms:.0} ms at the start and {after_ms:.0} ms at the end ({:+.0} %)", change * 100.0));
        }
        let measured = format!(
            "A reference loop on one core took {before_ms:.0} ms before and {after_ms:.0} ms after ({:+.1} %), reading 256 MB eight times {memory_before_ms:.0} and {memory_after_ms:.0} ms ({:+.1} %); {:.0} % of the cores were busy before the start.",
            change * 100.0,
            memory_change * 100.0,
            busy * 100.0
        );
        if warnings.is_empty() {
            measured
        } else {
            let warning = format!("**Warning: the machine was not quiet**: {}. Measure again on a quiet machine.", warnings.join("; "));
            eprintln!("bench: {warning}");
            format!("{measured} {warning}")
        }
    }
}

/// The processor's name and the number of cores the benchmark may use.
pub(crate) fn processor() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| info.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|s| s.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

/// The date, the machine and the browser the table was measured on.
pub(crate) fn facts(browser: &Browser) -> String {
    let agent = browser.execute("return navigator.userAgent;", vec![]);
    let chromium = agent.as_str().and_then(|a| a.split("Chrome/").nth(1)).and_then(|v| v.split(' ').next()).unwrap_or("?").to_string();
    let date = std::process::Command::new("date").arg("+%Y-%m-%d").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
    format!(
        "Measured {date} on {}, headless Chromium {chromium}; attnscope's worker runs on one thread but in the rows that say 2 threads (the worker with wasm threads, as a cross-origin isolated page runs it).",
        processor()
    )
}

/// The share of all cores (0 to 1) that was not idle over `span`, from the kernel's counters
/// (Linux's /proc/stat; `None` elsewhere). The benchmark runs nothing meanwhile, so it is
/// other processes' share.
fn busy_share(span: Duration) -> Option<f64> {
    // (busy, total) jiffies of all cores: idle and iowait are the idle columns.
    let read = || -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
        let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
        let total: u64 = fields.iter().take(8).sum();
        Some((total - idle, total))
    };
    let (busy0, total0) = read()?;
    std::thread::sleep(span);
    let (busy1, total1) = read()?;
    (total1 > total0).then(|| (busy1 - busy0) as f64 / (total1 - total0) as f64)
}

/// The median of 7 timings of one core reading 256 MB eight times (the weights of a model do not fit any
/// cache: a run waits on memory as much as on arithmetic, and a shared host's neighbours take
/// memory bandwidth without taking a core, which the reference loop would not see).
fn memory_sweep() -> Duration {
    let words = vec![1u64; 32 << 20];
    // An untimed sweep first: the pages' first touches are not what is measured.
    black_box(black_box(&words).iter().fold(0u64, |sum, w| sum.wrapping_add(*w)));
    let times: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..8 {
                black_box(black_box(&words).iter().fold(0u64, |sum, w| sum.wrapping_add(*w)));
            }
            start.elapsed().as_secs_f64()
        })
        .collect();
    Duration::from_secs_f64(median(&times))
}

/// The median of 5 timings of a fixed loop on one core (floating-point multiplies and adds
/// and integer mixing, about 0.2 s): it depends only on the processor's speed and on what else
/// runs beside it.
fn reference_loop() -> Duration {
    let times: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let (mut x, mut state) = (black_box(1.0f64), black_box(0x9e37_79b9_7f4a_7c15u64));
            for _ in 0..120_000_000u32 {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                x = x * 0.999_999 + (state >> 40) as f64 * 1e-9;
            }
            black_box((x, state));
            start.elapsed().as_secs_f64()
        })
        .collect();
    Duration::from_secs_f64(median(&times))
}
