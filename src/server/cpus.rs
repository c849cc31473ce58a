//! Where the shards run: how many there are by default and whether they are pinned.
//!
//! Thread-per-core pays when each shard has a CPU to itself. When it does not (the load generator,
//! the application or another tenant shares the CPUs, and the kernel's TCP work for loopback
//! runs on the sending thread's CPU), every cross-core hop waits for a thread that the scheduler
//! has to put back on a CPU first, and a pinned shard cannot move off a busy CPU at all.
//! Measured on a 2-CPU VM with redis-benchmark on the same machine (tuning/cpus.md): one shard
//! is faster than two at every pipeline depth and connection count, and two pinned shards are
//! 40% slower than two unpinned ones at pipeline 1. So by default:
//!
//! - **Count**: the CPUs this process may use (its affinity mask, capped by a cgroup CPU quota)
//!   that are free at start (under half busy over a short sample of /proc/stat); with fewer
//!   than four of them one is left to clients and the network stack.
//! - **Pinning**: off; `--pin` pins shard i to the i-th free CPU (for a dedicated machine whose
//!   clients run elsewhere or on CPUs kept apart with taskset).
//!
//! `--shards N` always wins over the default.

use std::time::Duration;

/// How long start-up watches /proc/stat to tell busy CPUs from free ones.
const SAMPLE: Duration = Duration::from_millis(50);
/// A CPU busier than this (non-idle share of the sample) is taken by someone else.
const BUSY_SHARE: f64 = 0.5;
/// Below this many free CPUs, one is left to clients and the kernel's network work.
const RESERVE_BELOW: usize = 4;

/// The shards' placement, decided once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub shards: usize,
    /// The CPU of each shard when pinned.
    pub pin_to: Option<Vec<usize>>,
    /// One line for the start-up log: what was decided and from what.
    pub why: String,
}

/// Decides the placement from the flags and the machine.
pub fn place(shards: Option<usize>, pin: bool) -> Placement {
    let cpus = crate::config::Config::available_cpus();
    let quota = cgroup_quota_cpus();
    let busy = match shards {
        // An explicit count needs the free CPUs only to pin to them.
        Some(_) if !pin => Vec::new(),
        _ => busy_cpus(&cpus, SAMPLE),
    };
    decide(shards, pin, &cpus, quota, &busy)
}

/// The decision itself, apart from reading the machine (tested below).
fn decide(
    shards: Option<usize>,
    pin: bool,
    cpus: &[usize],
    quota: Option<usize>,
    busy: &[usize],
) -> Placement {
    let mut free: Vec<usize> = cpus.iter().copied().filter(|c| !busy.contains(c)).collect();
    if free.is_empty() {
        free = cpus.to_vec();
    }
    let usable = quota.map_or(free.len(), |q| q.clamp(1, free.len()));
    let (n, why) = match shards {
        Some(n) => (n.max(1), format!("{} shards (--shards)", n.max(1))),
        None => {
            let n = if usable < RESERVE_BELOW {
                usable.saturating_sub(1).max(1)
            } else {
                usable
            };
            let mut why = format!(
                "{n} shard{} ({} CPUs, {} free{}",
                if n == 1 { "" } else { "s" },
                cpus.len(),
                free.len(),
                quota.map_or(String::new(), |q| format!(", cgroup quota {q}")),
            );
            if n < usable {
                why.push_str(", one left to clients and the network stack");
            }
            why.push_str("; --shards N to choose)");
            (n, why)
        }
    };
    let pin_to = (pin && n <= free.len()).then(|| free[..n].to_vec());
    let why = match (&pin_to, pin) {
        (Some(_), _) => format!("{why}, pinned"),
        (None, true) => format!("{why}, not pinned: more shards than free CPUs"),
        (None, false) => format!("{why}, not pinned"),
    };
    Placement {
        shards: n,
        pin_to,
        why,
    }
}

/// CPUs a cgroup v2 `cpu.max` quota allows (rounded up), if one is set.
fn cgroup_quota_cpus() -> Option<usize> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let max = std::fs::read_to_string(format!("/sys/fs/cgroup{path}/cpu.max")).ok()?;
    parse_cpu_max(&max)
}

fn parse_cpu_max(s: &str) -> Option<usize> {
    let mut it = s.split_whitespace();
    let quota: u64 = it.next()?.parse().ok()?; // "max" (no quota) fails here
    let period: u64 = it.next()?.parse().ok()?;
    (period > 0).then(|| quota.div_ceil(period).max(1) as usize)
}

/// Per-CPU (busy, total) jiffies from /proc/stat.
fn cpu_times() -> Vec<(usize, u64, u64)> {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return Vec::new();
    };
    stat.lines().filter_map(parse_cpu_line).collect()
}

/// `cpuN user nice system idle iowait irq softirq steal ...` -> (N, busy, total).
fn parse_cpu_line(line: &str) -> Option<(usize, u64, u64)> {
    let rest = line.strip_prefix("cpu")?;
    let mut it = rest.split(' ').filter(|x| !x.is_empty());
    if !rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None; // the aggregate "cpu" line
    }
    let id: usize = it.next()?.parse().ok()?;
    let v: Vec<u64> = it.take(8).filter_map(|x| x.parse().ok()).collect();
    if v.len() < 5 {
        return None;
    }
    let idle = v[3] + v[4];
    let total: u64 = v.iter().sum();
    Some((id, total - idle, total))
}

/// The CPUs of `cpus` that were busier than [`BUSY_SHARE`] over `sample`.
fn busy_cpus(cpus: &[usize], sample: Duration) -> Vec<usize> {
    let before = cpu_times();
    std::thread::sleep(sample);
    let after = cpu_times();
    after
        .iter()
        .filter(|(id, _, _)| cpus.contains(id))
        .filter_map(|&(id, busy, total)| {
            let &(_, b0, t0) = before.iter().find(|(i, _, _)| *i == id)?;
            let (db, dt) = (busy.saturating_sub(b0), total.saturating_sub(t0));
            (dt > 0 && db as f64 / dt as f64 > BUSY_SHARE).then_some(id)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_leave_a_cpu_on_small_machines() {
        let p = decide(None, false, &[0, 1], None, &[]);
        assert_eq!((p.shards, p.pin_to.clone()), (1, None));
        assert!(p.why.contains("one left to clients"), "{}", p.why);
        assert_eq!(decide(None, false, &[0], None, &[]).shards, 1);
        assert_eq!(decide(None, false, &[0, 1, 2], None, &[]).shards, 2);
        assert_eq!(
            decide(None, false, &(0..16).collect::<Vec<_>>(), None, &[]).shards,
            16
        );
    }

    #[test]
    fn busy_cpus_and_quotas_shrink_the_default() {
        let cpus: Vec<usize> = (0..8).collect();
        assert_eq!(decide(None, false, &cpus, None, &[2, 5]).shards, 6);
        assert_eq!(decide(None, false, &cpus, Some(4), &[]).shards, 4);
        assert_eq!(decide(None, false, &cpus, Some(2), &[]).shards, 1);
        // Every CPU busy: size to all of them rather than to none.
        assert_eq!(
            decide(None, false, &[0, 1, 2, 3], None, &[0, 1, 2, 3]).shards,
            4
        );
    }

    #[test]
    fn explicit_count_and_pinning() {
        let cpus: Vec<usize> = (0..4).collect();
        let p = decide(Some(3), true, &cpus, None, &[1]);
        assert_eq!((p.shards, p.pin_to), (3, Some(vec![0, 2, 3])));
        let p = decide(Some(4), true, &cpus, None, &[1]);
        assert_eq!(p.pin_to, None);
        assert!(p.why.contains("more shards than free CPUs"), "{}", p.why);
        assert_eq!(decide(Some(8), false, &cpus, None, &[]).shards, 8);
    }

    #[test]
    fn parses_proc_and_cgroup_lines() {
        assert_eq!(parse_cpu_line("cpu  10 0 5 100 3 0 0 0 0 0"), None);
        assert_eq!(
            parse_cpu_line("cpu1 10 0 5 100 3 1 1 0 0 0"),
            Some((1, 17, 120))
        );
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(2));
        assert_eq!(parse_cpu_max("50000 100000"), Some(1));
        assert!(!cpu_times().is_empty());
    }
}
