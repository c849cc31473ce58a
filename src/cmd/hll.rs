//! HyperLogLog on strings, in Redis's own representation so a key moved with DUMP/RESTORE or an
//! RDB file between Redis and corekv keeps its count: a 16-byte header (`HYLL`, the encoding,
//! three unused bytes, the cached cardinality little endian with its top bit meaning "stale"),
//! then 16,384 six-bit registers (dense) or Redis's sparse run opcodes. corekv reads both and
//! writes dense; element hashing (MurmurHash64A, seed 0xadc83b19) and the estimator (Ertl's
//! improved one, as Redis 5+) follow Redis exactly, so counts are the same number.

use super::args::Args;
use crate::cmd::state::Shard;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;

type R = Result<(), CmdError>;

const P: u32 = 14;
const REGISTERS: usize = 1 << P;
const Q: u32 = 64 - P;
const HEADER: usize = 16;
const DENSE_LEN: usize = HEADER + REGISTERS * 6 / 8;

pub const NOT_HLL: CmdError =
    CmdError::Coded("WRONGTYPE Key is not a valid HyperLogLog string value.");
pub const CORRUPT: CmdError = CmdError::Coded("INVALIDOBJ Corrupted HLL object detected");

/// Redis's MurmurHash64A.
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().unwrap_or_default());
        k = k.wrapping_mul(M);
        k ^= k >> 47;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate().rev() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 47;
    h = h.wrapping_mul(M);
    h ^= h >> 47;
    h
}

/// The register an element lands in and the run length it counts.
fn pattern(ele: &[u8]) -> (usize, u8) {
    let h = murmur64a(ele, 0xadc8_3b19);
    let index = (h & (REGISTERS as u64 - 1)) as usize;
    let rest = (h >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// The registers of an HLL string; `Err` for a string that is not one, or a damaged one.
fn registers(s: &[u8]) -> Result<Vec<u8>, CmdError> {
    if s.len() < HEADER || &s[..4] != b"HYLL" {
        return Err(NOT_HLL);
    }
    let mut regs = vec![0u8; REGISTERS];
    match s[4] {
        0 => {
            if s.len() != DENSE_LEN {
                return Err(NOT_HLL);
            }
            let p = &s[HEADER..];
            for (i, r) in regs.iter_mut().enumerate() {
                let byte = i * 6 / 8;
                let fb = (i * 6) & 7;
                let b0 = p[byte] as u16;
                let b1 = p.get(byte + 1).copied().unwrap_or(0) as u16;
                *r = (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8;
            }
        }
        1 => {
            let mut at = 0usize;
            let mut i = HEADER;
            while i < s.len() {
                let b = s[i];
                let (len, val) = if b & 0xC0 == 0 {
                    ((b & 0x3F) as usize + 1, 0)
                } else if b & 0xC0 == 0x40 {
                    i += 1;
                    let lo = *s.get(i).ok_or(CORRUPT)? as usize;
                    ((((b & 0x3F) as usize) << 8 | lo) + 1, 0)
                } else {
                    ((b & 3) as usize + 1, ((b >> 2) & 0x1F) + 1)
                };
                i += 1;
                let end = at
                    .checked_add(len)
                    .filter(|&e| e <= REGISTERS)
                    .ok_or(CORRUPT)?;
                regs[at..end].iter_mut().for_each(|r| *r = val);
                at = end;
            }
            if at != REGISTERS {
                return Err(CORRUPT);
            }
        }
        _ => return Err(NOT_HLL),
    }
    Ok(regs)
}

/// A dense HLL string of `regs`, its cached count marked stale.
fn dense(regs: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; DENSE_LEN];
    out[..4].copy_from_slice(b"HYLL");
    out[15] = 0x80;
    let p = &mut out[HEADER..];
    for (i, &v) in regs.iter().enumerate() {
        let byte = i * 6 / 8;
        let fb = (i * 6) & 7;
        let v = v as u16;
        p[byte] = (p[byte] as u16 & !(63u16 << fb) | (v << fb)) as u8;
        if byte + 1 < p.len() {
            let fb8 = 8 - fb;
            p[byte + 1] = ((p[byte + 1] as u16 & !(63u16 >> fb8)) | (v >> fb8)) as u8;
        }
    }
    out
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

/// The cardinality estimate of `regs` (Redis's `hllCount`).
fn estimate(regs: &[u8]) -> u64 {
    let mut histo = [0u32; 64];
    for &r in regs {
        histo[r as usize & 63] += 1;
    }
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
    (ALPHA_INF * m * m / z).round() as u64
}

/// The registers at `key` (empty for a missing key).
fn load(sh: &mut Shard, key: &[u8], now: u64) -> Result<Option<(Vec<u8>, Vec<u8>)>, CmdError> {
    match sh.store.get(key, now)? {
        Some(s) => Ok(Some((registers(s)?, s.to_vec()))),
        None => Ok(None),
    }
}

/// Register `i` of a dense HLL's register bytes.
#[inline]
fn dense_get(p: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = p[byte] as u16;
    let b1 = p.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

/// The two bytes (offset from the registers' start, and their new values) that set register
/// `i` to `v` in `p`.
#[inline]
fn dense_set(p: &[u8], i: usize, v: u8) -> (usize, [u8; 2]) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = v as u16;
    let b0 = (p[byte] as u16 & !(63u16 << fb) | (v << fb)) as u8;
    let b1 = match p.get(byte + 1) {
        Some(&b) => ((b as u16 & !(63u16 >> (8 - fb))) | (v >> (8 - fb))) as u8,
        None => 0,
    };
    (byte, [b0, b1])
}

/// PFADD into an existing dense HLL, in place: only the registers that grow are written (two
/// bytes each) and the cached count is marked stale. `None` when the key is not a dense HLL.
fn pfadd_dense(
    sh: &mut Shard,
    key: &[u8],
    elements: &[&[u8]],
    now: u64,
) -> Result<Option<bool>, CmdError> {
    let Some(s) = sh.store.get(key, now)? else {
        return Ok(None);
    };
    if s.len() != DENSE_LEN || &s[..5] != b"HYLL\x00" {
        return Ok(None);
    }
    let mut regs_changed: Vec<(usize, u8)> = Vec::new();
    for e in elements {
        let (i, n) = pattern(e);
        let cur = regs_changed
            .iter()
            .rev()
            .find(|(j, _)| *j == i)
            .map_or_else(|| dense_get(&s[HEADER..], i), |&(_, v)| v);
        if n > cur {
            regs_changed.push((i, n));
        }
    }
    if regs_changed.is_empty() {
        return Ok(Some(false));
    }
    // One register at a time, each reading the bytes as the last write left them (neighbouring
    // registers share a byte).
    let stale = s[15] | 0x80;
    for &(i, v) in &regs_changed {
        let (at, bytes) = match sh.store.get(key, now)? {
            Some(s) => dense_set(&s[HEADER..], i, v),
            None => return Ok(None),
        };
        let n = if at + 1 < REGISTERS * 6 / 8 { 2 } else { 1 };
        sh.store.set_range(key, HEADER + at, &bytes[..n], now)?;
    }
    sh.store.set_range(key, 15, &[stale], now)?;
    Ok(Some(true))
}

/// PFADD key [element ...]
pub fn pfadd(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let key = a.get(1);
    let elements: Vec<&[u8]> = a.iter().skip(2).collect();
    if let Some(updated) = pfadd_dense(sh, key, &elements, now)? {
        reply::int(out, updated as i64);
        return Ok(());
    }
    let (mut regs, created) = match load(sh, key, now)? {
        Some((r, _)) => (r, false),
        None => (vec![0u8; REGISTERS], true),
    };
    let mut updated = created;
    for e in a.iter().skip(2) {
        let (i, n) = pattern(e);
        if regs[i] < n {
            regs[i] = n;
            updated = true;
        }
    }
    if updated {
        sh.store.set_range(key, 0, &dense(&regs), now)?;
    }
    reply::int(out, updated as i64);
    Ok(())
}

/// The count of one HLL string: its cached value when fresh (as Redis keeps it), else computed.
fn count_of(s: &[u8], regs: &[u8]) -> u64 {
    if s.len() >= HEADER && s[15] & 0x80 == 0 {
        return u64::from_le_bytes(s[8..16].try_into().unwrap_or_default());
    }
    estimate(regs)
}

/// The union's count (PFCOUNT over several keys): their registers merged, maximum by maximum.
pub fn union_count(all: &[Vec<u8>]) -> u64 {
    let mut max = vec![0u8; REGISTERS];
    for r in all {
        for (m, &v) in max.iter_mut().zip(r) {
            *m = (*m).max(v);
        }
    }
    estimate(&max)
}

/// The registers of HLL strings that another shard sent (`None`: missing key).
pub fn registers_of(strings: &[Option<Vec<u8>>]) -> Result<Vec<Vec<u8>>, CmdError> {
    strings.iter().flatten().map(|s| registers(s)).collect()
}

/// PFCOUNT key [key ...] (keys on this shard)
pub fn pfcount(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    if a.len() == 2 {
        let n = match load(sh, a.get(1), now)? {
            Some((regs, s)) => count_of(&s, &regs),
            None => 0,
        };
        reply::int(out, n as i64);
        return Ok(());
    }
    let mut all = Vec::new();
    for k in a.iter().skip(1) {
        if let Some((regs, _)) = load(sh, k, now)? {
            all.push(regs);
        }
    }
    reply::int(out, union_count(&all) as i64);
    Ok(())
}

/// PFCOUNT's answer for one key's string (for the cross-shard path).
pub fn count_string(s: &[u8]) -> Result<u64, CmdError> {
    let regs = registers(s)?;
    Ok(count_of(s, &regs))
}

/// The merged dense HLL of `all` (PFMERGE's result).
pub fn merged(all: &[Vec<u8>]) -> Vec<u8> {
    let mut max = vec![0u8; REGISTERS];
    for r in all {
        for (m, &v) in max.iter_mut().zip(r) {
            *m = (*m).max(v);
        }
    }
    dense(&max)
}

/// PFMERGE destkey [sourcekey ...] (keys on this shard)
pub fn pfmerge(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let mut all = Vec::new();
    for k in a.iter().skip(1) {
        if let Some((regs, _)) = load(sh, k, now)? {
            all.push(regs);
        }
    }
    sh.store.set_range(a.get(1), 0, &merged(&all), now)?;
    reply::ok(out);
    Ok(())
}
