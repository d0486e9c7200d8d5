//! What a person waits for (issue 30): the page itself, served as `make run` serves it (cross-
//! origin isolated, so its worker runs on both cores), a text pasted into its box, timed from
//! the text changing to its maps on the screen as the page's own status line says it
//! (`data-waited`), beside the worker's time for the same run (`data-millis`). Each of several
//! fresh browser sessions (a new Chromium, a new profile) pastes the 21-token prompt
//! alternately with another text, and then the 2,000-token text once; a session's number is its
//! median, and the rows give the median session and the spread of the sessions.

use std::path::Path;
use std::time::Duration;

use attnscope_tests::bench::{median, Row};
use attnscope_tests::webdriver::Browser;
use serde_json::{json, Value};

use crate::numbers;

/// Fresh browser sessions, each timed on its own (the issue asks for at least five).
pub const SESSIONS: usize = 5;

/// How long a page may take to load its model and show its first maps.
const FIRST_RUN: Duration = Duration::from_secs(120);

/// One wait as the page tells it, in milliseconds from the text changing: the whole wait, the
/// worker's time, and where the wait went (request sent, answer arrived, handled, drawn).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Waited {
    pub total: f64,
    pub worker: f64,
    pub parts: [f64; 4],
}

/// One session's waits.
#[derive(Default)]
struct Session {
    short: Vec<Waited>,
    long: Option<Waited>,
}

/// The median of each of `waits`' numbers.
fn medians(waits: &[Waited]) -> Waited {
    let of = |f: &dyn Fn(&Waited) -> f64| median(&waits.iter().map(f).collect::<Vec<_>>());
    Waited { total: of(&|w| w.total), worker: of(&|w| w.worker), parts: [0, 1, 2, 3].map(|i| of(&|w| w.parts[i])) }
}

/// What a row says of where the wait went.
fn parts(w: &Waited) -> String {
    let [sent, arrived, handled, drawn] = w.parts;
    format!("request sent at {sent:.0} ms, the answer in the page at {arrived:.0}, decoded {handled:.0}, drawn {drawn:.0}, on the screen {:.0}", w.total)
}

/// Pastes `text` into the box and waits for its maps on the screen.
pub(crate) fn paste_and_wait(browser: &Browser, text: &str, timeout: Duration) -> Waited {
    let input = browser.by_test_id("prompt-input");
    browser
        .execute("const el = arguments[0]; el.value = arguments[1]; el.dispatchEvent(new Event('input', {bubbles: true}));", vec![input.as_arg(), json!(text)]);
    // The workspace shows the text's maps, and the status line says how long that took.
    let probe = "const ws = document.querySelector('[data-testid=workspace]');
                 const st = document.querySelector('[data-testid=status]');
                 if (!ws || ws.dataset.text !== arguments[0] || ws.dataset.stale !== 'false' || !st.dataset.waited) return null;
                 return [+st.dataset.waited, +st.dataset.millis, ...st.dataset.waitParts.split(',').map(Number)];";
    browser.wait_for("the text's maps on the screen", timeout, || {
        let n = numbers(&browser.execute(probe, vec![json!(text)]));
        (n.len() == 6).then(|| Waited { total: n[0], worker: n[1], parts: [n[2], n[3], n[4], n[5]] })
    })
}

/// A fresh browser session on the page at `url`, once its first maps are on the screen.
pub(crate) fn open_served_page(url: &str, flags: &[&str]) -> Browser {
    let browser = Browser::start_with(flags);
    browser.goto(url);
    browser.wait_for("the page's first maps", FIRST_RUN, || {
        let status = browser.execute("return document.querySelector('[data-testid=status]')?.dataset.waited || null;", vec![]);
        (!status.is_null()).then_some(())
    });
    browser
}

fn one_session(url: &str, (prompt, other, long): (&str, &str, &str), runs: usize, flags: &[&str], with_long: bool) -> Session {
    let browser = open_served_page(url, flags);
    let mut session = Session::default();
    // The first pair warms the worker, as a person's first texts do.
    for i in 0..=runs {
        paste_and_wait(&browser, other, FIRST_RUN);
        let timed = paste_and_wait(&browser, prompt, FIRST_RUN);
        if i > 0 {
            session.short.push(timed);
        }
    }
    session.long = with_long.then(|| paste_and_wait(&browser, long, Duration::from_secs(300)));
    session
}

/// The rows: the 21-token prompt and the long text as a person waits for them, in the median
/// session, with the worker's time beside each and wllama on two threads (`wllama_ms`, the
/// same browser and prompt) for the 21 tokens. Without `with_long`, the 21 tokens alone (`bench
/// person-short`: a few minutes to tell a drawing change's gain from the noise).
pub fn person_rows(url: &str, texts: (&str, &str, &str), runs: usize, wllama_ms: f64, flags: &[&str], with_long: bool) -> Vec<Row> {
    let sessions: Vec<Session> = (0..SESSIONS)
        .map(|i| {
            eprintln!("bench: a person's wait, fresh browser session {} of {SESSIONS}", i + 1);
            one_session(url, texts, runs, flags, with_long)
        })
        .collect();
    let short: Vec<Waited> = sessions.iter().map(|s| medians(&s.short)).collect();
    let long: Vec<Waited> = sessions.iter().filter_map(|s| s.long).collect();
    eprintln!("bench: each session's medians: {short:?}; the long text: {long:?}");
    let typical = middle(&short);
    let mut rows = vec![Row::new(
        format!(
            "SmolLM2, 21 tokens pasted in the page (`make run`'s, 2 threads), to every map on the screen as its status line says: the median of {SESSIONS} fresh browser sessions (sessions {}; the worker's own time {:.0} ms; {}); anchor: wllama 2 threads",
            spread(&short),
            typical.worker,
            parts(&typical)
        ),
        typical.total,
    )
    .anchors(&[wllama_ms])
    .target(Some(format!("≤ ⅕ wllama 2 threads ({:.0} ms; ratio {:.2})", wllama_ms / 5.0, typical.total / wllama_ms)), Some(typical.total <= wllama_ms / 5.0))];
    if !with_long {
        return rows;
    }
    let long_typical = middle(&long);
    rows.push(
        Row::new(
            format!(
                "SmolLM2, the long-text rows' 2,072 tokens pasted in the page (2 threads), to the grid and the selected map on the screen: the median of {SESSIONS} sessions (sessions {}; the worker's own time {:.0} ms; {})",
                spread(&long),
                long_typical.worker,
                parts(&long_typical)
            ),
            long_typical.total,
        )
        .target(Some("< 10 s".into()), Some(long_typical.total < 10_000.0)),
    );
    rows
}

/// The translator as a person waits for it: the page opened on English → Portuguese (2
/// threads), `text` pasted alternately with `other` in each of [`SESSIONS`] fresh sessions, to
/// the translation and its maps on the screen; anchor: the package's own engine natively
/// (`package_ms`), the target twice that.
pub fn translation_row(url: &str, (text, other): (&str, &str), runs: usize, package_ms: f64, flags: &[&str]) -> Row {
    let page = format!("{url}?model=en-pt");
    let sessions: Vec<Waited> = (0..SESSIONS)
        .map(|i| {
            eprintln!("bench: a person's translation, fresh browser session {} of {SESSIONS}", i + 1);
            medians(&one_session(&page, (text, other, ""), runs, flags, false).short)
        })
        .collect();
    eprintln!("bench: each translation session's medians: {sessions:?}");
    let typical = middle(&sessions);
    Row::new(
        format!(
            "English → Portuguese, the translation rows' 20 words pasted in the page (`make run`'s, 2 threads), to the translation and every map on the screen: the median of {SESSIONS} fresh browser sessions (sessions {}; the worker's own time {:.0} ms; {}); anchor: the package's native engine",
            spread(&sessions),
            typical.worker,
            parts(&typical)
        ),
        typical.total,
    )
    .anchors(&[package_ms])
    .target(Some(format!("≤ 2 × the package ({:.0} ms)", 2.0 * package_ms)), Some(typical.total <= 2.0 * package_ms))
}

/// A picture or a sound as a person waits for it: the page opened on `model` (2 threads), in
/// each of [`SESSIONS`] fresh sessions, its file input (`input`, a test id) given `timed` and
/// `other` alternately, from the input sent to its maps on the screen as the status line says.
pub fn input_row(url: &str, (model, input): (&str, &str), (timed, other): (&Path, &Path), runs: usize, flags: &[&str], (what, target_ms): (&str, f64)) -> Row {
    let sessions: Vec<Waited> = (0..SESSIONS)
        .map(|i| {
            eprintln!("bench: a person's {model}, fresh browser session {} of {SESSIONS}", i + 1);
            let browser = open_served_page(&format!("{url}?model={model}"), flags);
            let mut waits = Vec::new();
            for i in 0..=runs {
                open_and_wait(&browser, input, other);
                let wait = open_and_wait(&browser, input, timed);
                if i > 0 {
                    waits.push(wait);
                }
            }
            medians(&waits)
        })
        .collect();
    eprintln!("bench: each {model} session's medians: {sessions:?}");
    let typical = middle(&sessions);
    Row::new(
        format!(
            "{what} opened in the page (`make run`'s, 2 threads), to every map on the screen as its status line says: the median of {SESSIONS} fresh browser sessions (sessions {}; the worker's own time {:.0} ms; {})",
            spread(&sessions),
            typical.worker,
            parts(&typical)
        ),
        typical.total,
    )
    .target(Some(format!("under {target_ms:.0} ms")), Some(typical.total < target_ms))
}

/// Gives `path` to the page's file input `input` and waits for its maps on the screen: the
/// status line's wait, cleared first, said again for the new input's run.
pub(crate) fn open_and_wait(browser: &Browser, input: &str, path: &Path) -> Waited {
    browser.execute("delete document.querySelector('[data-testid=status]').dataset.waited;", vec![]);
    browser.type_text(&browser.by_test_id(input), &path.display().to_string());
    let probe = "const st = document.querySelector('[data-testid=status]');
                 if (!st.dataset.waited) return null;
                 return [+st.dataset.waited, +st.dataset.millis, ...st.dataset.waitParts.split(',').map(Number)];";
    browser.wait_for("the input's maps on the screen", FIRST_RUN, || {
        let n = numbers(&browser.execute(probe, vec![]));
        (n.len() == 6).then(|| Waited { total: n[0], worker: n[1], parts: [n[2], n[3], n[4], n[5]] })
    })
}

/// The sessions' waits, least to most: "a-b ms".
fn spread(values: &[Waited]) -> String {
    let totals = values.iter().map(|w| w.total);
    format!("{:.0}-{:.0} ms", totals.clone().fold(f64::INFINITY, f64::min), totals.fold(0.0, f64::max))
}

/// The median session: the one whose wait is the median's (of an odd count, one of them).
fn middle(values: &[Waited]) -> Waited {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total.total_cmp(&b.total));
    sorted[sorted.len() / 2]
}

/// wllama on two threads on the 21-token prompt, in a browser of its own: its median.
pub fn wllama_two_threads(browser: &Browser, page: &str, gguf: &str, prompt: &str, runs: usize) -> f64 {
    let config = json!({"gguf": gguf, "threads": 2, "prompts": [{"label": "21 tokens", "text": prompt, "max_tokens": 512}], "runs": runs});
    let out: Value = crate::in_page(browser, page, "benchWllama", config);
    median(&numbers(&out["prompts"][0]["promptMs"]))
}
