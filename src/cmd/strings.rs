//! String commands: GET, SET and its family, counters, ranges.
//!
//! Each handler parses its arguments with Redis's precedence (syntax errors before number
//! errors before expire-time errors), makes one store call and writes one reply.

use super::args::{eq_ic, parse_i64, Args, IntArg};
use crate::cmd::state::Shard;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::store::{ExpiryUpdate, SetCond, MAX_STRING_LEN};

type R = Result<(), CmdError>;

/// GET key
pub fn get(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    match sh.store.get(a.get(1), now)? {
        Some(v) => {
            reply::bulk(out, v);
            sh.stats.hits += 1;
        }
        None => {
            reply::null(out);
            sh.stats.misses += 1;
        }
    }
    Ok(())
}

/// Which command's option grammar applies (SET and GETEX share Redis's parser).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Grammar {
    Set,
    GetEx,
}

struct ExtOpts<'a> {
    cond: SetCond,
    get: bool,
    expiry: Option<ExpiryUpdate>,
    /// The expire argument not yet validated: (text, unit, relative).
    expire_arg: Option<(&'a [u8], Unit, bool)>,
}

impl ExtOpts<'_> {
    /// Validates the expire argument (Redis checks it after the syntax, and GETEX only once the
    /// key is found).
    fn expiry(&self, now: u64, cmd: &'static str) -> Result<Option<ExpiryUpdate>, CmdError> {
        match self.expire_arg {
            Some((arg, unit, relative)) => Ok(Some(ExpiryUpdate::At(expire_ms(
                arg, unit, relative, now, cmd,
            )?))),
            None => Ok(self.expiry),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Millis,
}

/// Redis `parseExtendedStringArgumentsOrReply`: the syntax only; [`ExtOpts::expiry`] then
/// validates the number like `getExpireMillisecondsOrReply`.
fn parse_ext<'a>(a: &Args<'a>, from: usize, grammar: Grammar) -> Result<ExtOpts<'a>, CmdError> {
    const EX: u8 = 1;
    const PX: u8 = 2;
    const EXAT: u8 = 4;
    const PXAT: u8 = 8;
    const KEEPTTL: u8 = 16;
    const PERSIST: u8 = 32;
    let mut exp_flags = 0u8;
    let mut opts = ExtOpts {
        cond: SetCond::Always,
        get: false,
        expiry: None,
        expire_arg: None,
    };
    let mut expire_arg: Option<(&[u8], u8)> = None;
    let mut i = from;
    while i < a.len() {
        let opt = a.get(i);
        let has_next = i + 1 < a.len();
        let set = grammar == Grammar::Set;
        if set && eq_ic(opt, "nx") && opts.cond != SetCond::Xx {
            opts.cond = SetCond::Nx;
        } else if set && eq_ic(opt, "xx") && opts.cond != SetCond::Nx {
            opts.cond = SetCond::Xx;
        } else if set && eq_ic(opt, "get") {
            opts.get = true;
        } else if set && eq_ic(opt, "keepttl") && exp_flags & !KEEPTTL == 0 {
            exp_flags |= KEEPTTL;
        } else if !set && eq_ic(opt, "persist") && exp_flags & !PERSIST == 0 {
            exp_flags |= PERSIST;
        } else if has_next && eq_ic(opt, "ex") && exp_flags & !EX == 0 {
            exp_flags |= EX;
            expire_arg = Some((a.get(i + 1), EX));
            i += 1;
        } else if has_next && eq_ic(opt, "px") && exp_flags & !PX == 0 {
            exp_flags |= PX;
            expire_arg = Some((a.get(i + 1), PX));
            i += 1;
        } else if has_next && eq_ic(opt, "exat") && exp_flags & !EXAT == 0 {
            exp_flags |= EXAT;
            expire_arg = Some((a.get(i + 1), EXAT));
            i += 1;
        } else if has_next && eq_ic(opt, "pxat") && exp_flags & !PXAT == 0 {
            exp_flags |= PXAT;
            expire_arg = Some((a.get(i + 1), PXAT));
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if exp_flags & KEEPTTL != 0 {
        opts.expiry = Some(ExpiryUpdate::Keep);
    } else if exp_flags & PERSIST != 0 {
        opts.expiry = Some(ExpiryUpdate::Persist);
    } else if let Some((arg, kind)) = expire_arg {
        let unit = if kind & (EX | EXAT) != 0 {
            Unit::Seconds
        } else {
            Unit::Millis
        };
        let relative = kind & (EX | PX) != 0;
        opts.expire_arg = Some((arg, unit, relative));
    }
    Ok(opts)
}

/// An expire argument as an absolute unix time in ms, with Redis's checks and error texts.
fn expire_ms(
    arg: &[u8],
    unit: Unit,
    relative: bool,
    now: u64,
    cmd: &'static str,
) -> Result<u64, CmdError> {
    let v = parse_i64(arg).ok_or(CmdError::NotInteger)?;
    if v <= 0 || (unit == Unit::Seconds && v > i64::MAX / 1000) {
        return Err(CmdError::InvalidExpire(cmd));
    }
    let ms = if unit == Unit::Seconds { v * 1000 } else { v };
    let at = if relative {
        ms.checked_add(now as i64)
            .ok_or(CmdError::InvalidExpire(cmd))?
    } else {
        ms
    };
    Ok(at as u64)
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]
pub fn set(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let opts = parse_ext(a, 3, Grammar::Set)?;
    let expiry = opts.expiry(now, "set")?.unwrap_or(ExpiryUpdate::Persist);
    let res = sh
        .store
        .set(a.get(1), a.get(2), opts.cond, expiry, opts.get, now)?;
    if opts.get {
        match res.old {
            Some(old) => reply::bulk(out, &old),
            None => reply::null(out),
        }
    } else if res.written {
        reply::ok(out);
    } else {
        reply::null(out);
    }
    Ok(())
}

/// SETNX key value
pub fn setnx(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let res = sh.store.set(
        a.get(1),
        a.get(2),
        SetCond::Nx,
        ExpiryUpdate::Persist,
        false,
        now,
    )?;
    reply::int(out, res.written as i64);
    Ok(())
}

/// SETEX key seconds value / PSETEX key milliseconds value
pub fn setex(
    sh: &mut Shard,
    a: &Args,
    now: u64,
    out: &mut Out,
    unit_ms: u64,
    cmd: &'static str,
) -> R {
    let unit = if unit_ms == 1000 {
        Unit::Seconds
    } else {
        Unit::Millis
    };
    let at = expire_ms(a.get(2), unit, true, now, cmd)?;
    sh.store.set(
        a.get(1),
        a.get(3),
        SetCond::Always,
        ExpiryUpdate::At(at),
        false,
        now,
    )?;
    reply::ok(out);
    Ok(())
}

/// GETSET key value
pub fn getset(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let res = sh.store.set(
        a.get(1),
        a.get(2),
        SetCond::Always,
        ExpiryUpdate::Persist,
        true,
        now,
    )?;
    match res.old {
        Some(old) => reply::bulk(out, &old),
        None => reply::null(out),
    }
    Ok(())
}

/// GETDEL key
pub fn getdel(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    match sh.store.get_del(a.get(1), now)? {
        Some(v) => reply::bulk(out, &v),
        None => reply::null(out),
    }
    Ok(())
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]
pub fn getex(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let opts = parse_ext(a, 2, Grammar::GetEx)?;
    if opts.expire_arg.is_some() && !sh.store.exists(a.get(1), now) {
        reply::null(out);
        return Ok(());
    }
    match sh.store.get_ex(a.get(1), opts.expiry(now, "getex")?, now)? {
        Some(v) => reply::bulk(out, v),
        None => reply::null(out),
    }
    Ok(())
}

/// MGET key [key ...]: a value that is not a string reads as nil, as in Redis.
pub fn mget(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    reply::array(out, a.len() - 1);
    for key in a.iter().skip(1) {
        match sh.store.get(key, now) {
            Ok(Some(v)) => {
                reply::bulk(out, v);
                sh.stats.hits += 1;
            }
            _ => {
                reply::null(out);
                sh.stats.misses += 1;
            }
        }
    }
    Ok(())
}

/// MSET key value [key value ...]
pub fn mset(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    if a.len() % 2 == 0 {
        return Err(CmdError::WrongArity("mset".into()));
    }
    let mut i = 1;
    while i + 1 < a.len() {
        sh.store.set(
            a.get(i),
            a.get(i + 1),
            SetCond::Always,
            ExpiryUpdate::Persist,
            false,
            now,
        )?;
        i += 2;
    }
    reply::ok(out);
    Ok(())
}

/// MSETNX key value [key value ...] when every key lives on this shard (atomic here; see
/// `shard::pipeline` for keys on several shards).
pub fn msetnx(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    if a.len() % 2 == 0 {
        return Err(CmdError::WrongArity("msetnx".into()));
    }
    let any = (1..a.len())
        .step_by(2)
        .any(|i| sh.store.exists(a.get(i), now));
    if !any {
        mset(sh, a, now, &mut Out::new(false))?;
    }
    reply::int(out, !any as i64);
    Ok(())
}

/// APPEND key value
pub fn append(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let len = sh.store.append(a.get(1), a.get(2), now)?;
    reply::int(out, len as i64);
    Ok(())
}

/// STRLEN key
pub fn strlen(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let len = sh.store.strlen(a.get(1), now)?;
    reply::int(out, len as i64);
    Ok(())
}

/// INCR / DECR / INCRBY / DECRBY after their argument is parsed.
pub fn incr_by(sh: &mut Shard, key: &[u8], delta: i64, now: u64, out: &mut Out) -> R {
    let v = sh.store.incr_by(key, delta, now)?;
    reply::int(out, v);
    Ok(())
}

/// INCRBY key increment / DECRBY key decrement
pub fn incrby(sh: &mut Shard, a: &Args, now: u64, out: &mut Out, negate: bool) -> R {
    let n = a.i64_at(2)?;
    let delta = if negate {
        if n == i64::MIN {
            return Err(CmdError::DecrementOverflow);
        }
        -n
    } else {
        n
    };
    incr_by(sh, a.get(1), delta, now, out)
}

/// INCRBYFLOAT key increment: the reply is the stored text, so it matches what GET returns.
pub fn incrbyfloat(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let delta = super::args::parse_f64(a.get(2)).ok_or(CmdError::NotFloat)?;
    sh.store.incr_by_float(a.get(1), delta, now)?;
    match sh.store.get(a.get(1), now)? {
        Some(v) => reply::bulk(out, v),
        None => reply::null(out),
    }
    Ok(())
}

/// GETRANGE key start end
pub fn getrange(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let start = a.i64_at(2)?;
    let end = a.i64_at(3)?;
    let v = sh.store.get_range(a.get(1), start, end, now)?;
    reply::bulk(out, v);
    Ok(())
}

/// SETRANGE key offset value
pub fn setrange(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let offset = a.i64_at(2)?;
    if offset < 0 {
        return Err(CmdError::OffsetOutOfRange);
    }
    let value = a.get(3);
    if !value.is_empty()
        && (offset as u64).saturating_add(value.len() as u64) > MAX_STRING_LEN as u64
    {
        return Err(CmdError::StringTooLong);
    }
    let len = sh.store.set_range(a.get(1), offset as usize, value, now)?;
    reply::int(out, len as i64);
    Ok(())
}
