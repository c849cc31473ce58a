//! SAVE / BGSAVE: one Redis-format RDB file from every shard, with no fork and no pause.
//!
//! ```text
//!  BGSAVE (any connection) -> start(): writer thread + job epoch
//!  each shard's background task sees the new epoch -> store.snapshot_begin()
//!     -> snapshot_step() a budget at a time -> entries --channel--> writer thread (RdbWriter)
//!     -> Done                                                   -> EOF + CRC, fsync, rename
//! ```
//! Each shard's part is point-in-time (see `store::snapshot`); the shards start within one
//! background cycle of each other. The channel is bounded: a shard whose writer is behind
//! yields and retries, so memory stays bounded by the channel plus the copies of keys changed
//! during the walk. The file is written to a temporary name and renamed when complete, so
//! `dump.rdb` is always a whole snapshot.

use super::rdb::{RdbReader, RdbWriter};
use crate::store::SnapEntry;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};

pub enum Msg {
    /// Shard `n` joined with this many keys (the file's header announces the total, so loaders
    /// can size their tables once).
    Begin(usize, u64),
    Entries(Vec<SnapEntry>),
    /// Shard `n` has sent all its entries.
    Done(usize),
}

/// Messages a shard may have in flight to the writer.
const CHANNEL_MSGS: usize = 64;

static JOB: Mutex<Option<mpsc::SyncSender<Msg>>> = Mutex::new(None);
static EPOCH: AtomicU64 = AtomicU64::new(0);
static IN_PROGRESS: AtomicBool = AtomicBool::new(false);
static LAST_SAVE_SECS: AtomicU64 = AtomicU64::new(0);
static LAST_OK: AtomicBool = AtomicBool::new(true);
static LAST_KEYS: AtomicU64 = AtomicU64::new(0);

pub fn in_progress() -> bool {
    IN_PROGRESS.load(Ordering::SeqCst)
}

/// Unix time of the last successful save (LASTSAVE); the start time until one happened.
pub fn last_save() -> u64 {
    LAST_SAVE_SECS.load(Ordering::Relaxed)
}

pub fn last_ok() -> bool {
    LAST_OK.load(Ordering::Relaxed)
}

pub fn init_last_save(secs: u64) {
    LAST_SAVE_SECS.store(secs, Ordering::Relaxed);
}

/// The current job's epoch; a shard joins a job whose epoch it has not seen.
pub fn epoch() -> u64 {
    EPOCH.load(Ordering::SeqCst)
}

/// The sender of the job in progress (a shard clones it when it joins).
pub fn sender() -> Option<mpsc::SyncSender<Msg>> {
    JOB.lock().ok().and_then(|j| j.clone())
}

/// Why a save could not start.
#[derive(Debug)]
pub enum StartError {
    /// One is already running.
    InProgress,
    /// The writer thread could not be started.
    Thread(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::InProgress => f.write_str("a save is already in progress"),
            StartError::Thread(e) => write!(f, "cannot start the writer thread: {e}"),
        }
    }
}

/// Starts the writer thread of a save of `shards` shards into `path` and returns the save's
/// epoch; the shards' parts follow (the caller arranges the cut, see
/// `shard::pipeline::snapshot_cut`).
/// `done` is called on the writer thread once the file is complete or the save failed.
/// `functions`: the function libraries' code, saved with the keys.
pub fn start(
    shards: usize,
    path: PathBuf,
    functions: Vec<std::sync::Arc<[u8]>>,
    done: impl FnOnce() + Send + 'static,
) -> Result<u64, StartError> {
    if IN_PROGRESS.swap(true, Ordering::SeqCst) {
        return Err(StartError::InProgress);
    }
    let (tx, rx) = mpsc::sync_channel::<Msg>(CHANNEL_MSGS);
    let spawned = std::thread::Builder::new()
        .name("corekv-rdb-writer".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let result = write_file(&path, shards, &functions, rx);
            match &result {
                Ok(keys) => {
                    LAST_KEYS.store(*keys, Ordering::Relaxed);
                    LAST_SAVE_SECS.store(crate::clock::now_ms() / 1000, Ordering::Relaxed);
                    println!(
                        "corekv: saved {keys} keys to {} in {} ms",
                        path.display(),
                        started.elapsed().as_millis()
                    );
                }
                Err(e) => eprintln!("corekv: saving {} failed: {e}", path.display()),
            }
            LAST_OK.store(result.is_ok(), Ordering::Relaxed);
            if let Ok(mut j) = JOB.lock() {
                *j = None;
            }
            IN_PROGRESS.store(false, Ordering::SeqCst);
            done();
        });
    match spawned {
        Ok(_) => {
            if let Ok(mut j) = JOB.lock() {
                *j = Some(tx);
            }
            Ok(EPOCH.fetch_add(1, Ordering::SeqCst) + 1)
        }
        Err(e) => {
            IN_PROGRESS.store(false, Ordering::SeqCst);
            Err(StartError::Thread(e.to_string()))
        }
    }
}

fn write_file(
    path: &Path,
    shards: usize,
    functions: &[std::sync::Arc<[u8]>],
    rx: mpsc::Receiver<Msg>,
) -> Result<u64, String> {
    let functions: Vec<&[u8]> = functions.iter().map(|c| &c[..]).collect();
    let tmp = path.with_file_name(format!("temp-{}.rdb", std::process::id()));
    let mut file = Some(
        std::fs::File::create(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?,
    );
    // The header waits until every shard said how many keys it has; entries that arrive before
    // (a bounded number: the channel is bounded) are held until then.
    let (mut begun, mut done) = (
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    );
    let (mut announced, mut keys, mut held) = (0u64, 0u64, Vec::new());
    let mut w: Option<RdbWriter<std::io::BufWriter<std::fs::File>>> = None;
    while done.len() < shards {
        match rx
            .recv()
            .map_err(|_| "a shard stopped before finishing its part".to_string())?
        {
            Msg::Begin(shard, n) => {
                if begun.insert(shard) {
                    announced += n;
                }
            }
            Msg::Entries(entries) => held.push(entries),
            Msg::Done(shard) => {
                done.insert(shard);
            }
        }
        if w.is_none() && begun.len() == shards {
            let f = file.take().expect("the file is used once");
            w = Some(
                RdbWriter::with_functions(
                    std::io::BufWriter::with_capacity(1 << 20, f),
                    announced,
                    0,
                    &functions,
                )
                .map_err(|e| e.to_string())?,
            );
        }
        if let Some(w) = w.as_mut() {
            for entries in held.drain(..) {
                for e in entries {
                    w.write_value(&e.key, &e.value, e.expire_at)
                        .map_err(|e| e.to_string())?;
                    keys += 1;
                }
            }
        }
    }
    let w = w.ok_or_else(|| "not every shard began its part".to_string())?;
    let buf = w.finish().map_err(|e| e.to_string())?;
    let file = buf.into_inner().map_err(|e| e.to_string())?;
    file.sync_all().map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path)
        .map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), path.display()))?;
    Ok(keys)
}

/// Loads the keys a shard owns (`owns`, one of `shards` shards) from an RDB file into `store`,
/// skipping expired ones. Every shard reads the file in parallel and keeps its own keys.
/// Returns the number of keys loaded and the function libraries' code in the file.
pub fn load(
    store: &mut crate::store::Store,
    path: &Path,
    shards: usize,
    owns: impl Fn(&[u8]) -> bool,
) -> Result<(u64, Vec<Vec<u8>>), String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, Vec::new())),
        Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
    };
    let mut r = RdbReader::new(std::io::BufReader::with_capacity(1 << 20, file))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let now = crate::clock::now_ms();
    let mut n = 0;
    let mut sized = false;
    while let Some(e) = r
        .next_entry()
        .map_err(|e| format!("{}: {e}", path.display()))?
    {
        if !sized {
            // The header announced the key count: size the table once for this shard's share.
            sized = true;
            // A damaged or hostile header cannot make us reserve more than the file can hold
            // (an entry takes at least 4 bytes).
            let file_len = std::fs::metadata(path).map_or(0, |m| m.len());
            let share = r.keys_hint().min(file_len / 4) / shards.max(1) as u64;
            store.reserve((share + share / 10) as usize);
        }
        if !owns(&e.key) || e.expire_at_ms.is_some_and(|t| t <= now) {
            continue;
        }
        store
            .put(&e.key, &e.value, e.expire_at_ms, now)
            .map_err(|err| format!("{}: cannot load a key: {err:?}", path.display()))?;
        n += 1;
    }
    Ok((n, r.take_functions()))
}

/// Starts a save with `start` when a --save rule is due (called about every 100 ms by shard 0).
pub fn check_save_rules<E>(start: impl FnOnce() -> Result<(), E>) {
    use crate::config::RUNTIME;
    if !RUNTIME.has_save_rules.load(Ordering::Relaxed) || in_progress() {
        return;
    }
    let counts = RUNTIME.dirty.read();
    let dirty: u64 = counts.iter().sum();
    let elapsed = (crate::clock::now_ms() / 1000).saturating_sub(last_save());
    if RUNTIME
        .save_rules()
        .iter()
        .any(|&(secs, changes)| dirty >= changes && elapsed >= secs)
    {
        println!("corekv: {dirty} changes in {elapsed} seconds; saving");
        if start().is_ok() {
            RUNTIME.dirty.subtract(&counts);
        }
    }
}
