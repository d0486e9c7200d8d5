//! A small WebDriver client for Debian's chromedriver and headless Chromium:
//! enough to open a page, find elements, type, click, hover, run a script and
//! take a screenshot. Synchronous, so a test reads top to bottom.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The W3C element key in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    profile: std::path::PathBuf,
}

#[derive(Clone, Debug)]
pub struct Element {
    id: String,
}

impl Element {
    /// The element a script returned.
    pub fn from_reference(value: &Value) -> Self {
        Element { id: value[ELEMENT].as_str().expect("a script returned an element").to_string() }
    }

    /// The element as a script argument.
    pub fn as_arg(&self) -> Value {
        json!({ELEMENT: self.id})
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`Browser::start`] with more Chromium switches.
    pub fn start_with(extra_args: &[&str]) -> Self {
        Self::launch(extra_args, None)
    }

    /// [`Browser::start`] saving downloads into `dir` without asking, as a person's
    /// browser set to save does.
    pub fn start_downloading_to(dir: &Path) -> Self {
        Self::launch(&[], Some(dir))
    }

    fn launch(extra_args: &[&str], downloads: Option<&Path>) -> Self {
        let port = free_port();
        let driver = Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (make test installs Debian's chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = std::env::temp_dir().join(format!("attnscope-chromium-{}-{port}", std::process::id()));
        let mut browser = Self { driver, base, profile: profile.clone() };
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
        ];
        let profile_arg = format!("--user-data-dir={}", profile.display());
        args.push(&profile_arg);
        args.extend_from_slice(extra_args);
        let prefs = match downloads {
            // A person who saves several exports from one page has allowed it to download
            // more than one file (Chromium asks once, then remembers).
            Some(dir) => json!({
                "download.default_directory": dir, "download.prompt_for_download": false, "download.directory_upgrade": true,
                "profile.default_content_setting_values.automatic_downloads": 1
            }),
            None => json!({}),
        };
        let answer = browser.post_raw(
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args, "prefs": prefs},
                "goog:loggingPrefs": {"browser": "ALL"}
            }}}),
        );
        let session = answer["sessionId"].as_str().expect("a WebDriver session").to_string();
        browser.base = format!("{}/session/{session}", browser.base);
        browser
    }

    fn post_raw(&self, path: &str, body: Value) -> Value {
        let response = ureq::post(&format!("{}{path}", self.base)).send_json(body);
        let value: Value = match response {
            Ok(r) => r.into_json().unwrap(),
            Err(ureq::Error::Status(_, r)) => r.into_json().unwrap(),
            Err(e) => panic!("WebDriver {path}: {e}"),
        };
        if let Some(error) = value["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", value["value"]["message"]);
        }
        value["value"].clone()
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.post_raw(path, body)
    }

    fn get(&self, path: &str) -> Value {
        let value: Value = ureq::get(&format!("{}{path}", self.base)).call().unwrap().into_json().unwrap();
        value["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url}));
    }

    /// Runs `script` as an async function body: it calls `arguments[arguments.length - 1]`
    /// with its result.
    pub fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("/execute/async", json!({"script": script, "args": args}))
    }

    /// Sends a DevTools protocol command to the page (chromedriver's `goog/cdp/execute`): the
    /// profiler and tracing that a benchmark's investigation needs.
    pub fn devtools(&self, command: &str, params: Value) -> Value {
        self.post("/goog/cdp/execute", json!({"cmd": command, "params": params}))
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
    }

    /// The elements matching a CSS selector, now.
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self.post("/elements", json!({"using": "css selector", "value": css}));
        found.as_array().unwrap().iter().map(|e| Element { id: e[ELEMENT].as_str().unwrap().to_string() }).collect()
    }

    /// The element with `data-testid="id"`, waiting up to 10 s for it to appear.
    pub fn by_test_id(&self, id: &str) -> Element {
        let css = format!("[data-testid=\"{id}\"]");
        self.wait_for(&format!("element {id}"), Duration::from_secs(10), || self.find_all(&css).into_iter().next())
    }

    /// Polls `probe` until it gives `Some`, or gives `None` after `timeout`.
    pub fn wait_for_or<T>(&self, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
        let started = Instant::now();
        loop {
            if let Some(value) = probe() {
                return Some(value);
            }
            if started.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls `probe` until it gives `Some`, or panics after `timeout` with `what` and the page's logs.
    pub fn wait_for<T>(&self, what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(value) = probe() {
                return value;
            }
            if started.elapsed() > timeout {
                panic!("waited {timeout:?} for {what}; the page's console:\n{}", self.console().join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls `probe` until it gives `Some`, for as long as `progress` (the page's own account of
    /// a long computation, such as "layer 40 of 120") keeps changing: panics only when it has
    /// stood still for `stall`. A slow machine gets the time a long run needs; a hung one fails.
    pub fn wait_while_progressing<T>(&self, what: &str, stall: Duration, mut progress: impl FnMut() -> String, mut probe: impl FnMut() -> Option<T>) -> T {
        let (mut last, mut since) = (progress(), Instant::now());
        loop {
            if let Some(value) = probe() {
                return value;
            }
            let now = progress();
            if now != last {
                (last, since) = (now, Instant::now());
            } else if since.elapsed() > stall {
                panic!("{what} stood still for {stall:?} at {last:?}; the page's console:\n{}", self.console().join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn click(&self, element: &Element) {
        self.post(&format!("/element/{}/click", element.id), json!({}));
    }

    pub fn clear(&self, element: &Element) {
        self.post(&format!("/element/{}/clear", element.id), json!({}));
    }

    /// Types `text` into the element as key presses.
    pub fn type_text(&self, element: &Element, text: &str) {
        self.post(&format!("/element/{}/value", element.id), json!({"text": text}));
    }

    pub fn text(&self, element: &Element) -> String {
        self.get(&format!("/element/{}/text", element.id)).as_str().unwrap_or_default().to_string()
    }

    /// The rendered text of the first element `css` matches, read in one step in the page
    /// (`None` when none matches): a view that re-renders between finding an element and
    /// reading it cannot leave a stale reference behind.
    pub fn text_of(&self, css: &str) -> Option<String> {
        self.execute("const e = document.querySelector(arguments[0]); return e ? e.innerText : null;", vec![json!(css)]).as_str().map(String::from)
    }

    /// A DOM property (`value` of a text box, say), as text.
    pub fn property(&self, element: &Element, name: &str) -> Option<String> {
        self.get(&format!("/element/{}/property/{name}", element.id)).as_str().map(String::from)
    }

    pub fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        self.get(&format!("/element/{}/attribute/{name}", element.id)).as_str().map(String::from)
    }

    /// Chooses the `<option>` with `value` in a `<select>`, by clicking it as a person would.
    pub fn select(&self, select: &Element, value: &str) {
        let option = self.post(&format!("/element/{}/element", select.id), json!({"using": "css selector", "value": format!("option[value=\"{value}\"]")}));
        self.click(&Element { id: option[ELEMENT].as_str().unwrap().to_string() });
    }

    /// Moves the pointer to (x, y) CSS pixels from the element's top-left corner.
    pub fn hover(&self, element: &Element, x: i64, y: i64) {
        // WebDriver measures from the centre of the element's visible part, which moves
        // when the element is cut by the window's edge: aim from the viewport instead.
        let corner = self.execute(
            "arguments[0].scrollIntoView({block: 'center'}); const r = arguments[0].getBoundingClientRect(); return [r.left, r.top];",
            vec![element.as_arg()],
        );
        let (left, top) = (corner[0].as_f64().unwrap(), corner[1].as_f64().unwrap());
        self.post(
            "/actions",
            json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [{"type": "pointerMove", "duration": 0, "origin": "viewport",
                             "x": (left + x as f64).round() as i64, "y": (top + y as f64).round() as i64}]}]}),
        );
    }

    /// Clicks (x, y) CSS pixels from the element's top-left corner.
    pub fn click_at(&self, element: &Element, x: i64, y: i64) {
        self.hover(element, x, y);
        self.post(
            "/actions",
            json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [{"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]}]}),
        );
    }

    /// Presses the mouse at `from` (CSS pixels from the element's top-left corner), moves it
    /// to `to` in `steps` moves, and lets go: a person's stroke.
    pub fn drag(&self, element: &Element, from: (i64, i64), to: (i64, i64), steps: i64) {
        self.hover(element, from.0, from.1);
        let corner = self.execute("const r = arguments[0].getBoundingClientRect(); return [r.left, r.top];", vec![element.as_arg()]);
        let (left, top) = (corner[0].as_f64().unwrap().round() as i64, corner[1].as_f64().unwrap().round() as i64);
        let mut actions = vec![json!({"type": "pointerDown", "button": 0})];
        for i in 1..=steps.max(1) {
            let (x, y) = (from.0 + (to.0 - from.0) * i / steps.max(1), from.1 + (to.1 - from.1) * i / steps.max(1));
            actions.push(json!({"type": "pointerMove", "duration": 10, "origin": "viewport", "x": left + x, "y": top + y}));
        }
        actions.push(json!({"type": "pointerUp", "button": 0}));
        self.post("/actions", json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}]}));
    }

    /// Moves the pointer to the element's centre.
    pub fn hover_centre(&self, element: &Element) {
        self.post(
            "/actions",
            json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [{"type": "pointerMove", "duration": 0, "origin": {ELEMENT: element.id}, "x": 0, "y": 0}]}]}),
        );
    }

    /// Saves a PNG of the window.
    pub fn screenshot(&self, path: &Path) {
        use std::io::Write;
        let data = self.get("/screenshot");
        let png = base64_decode(data.as_str().unwrap());
        std::fs::File::create(path).and_then(|mut f| f.write_all(&png)).unwrap();
    }

    pub fn set_window_size(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}));
    }

    /// The page's console messages so far (chromedriver's log endpoint).
    pub fn console(&self) -> Vec<String> {
        let response = ureq::post(&format!("{}/se/log", self.base)).send_json(json!({"type": "browser"}));
        let Ok(response) = response else { return vec!["(no console log)".into()] };
        let value: Value = response.into_json().unwrap_or_default();
        value["value"].as_array().map(|entries| entries.iter().map(|e| e["message"].as_str().unwrap_or_default().to_string()).collect()).unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&self.base).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// WebDriver's base64 (standard, padded), decoded; anything else is the driver's fault, said so.
fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    let clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(clean).unwrap_or_else(|e| panic!("the driver's screenshot is not base64: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes() {
        assert_eq!(super::base64_decode("aGVsbG8="), b"hello");
        assert_eq!(super::base64_decode("aGk="), b"hi");
        assert_eq!(super::base64_decode("YWJj"), b"abc");
    }
}
