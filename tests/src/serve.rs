//! A small static file server for the built app (dist/), on 127.0.0.1 and a free
//! port, so the browser tests and the benchmark need no server installed. A [`Site`]
//! can replace a path's content (a catalogue naming a missing model, say), serve more
//! folders under a prefix, make its pages cross-origin isolated, and hold one path's
//! answer back until a test opens its [`Gate`] (a model that is still loading). The
//! server keeps every request's path and status, so a test can see what a page asked
//! for and what it did not get.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

pub struct StaticServer {
    pub port: u16,
    requests: Arc<Mutex<Vec<(String, u16)>>>,
}

/// Holds answers back until it is opened; clones share one state.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    /// Lets every held answer, and all later ones, through.
    pub fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    fn wait(&self) {
        let mut open = self.0 .0.lock().unwrap();
        while !*open {
            open = self.0 .1.wait(open).unwrap();
        }
    }
}

/// What a server serves.
#[derive(Default)]
pub struct Site {
    /// The folder behind `/`.
    pub root: PathBuf,
    /// Paths (no leading `/`) whose content is replaced.
    pub overrides: HashMap<String, Vec<u8>>,
    /// More folders: (`prefix`, folder) serves `/prefix/...` from the folder.
    pub mounts: Vec<(String, PathBuf)>,
    /// Sends COOP/COEP, so pages may use `SharedArrayBuffer` (threads in wasm).
    pub isolated: bool,
    /// Paths starting with this are answered only once the gate is open.
    pub held: Option<(String, Gate)>,
}

impl Site {
    /// The file behind a request path, or its replaced content.
    fn content(&self, path: &str) -> Option<Vec<u8>> {
        if PathBuf::from(path).components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        if let Some(content) = self.overrides.get(path) {
            return Some(content.clone());
        }
        let mounted =
            self.mounts.iter().find_map(|(prefix, dir)| path.strip_prefix(prefix.as_str()).and_then(|rest| rest.strip_prefix('/')).map(|rest| dir.join(rest)));
        std::fs::read(mounted.unwrap_or_else(|| self.root.join(path))).ok()
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript",
        "wasm" => "application/wasm",
        "css" => "text/css",
        "json" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

impl StaticServer {
    /// Serves `root` until the process ends.
    pub fn start(root: PathBuf, overrides: HashMap<String, Vec<u8>>) -> Self {
        Self::serve(Site { root, overrides, ..Site::default() })
    }

    /// Serves a [`Site`] until the process ends.
    pub fn serve(site: Site) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let port = listener.local_addr().unwrap().port();
        let site = Arc::new(site);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (site, log) = (site.clone(), log.clone());
                std::thread::spawn(move || {
                    let _ = serve_one(stream, &site, &log);
                });
            }
        });
        Self { port, requests }
    }

    /// Every request so far: its path (no leading `/`) and the status it was answered with.
    pub fn requests(&self) -> Vec<(String, u16)> {
        self.requests.lock().unwrap().clone()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

fn serve_one(mut stream: TcpStream, site: &Site, log: &Mutex<Vec<(String, u16)>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        // Skip the headers; a static GET needs none of them.
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
                break;
            }
        }
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let path = target.split(['?', '#']).next().unwrap_or("/").trim_start_matches('/');
        let path = if path.is_empty() { "index.html" } else { path };
        let relative = PathBuf::from(path);
        if let Some((prefix, gate)) = &site.held {
            if path.starts_with(prefix.as_str()) {
                gate.wait();
            }
        }
        let body = site.content(path);
        log.lock().unwrap().push((path.to_string(), if body.is_some() { 200 } else { 404 }));
        let head_only = method == "HEAD";
        let isolation = if site.isolated { "Cross-Origin-Opener-Policy: same-origin\r\nCross-Origin-Embedder-Policy: require-corp\r\n" } else { "" };
        match body {
            Some(body) => {
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n{isolation}\r\n",
                    content_type(&relative),
                    body.len()
                );
                stream.write_all(header.as_bytes())?;
                if !head_only {
                    stream.write_all(&body)?;
                }
            }
            None => {
                let body = b"not found";
                let header = format!("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n", body.len());
                stream.write_all(header.as_bytes())?;
                if !head_only {
                    stream.write_all(body)?;
                }
            }
        }
        stream.flush()?;
    }
}
