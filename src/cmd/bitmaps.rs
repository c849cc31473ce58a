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
    let (from_bit, to_bit) = if isbit {
        (from, to)
    } else {
        (from * 8, to * 8 + 7)
    };
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
        return Err(CmdError::Plain(
            "BITOP NOT must be called with a single source key.",
        ));
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
        sources.push(
            sh.store
                .get(k, now)?
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
        );
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

/// BITFIELD's overflow behaviours.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy)]
enum FieldOp {
    Get,
    Set(i64),
    Incr(i64),
}

#[derive(Clone, Copy)]
struct Field {
    signed: bool,
    bits: u32,
    offset: u64,
    op: FieldOp,
    overflow: Overflow,
}

/// `i1`..`i64` or `u1`..`u63`.
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let bad = CmdError::Plain(
        "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
    );
    let (signed, digits) = match arg.split_first() {
        Some((b'i' | b'I', d)) => (true, d),
        Some((b'u' | b'U', d)) => (false, d),
        _ => return Err(bad),
    };
    match parse_i64(digits) {
        Some(n) if n >= 1 && (n <= 63 || (signed && n == 64)) => Ok((signed, n as u32)),
        _ => Err(bad),
    }
}

/// A field offset: bits, or `#N` for N times the field's width.
fn field_offset(arg: &[u8], bits: u32) -> Result<u64, CmdError> {
    let (mul, digits) = match arg.strip_prefix(b"#") {
        Some(d) => (bits as u64, d),
        None => (1, arg),
    };
    match parse_i64(digits) {
        Some(n) if n >= 0 => {
            let off = (n as u64).checked_mul(mul).ok_or(BAD_OFFSET)?;
            offset(itoa::Buffer::new().format(off).as_bytes())
        }
        _ => Err(BAD_OFFSET),
    }
}

fn parse_fields(a: &Args, read_only: bool) -> Result<Vec<Field>, CmdError> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut i = 2;
    while i < a.len() {
        let sub = a.get(i);
        let left = a.len() - i - 1;
        if eq_ic(sub, "overflow") && left >= 1 {
            overflow = match a.get(i + 1) {
                o if eq_ic(o, "wrap") => Overflow::Wrap,
                o if eq_ic(o, "sat") => Overflow::Sat,
                o if eq_ic(o, "fail") => Overflow::Fail,
                _ => return Err(CmdError::Plain("Invalid OVERFLOW type specified")),
            };
            i += 2;
            continue;
        }
        let (op, args) = if eq_ic(sub, "get") && left >= 2 {
            (FieldOp::Get, 2)
        } else if eq_ic(sub, "set") && left >= 3 {
            (FieldOp::Set(0), 3)
        } else if eq_ic(sub, "incrby") && left >= 3 {
            (FieldOp::Incr(0), 3)
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = field_type(a.get(i + 1))?;
        let offset = field_offset(a.get(i + 2), bits)?;
        let op = match op {
            FieldOp::Get => FieldOp::Get,
            FieldOp::Set(_) => FieldOp::Set(parse_i64(a.get(i + 3)).ok_or(CmdError::NotInteger)?),
            FieldOp::Incr(_) => FieldOp::Incr(parse_i64(a.get(i + 3)).ok_or(CmdError::NotInteger)?),
        };
        if read_only && !matches!(op, FieldOp::Get) {
            return Err(CmdError::Plain(
                "BITFIELD_RO only supports the GET subcommand",
            ));
        }
        fields.push(Field {
            signed,
            bits,
            offset,
            op,
            overflow,
        });
        i += 1 + args;
    }
    Ok(fields)
}

/// The `bits`-bit field at `offset` of `s` (bits past its end read as 0), most significant
/// bit first, as an unsigned number.
fn read_field(s: &[u8], offset: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0u64, |v, k| v << 1 | bit_at(s, offset + k) as u64)
}

fn write_field(s: &mut [u8], offset: u64, bits: u32, v: u64) {
    for k in 0..bits as u64 {
        let bit = v >> (bits as u64 - 1 - k) & 1 == 1;
        let at = offset + k;
        let mask = 0x80u8 >> (at % 8);
        let b = &mut s[(at / 8) as usize];
        *b = if bit { *b | mask } else { *b & !mask };
    }
}

/// `value + incr` in a field of `bits` under `overflow`: the stored bits, or `None` when FAIL
/// refuses it (Redis's overflow rules, with exact wide arithmetic).
fn fit(signed: bool, bits: u32, value: i128, incr: i128, overflow: Overflow) -> Option<i128> {
    let (min, max) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    let sum = value + incr;
    if (min..=max).contains(&sum) {
        return Some(sum);
    }
    match overflow {
        Overflow::Fail => None,
        Overflow::Sat => Some(if sum > max { max } else { min }),
        Overflow::Wrap => {
            let m = sum.rem_euclid(1i128 << bits);
            Some(if signed && m > max {
                m - (1i128 << bits)
            } else {
                m
            })
        }
    }
}

/// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
/// [OVERFLOW WRAP|SAT|FAIL] ... and BITFIELD_RO key [GET type offset ...]
pub fn bitfield(sh: &mut Shard, a: &Args, now: u64, out: &mut Out, read_only: bool) -> R {
    let fields = parse_fields(a, read_only)?;
    let key = a.get(1);
    let writes = fields.iter().any(|f| !matches!(f.op, FieldOp::Get));
    let mut s = sh.store.get(key, now)?.map(<[u8]>::to_vec);
    if !writes {
        let s = s.unwrap_or_default();
        reply::array(out, fields.len());
        for f in &fields {
            reply::int(out, as_signed(f, read_field(&s, f.offset, f.bits)) as i64);
        }
        return Ok(());
    }
    // Writes make room for the highest field they write first, whatever their outcome (Redis).
    let need = fields
        .iter()
        .filter(|f| !matches!(f.op, FieldOp::Get))
        .map(|f| ((f.offset + f.bits as u64 - 1) / 8 + 1) as usize)
        .max()
        .unwrap_or(0);
    let mut buf = s.take().unwrap_or_default();
    let grown = buf.len() < need;
    if grown {
        buf.resize(need, 0);
    }
    let mut changed = false;
    reply::array(out, fields.len());
    for f in &fields {
        let old = as_signed(f, read_field(&buf, f.offset, f.bits));
        let (value, incr, answer_old) = match f.op {
            FieldOp::Get => {
                reply::int(out, old as i64);
                continue;
            }
            FieldOp::Set(v) => {
                // An unsigned field takes the value's 64 bits as unsigned, as Redis does.
                let v = if f.signed {
                    v as i128
                } else {
                    v as u64 as i128
                };
                (v, 0, true)
            }
            FieldOp::Incr(d) => (old, d as i128, false),
        };
        match fit(f.signed, f.bits, value, incr, f.overflow) {
            Some(new) => {
                write_field(&mut buf, f.offset, f.bits, new as u64);
                changed = true;
                reply::int(out, if answer_old { old } else { new } as i64);
            }
            None => reply::null(out),
        }
    }
    if changed || grown {
        sh.store.set_range(key, 0, &buf, now)?;
    }
    Ok(())
}

/// A field's bits as its signed or unsigned value.
fn as_signed(f: &Field, raw: u64) -> i128 {
    if f.signed && f.bits < 64 && raw >> (f.bits - 1) & 1 == 1 {
        raw as i128 - (1i128 << f.bits)
    } else if f.signed && f.bits == 64 {
        raw as i64 as i128
    } else {
        raw as i128
    }
}
