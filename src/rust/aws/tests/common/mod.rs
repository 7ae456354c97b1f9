//! Test harness: one moto server (tests/testthat/fixtures/moto_launcher.py)
//! per test binary, tests serialised and moto reset before each one.
//!
//! Without moto the tests print a notice and pass vacuously, unless
//! SAGESIM_REQUIRE_MOTO=1, in which case they fail with the reason.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use sagesim_aws::{AwsError, AwsSession, SessionConfig};
use serde_json::Value;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

pub struct Moto {
    pub port: u16,
    pub control_port: u16,
    /// Kept so the launcher's stdin stays open; it exits when this process does.
    _child: Mutex<Child>,
}

/// A running, freshly reset moto plus the lock that keeps other tests out.
pub struct Fixture {
    pub moto: &'static Moto,
    _guard: MutexGuard<'static, ()>,
}

static SERIAL: Mutex<()> = Mutex::new(());
static MOTO: OnceLock<Option<Moto>> = OnceLock::new();

/// Serialise a test that does not need moto (e.g. one that changes env vars).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The fixture, or `None` (after printing why) when moto is unavailable.
pub fn fixture() -> Option<Fixture> {
    let guard = serial();
    let moto = MOTO.get_or_init(start).as_ref()?;
    moto.reset();
    Some(Fixture {
        moto,
        _guard: guard,
    })
}

/// `let f = moto_or_skip!();` at the top of a test.
#[macro_export]
macro_rules! moto_or_skip {
    () => {
        match common::fixture() {
            Some(f) => f,
            None => return,
        }
    };
}

fn launcher_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../tests/testthat/fixtures/moto_launcher.py")
}

fn unavailable(reason: String) -> Option<Moto> {
    if std::env::var("SAGESIM_REQUIRE_MOTO").as_deref() == Ok("1") {
        panic!("moto is required (SAGESIM_REQUIRE_MOTO=1) but unavailable: {reason}");
    }
    // Straight to fd 2: libtest captures eprintln! of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "NOTICE: skipping moto-backed tests: {reason} (pip install 'moto[server]>=5.2.3'; set SAGESIM_REQUIRE_MOTO=1 to make this an error)"
    );
    None
}

fn start() -> Option<Moto> {
    let python = std::env::var("SAGESIM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let dir = TempDir::new("moto");
    let port_file = dir.path().join("ports.json");
    let stderr_file = dir.path().join("stderr.txt");
    let launcher = launcher_path();
    let spawned = Command::new(&python)
        .arg(&launcher)
        .arg("--port-file")
        .arg(&port_file)
        .arg("--watch-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_file).expect("stderr file"))
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return unavailable(format!("cannot run {python}: {e}")),
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(text) = std::fs::read_to_string(&port_file) {
            let v: Value = serde_json::from_str(&text).expect("port file is JSON");
            let port = v["port"].as_u64().expect("port") as u16;
            let control_port = v["control_port"].as_u64().expect("control_port") as u16;
            return Some(Moto {
                port,
                control_port,
                _child: Mutex::new(child),
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            let err = std::fs::read_to_string(&stderr_file).unwrap_or_default();
            let reason = format!(
                "{} exited with {status}: {}",
                launcher.display(),
                err.trim()
            );
            if status.code() == Some(3) {
                return unavailable(reason);
            }
            panic!("moto launcher failed: {reason}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "moto launcher did not write {} within 90 s",
                port_file.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Moto {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn reset(&self) {
        let (status, body) = http(self.control_port, "POST", "/reset", Some("{}"));
        assert_eq!(
            status,
            200,
            "reset failed: {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// POST JSON to the launcher's control endpoint.
    pub fn control(&self, path: &str, body: Value) -> Value {
        let (status, resp) = http(self.control_port, "POST", path, Some(&body.to_string()));
        let v: Value = serde_json::from_slice(&resp).unwrap_or(Value::Null);
        assert_eq!(status, 200, "control {path} failed: {v}");
        v
    }

    /// Call moto's own API (e.g. the recorder) on the moto port.
    pub fn moto_api(&self, method: &str, path: &str) -> Vec<u8> {
        let (status, body) = http(
            self.port,
            method,
            path,
            if method == "POST" { Some("") } else { None },
        );
        assert_eq!(
            status,
            200,
            "{method} {path}: {}",
            String::from_utf8_lossy(&body)
        );
        body
    }

    pub fn session_config(&self) -> SessionConfig {
        SessionConfig {
            region: Some(REGION.to_owned()),
            access_key_id: Some("testing".to_owned()),
            secret_access_key: Some("testing".to_owned()),
            endpoint_url: Some(self.endpoint()),
            ..Default::default()
        }
    }

    pub fn session(&self) -> AwsSession {
        block_on(AwsSession::load(self.session_config())).expect("session loads")
    }
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    sagesim_aws::runtime().block_on(f)
}

/// `session.call(op, params)` on the crate's runtime.
pub fn call(s: &AwsSession, op: &str, params: Value) -> Result<Value, AwsError> {
    block_on(s.call(op, params))
}

pub fn ok(s: &AwsSession, op: &str, params: Value) -> Value {
    call(s, op, params).unwrap_or_else(|e| panic!("{op} failed: {e}"))
}

/// Minimal HTTP/1.1 client (Connection: close) so the tests need no extra crates.
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP header end");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut rest = raw[split + 4..].to_vec();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        loop {
            let eol = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size line");
            let size_line = String::from_utf8_lossy(&rest[..eol]).to_string();
            let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
                .expect("chunk size");
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = rest[eol + 2 + size + 2..].to_vec();
        }
        rest = out;
    }
    (status, rest)
}

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!(
            "sagesim-aws-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    pub fn s(&self, rel: &str) -> String {
        self.0.join(rel).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Write `len` bytes of a deterministic, non-repeating-looking pattern.
pub fn write_pattern(path: &Path, len: usize, seed: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut buf = Vec::with_capacity(1 << 16);
    let mut left = len;
    while left > 0 {
        buf.clear();
        while buf.len() < (1 << 16).min(left) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf.extend_from_slice(&x.to_le_bytes());
        }
        buf.truncate((1 << 16).min(left));
        f.write_all(&buf).unwrap();
        left -= buf.len();
    }
    f.flush().unwrap();
}

/// Decode moto's recorder dump: JSON lines with an optionally base64 body.
pub fn recorded_requests(moto: &Moto) -> Vec<(Value, Vec<u8>)> {
    let raw = moto.moto_api("GET", "/moto-api/recorder/download-recording");
    String::from_utf8_lossy(&raw)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let entry: Value = serde_json::from_str(l).expect("recorder line is JSON");
            let body = match entry["body"].as_str() {
                Some(b) if entry["body_encoded"].as_bool() == Some(true) => {
                    aws_smithy_types::base64::decode(b).expect("base64 body")
                }
                Some(b) => b.as_bytes().to_vec(),
                None => Vec::new(),
            };
            (entry, body)
        })
        .collect()
}

/// A header from a recorder entry, case-insensitively.
pub fn header<'a>(entry: &'a Value, name: &str) -> Option<&'a str> {
    entry["headers"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}
