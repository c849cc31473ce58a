//! Transactions in the append-only logs: all or nothing after a crash.
//!
//! A transaction that writes on several shards writes a part in each shard's log. Each part is
//! one record, written when the transaction is done on that shard:
//!
//! ```text
//!   __txn <id> <epoch> <writers> <records>
//!   id       unique over restarts: "<process start ms>.<transaction>"
//!   epoch    the snapshot epoch when the transaction ran
//!   writers  the shards that write a part, e.g. "0,2,3"
//!   records  the part's effect records (SET/DEL...), back to back
//! ```
//! One record is cut off whole or kept whole by a crash (the log's last incomplete record is
//! truncated on start), so a part is never half there. On start, before any shard replays,
//! [`scan`] reads every shard's log and decides per transaction: apply it if every writer's
//! part is there; drop it (with a warning) if a part is missing and could only have been lost
//! to the crash. A part is missing legitimately when that shard's log was restarted by a
//! snapshot taken after the transaction (`__base-epoch` later than the transaction's epoch):
//! the snapshot holds that part, so the others are applied.
//!
//! With `appendfsync always`, EXEC's reply waits until every part is durable, so an
//! acknowledged transaction is always applied whole.

use crate::resp::parse::{Batch, Parser};
use crate::resp::Args;
use hashbrown::{HashMap, HashSet};
use std::path::Path;

/// First word of a transaction's part.
pub const TXN_MARKER: &[u8] = b"__txn";
/// Second record of a log restarted by a snapshot: that snapshot's epoch.
pub const EPOCH_MARKER: &[u8] = b"__base-epoch";

fn boot_ms() -> u64 {
    static BOOT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BOOT.get_or_init(crate::clock::now_ms)
}

/// The text fields of a part's record: id, epoch, writers.
pub fn record_fields(txn: u64, epoch: u64, writers: &[u16]) -> (String, String, String) {
    let writers: Vec<String> = writers.iter().map(u16::to_string).collect();
    (
        format!("{}.{txn}", boot_ms()),
        epoch.to_string(),
        writers.join(","),
    )
}

/// Which transactions found in the logs are applied on replay.
#[derive(Default)]
pub struct Verdicts {
    apply: HashSet<Vec<u8>>,
}

impl Verdicts {
    pub fn applies(&self, id: &[u8]) -> bool {
        self.apply.contains(id)
    }
}

struct Seen {
    epoch: u64,
    writers: Vec<usize>,
    present: Vec<usize>,
}

/// Reads the logs of every shard (`files[s]`: the files of shard `s`, in replay order) and
/// decides which transactions to apply.
pub fn scan(files: &[Vec<std::path::PathBuf>]) -> Verdicts {
    let mut seen: HashMap<Vec<u8>, Seen> = HashMap::new();
    let mut base_epoch = vec![0u64; files.len()];
    for (shard, paths) in files.iter().enumerate() {
        for (k, path) in paths.iter().enumerate() {
            for_each_record(path, |args| {
                if args.get(0) == EPOCH_MARKER && k == 0 && args.len() == 2 {
                    base_epoch[shard] = atoi::atoi(args.get(1)).unwrap_or(0);
                }
                if args.get(0) == TXN_MARKER && args.len() == 5 {
                    let e = seen.entry(args.get(1).to_vec()).or_insert_with(|| Seen {
                        epoch: atoi::atoi(args.get(2)).unwrap_or(0),
                        writers: args
                            .get(3)
                            .split(|&c| c == b',')
                            .filter_map(atoi::atoi::<usize>)
                            .collect(),
                        present: Vec::new(),
                    });
                    e.present.push(shard);
                }
            });
        }
    }
    let mut v = Verdicts::default();
    for (id, s) in seen {
        let lost = s
            .writers
            .iter()
            .any(|w| !s.present.contains(w) && base_epoch.get(*w).is_none_or(|&b| b <= s.epoch));
        if !lost {
            v.apply.insert(id);
        }
    }
    v
}

/// Calls `f` with every complete record of the log at `path` (nothing if it cannot be read;
/// stops at the first damage, which the replay reports).
fn for_each_record(path: &Path, mut f: impl FnMut(&Args)) {
    let Ok(mut data) = std::fs::read(path) else {
        return;
    };
    let len = data.len();
    let mut parser = Parser::new();
    let mut batch = Batch::default();
    let limits = super::aof::log_limits();
    let mut start = 0;
    loop {
        batch.clear();
        let Ok(end) = parser.parse(&mut data[..len], start, &limits, &mut batch) else {
            return;
        };
        if batch.is_empty() {
            return;
        }
        for i in 0..batch.len() {
            f(&Args::new(&data, batch.cmd_args(i)));
        }
        start = end;
    }
}
