//! A small static file server for the built app (dist/), on 127.0.0.1 and a free
//! port, so the browser tests need no server installed. `overrides` replaces a
//! path's content (a catalogue naming a missing model, say).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

pub struct StaticServer {
    pub port: u16,
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript",
        "wasm" => "application/wasm",
        "css" => "text/css",
        "json" => "application/json",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

impl StaticServer {
    /// Serves `root` until the test process ends.
    pub fn start(root: PathBuf, overrides: HashMap<String, Vec<u8>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let port = listener.local_addr().unwrap().port();
        let (root, overrides) = (Arc::new(root), Arc::new(overrides));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, overrides) = (root.clone(), overrides.clone());
                std::thread::spawn(move || {
                    let _ = serve_one(stream, &root, &overrides);
                });
            }
        });
        Self { port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

fn serve_one(mut stream: TcpStream, root: &Path, overrides: &HashMap<String, Vec<u8>>) -> std::io::Result<()> {
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
        let body = if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
            None
        } else if let Some(content) = overrides.get(path) {
            Some(content.clone())
        } else {
            std::fs::read(root.join(&relative)).ok()
        };
        let head_only = method == "HEAD";
        match body {
            Some(body) => {
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\r\n",
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
