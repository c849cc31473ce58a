//! The append-only log, one file per shard.
//!
//! Every write is logged by the shard that runs it, as its *effect* on each key it touched:
//! `SET key value [PXAT ms]` when the key exists afterwards, `DEL key` when it does not
//! (`FLUSHALL` for the flush commands; evicted keys as `DEL`). Relative times never reach the
//! file, so replaying it later gives the same keys, values and deadlines, and a key whose deadline
//! passed while the server was down is dropped on load. The cost is that APPEND and SETRANGE log
//! the whole value.
//!
//! ```text
//!  cmd::execute --append--> AofLog.pending (Vec<u8>, in the shard)  -- kick -->  flusher task
//!                                                                         |  spawn_blocking:
//!  replies of a batch wait (always) <-- durable position advanced <-------+  write [+ fsync]
//! ```
//! The flusher takes everything pending at once, so many clients share one write and one fsync
//! (group commit); the executor never blocks on the file. `appendfsync`:
//! - `always`: a connection releases the replies of a batch only once the shard's durable
//!   position covers the writes of that batch; a hop's replies go back only once its shard's
//!   log is durable too.
//! - `everysec`: written as it comes, fsynced at most once per second (up to ~1 s lost on a
//!   crash).
//! - `no`: written as it comes, fsynced by the kernel when it likes.
//!
//! On start every shard replays its own file (all shards in parallel). A last record cut short
//! by a crash is cut off with a warning; anything else that does not parse stops the start with
//! the file name and offset.

use crate::resp::parse::{Batch, Limits, Parser};
use crate::resp::Args;
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

pub use crate::config::Fsync;

/// The in-shard part of the log: what `cmd::execute` appends to.
pub struct AofLog {
    pub fsync: Fsync,
    pending: Vec<u8>,
    /// Bytes appended since start (a logical position).
    appended: u64,
    kick: Option<Waker>,
    /// Set by the everysec timer: fsync what was written even if nothing new is pending.
    sync_due: bool,
    /// Records from before a snapshot began, still to be written to the old file.
    old_pending: Option<Vec<u8>>,
    /// The flusher writes to `<file>.new` until the snapshot completes.
    pub rotating: bool,
    /// A transaction's records on this shard, held back while it runs here and then logged
    /// as one record (see `persist::txnlog`): (transaction, records).
    txn: Option<(u64, Vec<u8>)>,
}

/// First record of a log that continues from the snapshot in --dir/--dbfilename.
pub const BASE_MARKER: &[u8] = b"__rdb-base";

impl AofLog {
    pub fn new(fsync: Fsync) -> Self {
        AofLog {
            fsync,
            pending: Vec::new(),
            appended: 0,
            kick: None,
            sync_due: false,
            old_pending: None,
            rotating: false,
            txn: None,
        }
    }

    /// A snapshot begins on this shard: what was logged so far goes to the current file, what
    /// comes next to a new one that starts from the snapshot (it replaces the old file once the
    /// snapshot file is complete).
    pub fn begin_rotation(&mut self, epoch: u64) {
        if self.rotating || self.old_pending.is_some() {
            return; // one rotation at a time; this snapshot's records stay in the new file
        }
        self.old_pending = Some(std::mem::take(&mut self.pending));
        self.append_now(&[BASE_MARKER]);
        let epoch = itoa::Buffer::new().format(epoch).to_owned();
        self.append_now(&[super::txnlog::EPOCH_MARKER, epoch.as_bytes()]);
    }

    /// Transaction `txn` starts writing on this shard: its records are held back.
    pub fn begin_txn(&mut self, txn: u64) {
        if self.txn.is_none() {
            self.txn = Some((txn, Vec::new()));
        }
    }

    /// Transaction `txn` is done on this shard: its records go out as one record, which names
    /// the shards that wrote (`writers`) and the snapshot epoch it started in.
    pub fn end_txn(&mut self, txn: u64, writers: &[u16], epoch: u64) {
        if !matches!(self.txn, Some((t, _)) if t == txn) {
            return;
        }
        let Some((_, body)) = self.txn.take() else {
            return;
        };
        let (id, epoch, writers) = super::txnlog::record_fields(txn, epoch, writers);
        self.append_now(&[
            super::txnlog::TXN_MARKER,
            id.as_bytes(),
            epoch.as_bytes(),
            writers.as_bytes(),
            &body,
        ]);
    }

    /// Ends a transaction that wrote on this shard alone (a script): one record, or nothing
    /// when it wrote nothing.
    pub fn end_local_txn(&mut self, txn: u64, shard: u16, epoch: u64) {
        if matches!(&self.txn, Some((t, body)) if *t == txn && body.is_empty()) {
            self.txn = None;
            return;
        }
        self.end_txn(txn, &[shard], epoch);
    }

    /// Wakes the flusher (at shutdown, so it writes the rest and stops).
    pub fn wake_flusher(&mut self) {
        if let Some(w) = self.kick.take() {
            w.wake();
        }
    }

    /// The position a batch must wait for to be durable.
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// Logs a record (`args` as one RESP command), or holds it back with the transaction
    /// running here.
    pub fn record(&mut self, args: &[&[u8]]) {
        match self.txn.as_mut() {
            Some((_, body)) => encode(body, args),
            None => self.append_now(args),
        }
    }

    fn append_now(&mut self, args: &[&[u8]]) {
        let start = self.pending.len();
        encode(&mut self.pending, args);
        self.appended += (self.pending.len() - start) as u64;
        if let Some(w) = self.kick.take() {
            w.wake();
        }
    }
}

/// One record in RESP, appended to `buf`.
fn encode(buf: &mut Vec<u8>, args: &[&[u8]]) {
    buf.push(b'*');
    buf.extend_from_slice(itoa::Buffer::new().format(args.len()).as_bytes());
    buf.extend_from_slice(b"\r\n");
    for a in args {
        buf.push(b'$');
        buf.extend_from_slice(itoa::Buffer::new().format(a.len()).as_bytes());
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// This shard's log file for a server with `shards` shards.
pub fn file_path(dir: &Path, shard: usize, shards: usize) -> PathBuf {
    dir.join(format!("appendonly-{shard}-of-{shards}.aof"))
}

/// Refuses to start when the directory holds logs written with another shard count (keys
/// would be replayed on the wrong shards).
pub fn check_layout(dir: &Path, shards: usize) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name
            .strip_prefix("appendonly-")
            .and_then(|r| r.strip_suffix(".aof"))
        {
            if let Some((_, n)) = rest.split_once("-of-") {
                if n.parse::<usize>().ok() != Some(shards) {
                    return Err(format!(
                        "{} was written by a server with {n} shards; start with --shards {n} (or move the files away)",
                        e.path().display()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Replays `path`: every logged command, and every transaction record whose transaction is
/// whole (`verdicts`), goes to `apply` in order, which runs it (with logging off) and answers
/// why it failed. Cuts off a truncated last record; any other damage, or a command that fails,
/// is an error naming the file and offset. Returns the number of commands replayed.
pub fn replay(
    path: &Path,
    verdicts: &super::txnlog::Verdicts,
    apply: &mut dyn FnMut(&Args) -> Result<(), String>,
) -> Result<u64, String> {
    let mut data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let len = data.len();
    let mut parser = Parser::new();
    let mut batch = Batch::default();
    let limits = log_limits();
    let mut start = 0;
    let mut count = 0u64;
    let end = loop {
        batch.clear();
        let end = parser
            .parse(&mut data[..len], start, &limits, &mut batch)
            .map_err(|e| {
                format!(
                    "corrupt append-only file {} at offset {start}: {}",
                    path.display(),
                    e.msg()
                )
            })?;
        // Every record is a multibulk of a known command; anything else is damage.
        if start < len && data[start] != b'*' {
            return Err(format!(
                "corrupt append-only file {} at offset {start}: a record must start with '*'",
                path.display()
            ));
        }
        let mut record_start = start;
        for i in 0..batch.len() {
            let args = Args::new(&data, batch.cmd_args(i));
            if args.get(0) == BASE_MARKER || args.get(0) == super::txnlog::EPOCH_MARKER {
                continue;
            }
            if args.get(0) == super::txnlog::TXN_MARKER && args.len() == 5 {
                if verdicts.applies(args.get(1)) {
                    count += replay_body(args.get(4), path, apply)?;
                } else {
                    eprintln!(
                        "corekv: {}: dropping transaction {} (not every shard it wrote logged its part: a crash while it was being written)",
                        path.display(),
                        String::from_utf8_lossy(args.get(1))
                    );
                }
                continue;
            }
            apply(&args).map_err(|why| {
                format!(
                    "corrupt append-only file {} near offset {record_start}: {why}",
                    path.display()
                )
            })?;
            record_start = batch.cmd_args(i).last().map_or(record_start, |r| r.1 + 2);
            count += 1;
        }
        if batch.is_empty() {
            break end;
        }
        start = end;
    };
    if end < len {
        eprintln!(
            "corekv: {}: the last record is incomplete ({} bytes at offset {end}, a crash while writing?); cutting it off",
            path.display(),
            len - end
        );
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        f.set_len(end as u64)
            .map_err(|e| format!("cannot truncate {}: {e}", path.display()))?;
    }
    Ok(count)
}

/// Parser limits for reading a log: records may carry any value the server accepted.
pub(crate) fn log_limits() -> Limits {
    Limits {
        max_bulk_len: u64::MAX >> 1,
        ..Limits::default()
    }
}

/// Replays the records of one transaction's part (all of them parse, or it is damage).
fn replay_body(
    body: &[u8],
    path: &Path,
    apply: &mut dyn FnMut(&Args) -> Result<(), String>,
) -> Result<u64, String> {
    let mut data = body.to_vec();
    let len = data.len();
    let mut parser = Parser::new();
    let mut batch = Batch::default();
    let limits = log_limits();
    let (mut start, mut count) = (0, 0);
    let damaged = |what: &str| format!("corrupt transaction record in {}: {what}", path.display());
    while start < len {
        batch.clear();
        let end = parser
            .parse(&mut data[..len], start, &limits, &mut batch)
            .map_err(|e| damaged(&e.msg()))?;
        if batch.is_empty() {
            return Err(damaged("incomplete"));
        }
        for i in 0..batch.len() {
            apply(&Args::new(&data, batch.cmd_args(i))).map_err(|why| damaged(&why))?;
            count += 1;
        }
        start = end;
    }
    Ok(count)
}

/// How far this shard's log is durable, and who waits for it.
#[derive(Default)]
pub struct Durability {
    durable: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
    pub failed: Cell<bool>,
}

impl Durability {
    /// Waits until everything appended up to `target` is durable (or the log failed).
    pub async fn wait_for(&self, target: u64) {
        std::future::poll_fn(|cx| {
            if self.durable.get() >= target || self.failed.get() {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    fn advance(&self, to: u64) {
        self.durable.set(to);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// Where a shard's [`AofLog`] lives: the shard's state, owned by its core. The flusher reaches
/// the log through it between its writes (never across an await).
pub trait LogOwner: 'static {
    fn with_log<R>(&self, f: impl FnOnce(&mut AofLog) -> R) -> Option<R>;
}

/// The flusher: writes what is pending (and fsyncs per the policy) on a blocking thread, so many
/// writers share one write and fsync. Runs until `stop` and then writes and fsyncs the rest.
pub async fn run_flusher<O: LogOwner>(
    ctx: Rc<O>,
    path: PathBuf,
    durability: Rc<Durability>,
    stop: Rc<Cell<bool>>,
) {
    let mut file = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!(
                "corekv: cannot open {}: {e}; the append-only log is OFF for this shard",
                path.display()
            );
            durability.failed.set(true);
            return;
        }
    };
    let mut last_sync = Instant::now();
    let mut spare: Vec<u8> = Vec::new();
    loop {
        // Wait for something to write, for the next everysec fsync, or for the stop.
        let (mut buf, target, fsync) = std::future::poll_fn(|cx| {
            let Some(poll) = ctx.with_log(|log| {
                if !log.pending.is_empty()
                    || stop.get()
                    || log.sync_due
                    || log.old_pending.is_some()
                    || (log.rotating && !crate::persist::snapshot::in_progress())
                {
                    log.sync_due = false;
                    std::mem::swap(&mut log.pending, &mut spare);
                    Poll::Ready((std::mem::take(&mut spare), log.appended, log.fsync))
                } else {
                    log.kick = Some(cx.waker().clone());
                    Poll::Pending
                }
            }) else {
                // The log was turned off: nothing more to write.
                return Poll::Ready((Vec::new(), 0, Fsync::No));
            };
            poll
        })
        .await;
        // Rotation: finish the old file with the records from before the snapshot, then go on
        // in `<file>.new`; once the snapshot is complete, `.new` replaces the old file.
        let old = ctx.with_log(|l| l.old_pending.take()).flatten();
        if let Some(old) = old {
            let f = file.take().expect("the file comes back after each write");
            let new_path = new_path(&path);
            let (res, f) = glommio::executor()
                .spawn_blocking(move || {
                    let mut f = f;
                    let r = f.write_all(&old).and_then(|_| f.sync_data());
                    let n = std::fs::OpenOptions::new()
                        .create(true)
                        .write(true)
                        .truncate(true)
                        .open(&new_path);
                    (r, n.map_err(|e| (e, f)))
                })
                .await;
            match (res, f) {
                (Ok(()), Ok(newf)) => {
                    file = Some(newf);
                    ctx.with_log(|l| l.rotating = true);
                }
                (r, f) => {
                    eprintln!(
                        "corekv: rotating {} failed ({r:?}); staying on it",
                        path.display()
                    );
                    file = Some(match f {
                        Ok(newf) => newf,
                        Err((_, oldf)) => oldf,
                    });
                }
            }
        }
        let finish = ctx.with_log(|l| l.rotating).unwrap_or(false)
            && !crate::persist::snapshot::in_progress();
        let sync = match fsync {
            Fsync::Always => true,
            Fsync::EverySec => last_sync.elapsed() >= Duration::from_millis(990) || stop.get(),
            Fsync::No => stop.get(),
        };
        let mut f = file.take().expect("the file comes back after each write");
        let (f, result, buf_back) = glommio::executor()
            .spawn_blocking(move || {
                let r = f
                    .write_all(&buf)
                    .and_then(|_| if sync { f.sync_data() } else { Ok(()) });
                buf.clear();
                (f, r, buf)
            })
            .await;
        file = Some(f);
        spare = buf_back;
        if finish {
            let (p, ok) = (path.clone(), crate::persist::snapshot::last_ok());
            let f = file.take().expect("the file comes back after each write");
            file = Some(
                glommio::executor()
                    .spawn_blocking(move || finish_rotation(&p, f, ok))
                    .await,
            );
            ctx.with_log(|l| l.rotating = false);
        }
        match result {
            Ok(()) => {
                if sync {
                    last_sync = Instant::now();
                }
                durability.advance(target);
            }
            Err(e) => {
                // Like Redis: report loudly; writes keep being accepted in memory.
                eprintln!("corekv: writing {} failed: {e}", path.display());
                durability.failed.set(true);
                durability.advance(target);
            }
        }
        if fsync == Fsync::EverySec && !sync {
            // Make sure an fsync follows within a second even if no new write comes.
            let again = last_sync + Duration::from_secs(1);
            let ctx2 = ctx.clone();
            glommio::spawn_local(async move {
                glommio::timer::sleep(again.saturating_duration_since(Instant::now())).await;
                ctx2.with_log(|log| {
                    log.sync_due = true;
                    if let Some(w) = log.kick.take() {
                        w.wake();
                    }
                });
            })
            .detach();
        }
        if stop.get() && ctx.with_log(|l| l.pending.is_empty()).unwrap_or(true) {
            if let Some(f) = file.take() {
                let _ = glommio::executor()
                    .spawn_blocking(move || f.sync_data())
                    .await;
            }
            return;
        }
    }
}

/// The file a rotation writes to until the snapshot is complete.
pub fn new_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".new");
    PathBuf::from(p)
}

/// Ends a rotation: on success `.new` (the records since the snapshot, after the base marker)
/// replaces the log; on failure its records are appended to the old log, which goes on.
/// Returns the file to keep appending to.
fn finish_rotation(path: &Path, new_file: std::fs::File, snapshot_ok: bool) -> std::fs::File {
    let new = new_path(path);
    let _ = new_file.sync_data();
    if snapshot_ok && std::fs::rename(&new, path).is_ok() {
        return new_file;
    }
    let moved = std::fs::read(&new).ok().and_then(|bytes| {
        let mut old = std::fs::OpenOptions::new().append(true).open(path).ok()?;
        old.write_all(&bytes).ok()?;
        old.sync_data().ok()?;
        let _ = std::fs::remove_file(&new);
        Some(old)
    });
    moved.unwrap_or(new_file)
}

/// Whether the log at `path` continues from a snapshot (starts with the base marker).
pub fn continues_from_snapshot(path: &Path) -> bool {
    let marker_record = format!("*1\r\n${}\r\n", BASE_MARKER.len());
    std::fs::read(path).map_or(false, |d| d.starts_with(marker_record.as_bytes()))
}

/// Default directory for persistence files.
pub fn default_dir() -> PathBuf {
    PathBuf::from(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_names() {
        for f in [Fsync::Always, Fsync::EverySec, Fsync::No] {
            assert_eq!(Fsync::parse(f.name()), Some(f));
        }
        assert_eq!(Fsync::parse("sometimes"), None);
    }

    #[test]
    fn layout_check_refuses_other_shard_counts() {
        let dir = std::env::temp_dir().join(format!("corekv-aof-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(file_path(&dir, 0, 2), b"").unwrap();
        assert!(check_layout(&dir, 2).is_ok());
        let e = check_layout(&dir, 4).unwrap_err();
        assert!(e.contains("--shards 2"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
