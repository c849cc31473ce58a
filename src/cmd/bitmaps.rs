//! Bitmap commands on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, with Redis 7.0's bit order
//! (bit 0 is the most significant bit of byte 0), index rules (negative indexes from the end,
//! BYTE or BIT units) and error texts. A bitmap is a string: it persists, expires and moves
//! like one, and SETBIT is logged as itself (its effect is the bit), not as the whole string.

use super::args::{eq_ic, parse_i64, Args};
use crate::cmd::state::Shard;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;

type R = Result<(), CmdError>;

const BAD_OFFSET: CmdError = CmdError::Plain("bit offset is not an integer or out of range");

/// A bit offset: 0 up to the largest string's bit count (proto-max-bulk-len bytes).
fn offset(arg: &[u8]) -> Result<u64, CmdError> {
    let max = crate::config::RUNTIME
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed);
    match parse_i64(arg) {
        Some(o) if o >= 0 && ((o as u64) >> 3) < max => Ok(o as u64),
        _ => Err(BAD_OFFSET),
    }
}

/// SETBIT key offset value
pub fn setbit(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let off = offset(a.get(2))?;
    let on = match a.get(3) {
        b"0" => false,
        b"1" => true,
        _ => return Err(CmdError::Plain("bit is not an integer or out of range")),
    };
    let old = sh.store.set_bit(a.get(1), off, on, now)?;
    reply::int(out, old as i64);
    Ok(())
}

/// The bit at `off` of `s` (0 past its end).
#[inline]
fn bit_at(s: &[u8], off: u64) -> bool {
    s.get((off / 8) as usize)
        .is_some_and(|b| b >> (7 - off % 8) & 1 == 1)
}

/// GETBIT key offset
pub fn getbit(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let off = offset(a.get(2))?;
    let v = sh.store.get(a.get(1), now)?.is_some_and(|s| bit_at(s, off));
    reply::int(out, v as i64);
    Ok(())
}

/// A [start, end] range of `len` units, Redis-normalized (negative from the end, clamped);
/// `None` when empty.
fn range(start: i64, end: i64, len: i64) -> Option<(u64, u64)> {
    let fix = |x: i64| if x < 0 { (len + x).max(0) } else { x };
    let (s, e) = (fix(start), fix(end).min(len - 1));
    (len > 0 && s <= e).then_some((s as u64, e as u64))
}

/// Whether the optional unit argument at `i` says BIT (BYTE or absent: bytes).
fn unit_is_bit(a: &Args, i: usize) -> Result<bool, CmdError> {
    if i >= a.len() {
        return Ok(false);
    }
    if eq_ic(a.get(i), "bit") {
        Ok(true)
    } else if eq_ic(a.get(i), "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// BITCOUNT key [start end [BYTE|BIT]]
pub fn bitcount(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let Some(s) = sh.store.get(a.get(1), now)? else {
        reply::int(out, 0);
        return Ok(());
    };
    let n = match a.len() {
        2 => s.iter().map(|b| b.count_ones() as u64).sum(),
        4 | 5 => {
            let start = parse_i64(a.get(2)).ok_or(CmdError::NotInteger)?;
            let end = parse_i64(a.get(3)).ok_or(CmdError::NotInteger)?;
            if unit_is_bit(a, 4)? {
                match range(start, end, s.len() as i64 * 8) {
                    Some((from, to)) => (from..=to).filter(|&i| bit_at(s, i)).count() as u64,
                    None => 0,
                }
            } else {
                match range(start, end, s.len() as i64) {
                    Some((from, to)) => s[from as usize..=to as usize]
                        .iter()
                        .map(|b| b.count_ones() as u64)
                        .sum(),
                    None => 0,
                }
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    reply::int(out, n as i64);
    Ok(())
}

/// The first bit equal to `bit` in bits `from..=to` of `s`, skipping whole bytes that cannot
/// hold it.
fn find_bit(s: &[u8], from: u64, to: u64, bit: bool) -> Option<u64> {
    let skip = if bit { 0x00 } else { 0xFF };
    let mut i = from;
    while i <= to {
        let byte = s[(i / 8) as usize];
        if i % 8 == 0 && i + 7 <= to && byte == skip {
            i += 8;
            continue;
        }
        if (byte >> (7 - i % 8) & 1 == 1) == bit {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
pub fn bitpos(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let bit = match parse_i64(a.get(2)) {
        Some(0) => false,
        Some(1) => true,
        Some(_) => return Err(CmdError::Plain("The bit argument must be 1 or 0.")),
        None => return Err(CmdError::NotInteger),
    };
    // A missing key is an endless run of zeros.
    let Some(s) = sh.store.get(a.get(1), now)? else {
        reply::int(out, if bit { -1 } else { 0 });
        return Ok(());
    };
    if a.len() > 6 {
        return Err(CmdError::Syntax);
    }
    let end_given = a.len() >= 5;
    let (isbit, start, end) = if a.len() >= 4 {
        let isbit = unit_is_bit(a, 5)?;
        let start = parse_i64(a.get(3)).ok_or(CmdError::NotInteger)?;
        let units = s.len() as i64 * if isbit { 8 } else { 1 };
        let end = if end_given {
            parse_i64(a.get(4)).ok_or(CmdError::NotInteger)?
        } else {
            units - 1
        };
        (isbit, start, end)
    } else {
        (false, 0, s.len() as i64 - 1)
    };
    let units = s.len() as i64 * if isbit { 8 } else { 1 };
    let Some((from, to)) = range(start, end, units) else {
        reply::int(out, -1);
        return Ok(());
    };
    let (from_bit, to_bit) = if isbit { (from, to) } else { (from * 8, to * 8 + 7) };
    let pos = match find_bit(s, from_bit, to_bit, bit) {
        Some(p) => p as i64,
        // Past the end, a string reads as zeros, unless the range's end was given.
        None if !bit && !end_given => ((to_bit / 8 + 1) * 8) as i64,
        None => -1,
    };
    reply::int(out, pos);
    Ok(())
}

/// BITOP's operation, checked before any key is read.
pub fn bitop_args<'a>(a: &Args<'a>) -> Result<(u8, &'a [u8], Vec<&'a [u8]>), CmdError> {
    let op = a.get(1);
    let code = if eq_ic(op, "and") {
        b'&'
    } else if eq_ic(op, "or") {
        b'|'
    } else if eq_ic(op, "xor") {
        b'^'
    } else if eq_ic(op, "not") {
        b'~'
    } else {
        return Err(CmdError::Syntax);
    };
    let sources: Vec<&[u8]> = a.iter().skip(3).collect();
    if code == b'~' && sources.len() != 1 {
        return Err(CmdError::Plain("BITOP NOT must be called with a single source key."));
    }
    Ok((code, a.get(2), sources))
}

/// BITOP's result over `sources` (missing keys are empty strings; shorter strings read as
/// zero bytes past their end; the result is as long as the longest).
pub fn bitop_result(code: u8, sources: &[Vec<u8>]) -> Vec<u8> {
    let len = sources.iter().map(Vec::len).max().unwrap_or(0);
    let at = |s: &Vec<u8>, i: usize| s.get(i).copied().unwrap_or(0);
    (0..len)
        .map(|i| match code {
            b'~' => !at(&sources[0], i),
            _ => {
                let mut it = sources.iter().map(|s| at(s, i));
                let first = it.next().unwrap_or(0);
                it.fold(first, |acc, b| match code {
                    b'&' => acc & b,
                    b'|' => acc | b,
                    _ => acc ^ b,
                })
            }
        })
        .collect()
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...] (every key on this shard)
pub fn bitop(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let (code, dest, keys) = bitop_args(a)?;
    let mut sources = Vec::with_capacity(keys.len());
    for k in &keys {
        sources.push(sh.store.get(k, now)?.map(<[u8]>::to_vec).unwrap_or_default());
    }
    let result = bitop_result(code, &sources);
    let n = result.len();
    if n == 0 {
        sh.store.del(dest, now);
    } else {
        sh.store.set(
            dest,
            &result,
            crate::store::SetCond::Always,
            crate::store::ExpiryUpdate::Persist,
            false,
            now,
        )?;
    }
    reply::int(out, n as i64);
    Ok(())
}
