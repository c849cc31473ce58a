//! Black-box test harness: the real `corekv` binary on 127.0.0.1 with a kernel-chosen port,
//! started and waited for through its ready line (never a sleep), plus a raw RESP client for
//! protocol tests and the `redis` crate for semantics.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Every black-box test runs at 1 shard and at more shards than this machine's 2 cores, so the
/// cross-shard paths run on every CI.
pub const SHARD_COUNTS: [usize; 2] = [1, 4];

pub struct Server {
    pub port: u16,
    pub shards: usize,
    child: Option<Child>,
}

impl Server {
    pub fn start(shards: usize) -> Server {
        Server::start_with(shards, &[])
    }

    pub fn start_with(shards: usize, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_corekv"))
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                "0",
                "--shards",
                &shards.to_string(),
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start corekv");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("corekv exited before it was ready")
                .expect("read stdout");
            if let Some(rest) = line.split(" ready: listening on ").nth(1) {
                let addr = rest.split(',').next().unwrap();
                break addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            port,
            shards,
            child: Some(child),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Connection {
        let c = redis::Client::open(self.url()).unwrap();
        c.get_connection_with_timeout(Duration::from_secs(10))
            .expect("connect with the redis crate")
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM, then wait (bounded) for the exit status.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "corekv did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Server {
    /// Waits for a server that was told to stop (SHUTDOWN) to exit.
    pub fn wait_exit(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "corekv did not stop within 20 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL: the crash case (nothing is flushed).
    pub fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A fresh, empty directory under the system temp dir for a test's files.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("corekv-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Encodes a command as a RESP multibulk.
pub fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

pub fn cmd(args: &[&str]) -> Vec<u8> {
    resp(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>())
}

/// A raw RESP connection: send bytes, read whole replies as their exact bytes.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        Raw::from_stream(TcpStream::connect(("127.0.0.1", port)).expect("connect"))
    }

    /// Wraps a connected stream (one whose socket options a test set).
    pub fn from_stream(stream: TcpStream) -> Raw {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Sends one command and returns its reply as a string (lossy).
    pub fn call(&mut self, args: &[&str]) -> String {
        self.send(&cmd(args));
        self.reply_string()
    }

    pub fn reply_string(&mut self) -> String {
        String::from_utf8_lossy(&self.reply()).into_owned()
    }

    /// Reads exactly one complete reply.
    pub fn reply(&mut self) -> Vec<u8> {
        loop {
            if let Some(n) = reply_len(&self.buf, 0) {
                return self.buf.drain(..n).collect();
            }
            let mut chunk = [0u8; 65536];
            let n = self
                .stream
                .read(&mut chunk)
                .expect("read a reply (timed out?)");
            assert!(
                n > 0,
                "connection closed while waiting for a reply; got so far: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// True when the server closed the connection (EOF or reset) with nothing more to read.
    pub fn is_closed(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
        }
    }
}

/// Length of the complete reply starting at `at`, or None if more bytes are needed.
fn reply_len(b: &[u8], at: usize) -> Option<usize> {
    let nl = at + b.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&b[at + 1..nl]).ok()?;
    let after = nl + 2;
    match b.get(at)? {
        b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => Some(after - at),
        b'$' | b'=' => {
            let n: i64 = line.parse().ok()?;
            if n < 0 {
                return Some(after - at);
            }
            let end = after + n as usize + 2;
            (b.len() >= end).then_some(end - at)
        }
        kind @ (b'*' | b'%' | b'~' | b'>') => {
            let n: i64 = line.parse().ok()?;
            let n = if *kind == b'%' { n * 2 } else { n };
            let mut pos = after;
            for _ in 0..n.max(0) {
                pos += reply_len(b, pos)?;
            }
            Some(pos - at)
        }
        other => panic!("not a RESP reply type: {:?}", *other as char),
    }
}

/// Polls `f` until it returns true or `timeout` passes (for effects that happen in the
/// background, like active expiry). Returns whether it became true.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Whether an external tool is installed; in CI a missing tool is a failure, not a skip.
pub fn have_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is required in CI (.ci/run installs it)"
        );
        eprintln!("skipping: {name} is not installed (apt-get install redis-tools)");
    }
    found
}

/// Runs `f` against a fresh server at every shard count.
pub fn each(f: fn(&Server)) {
    for shards in SHARD_COUNTS {
        eprintln!("-- shards = {shards}");
        let s = Server::start(shards);
        f(&s);
    }
}

/// Sends `args` and asserts the exact reply.
pub fn check(r: &mut Raw, args: &[&str], want: &str) {
    assert_eq!(r.call(args), want, "reply to {args:?}");
}

/// Asserts the wrong-arity error, which names the command in lower case.
pub fn check_arity(r: &mut Raw, args: &[&str]) {
    let name = args[0].to_lowercase();
    let want = format!("-ERR wrong number of arguments for '{name}' command\r\n");
    check(r, args, &want);
}

/// An integer reply's value.
pub fn int_of(r: &mut Raw, args: &[&str]) -> i64 {
    let rep = r.call(args);
    assert!(rep.starts_with(':'), "{args:?} answered {rep:?}");
    rep[1..rep.len() - 2].parse().unwrap()
}

/// redis-server on a free loopback port, with nothing persisted; killed when dropped.
pub struct RedisServer {
    child: std::process::Child,
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// redis-server loading `dir`/dump.rdb.
    pub fn start_in(dir: &str) -> RedisServer {
        RedisServer::start_with(&["--dir", dir, "--dbfilename", "dump.rdb"])
    }

    fn start_with(extra: &[&str]) -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--databases", "1"])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        let ready = eventually(std::time::Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(ready, "redis-server did not listen on {port}");
        RedisServer { child, port }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
