//! Sorted-set commands.
//!
//! Single-key commands are one store call or one read of the [`ZSet`]. The algebra (ZUNION,
//! ZINTER, ZDIFF, their STORE forms, ZINTERCARD) and ZRANGESTORE work on [`Source`]s: a set
//! read here when the keys live on this shard, or the values other shards sent
//! (`shard::pipeline` fetches them with the shards held and calls [`combine`] at the origin),
//! so both paths compute the same answer.

use super::args::{eq_ic, parse_f64, parse_i64, Args};
use crate::cmd::state::Shard;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::store::{glob_match, Value, ZAddFlags, ZSet};

type R = Result<(), CmdError>;

const NOT_FLOAT: CmdError = CmdError::Plain("value is not a valid float");
const RANGE_NOT_FLOAT: CmdError = CmdError::Plain("min or max is not a float");
const BAD_LEX: CmdError = CmdError::Plain("min or max not valid string range item");

fn score_arg(b: &[u8]) -> Result<f64, CmdError> {
    parse_f64(b).ok_or(NOT_FLOAT)
}

/// Writes `items` with scores: flat pairs in RESP2, `[member, score]` arrays in RESP3.
pub fn with_scores(out: &mut Out, items: &[(&[u8], f64)]) {
    if out.resp3() {
        reply::array(out, items.len());
        for (m, s) in items {
            reply::array(out, 2);
            reply::bulk(out, m);
            reply::double(out, *s);
        }
    } else {
        reply::array(out, items.len() * 2);
        for (m, s) in items {
            reply::bulk(out, m);
            reply::double(out, *s);
        }
    }
}

/// Writes `[[member, score]...]` in both protocols (ZMPOP's inner reply).
fn pairs(out: &mut Out, items: &[(Vec<u8>, f64)]) {
    reply::array(out, items.len());
    for (m, s) in items {
        reply::array(out, 2);
        reply::bulk(out, m);
        reply::double(out, *s);
    }
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
pub fn zadd(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let mut f = ZAddFlags::default();
    let mut ch = false;
    let mut i = 2;
    while i < a.len() {
        let o = a.get(i);
        if eq_ic(o, "nx") {
            f.nx = true;
        } else if eq_ic(o, "xx") {
            f.xx = true;
        } else if eq_ic(o, "gt") {
            f.gt = true;
        } else if eq_ic(o, "lt") {
            f.lt = true;
        } else if eq_ic(o, "ch") {
            ch = true;
        } else if eq_ic(o, "incr") {
            f.incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = a.len() - i;
    if rest == 0 || rest % 2 != 0 {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::Plain(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (f.gt && f.nx) || (f.lt && f.nx) || (f.gt && f.lt) {
        return Err(CmdError::Plain(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && rest > 2 {
        return Err(CmdError::Plain(
            "INCR option supports a single increment-element pair",
        ));
    }
    let mut items = Vec::with_capacity(rest / 2);
    while i < a.len() {
        items.push((score_arg(a.get(i))?, a.get(i + 1)));
        i += 2;
    }
    let r = sh.store.zadd(a.get(1), &items, f, now).map_err(nan_error)?;
    if f.incr {
        match r.score {
            Some(s) => reply::double(out, s),
            None => reply::null(out),
        }
    } else {
        reply::int(out, if ch { r.changed } else { r.added } as i64);
    }
    Ok(())
}

fn nan_error(e: crate::store::StoreError) -> CmdError {
    match e {
        crate::store::StoreError::NanOrInfinity => {
            CmdError::Plain("resulting score is not a number (NaN)")
        }
        e => e.into(),
    }
}

/// ZINCRBY key increment member
pub fn zincrby(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let by = score_arg(a.get(2))?;
    let f = ZAddFlags {
        incr: true,
        ..Default::default()
    };
    let r = sh
        .store
        .zadd(a.get(1), &[(by, a.get(3))], f, now)
        .map_err(nan_error)?;
    match r.score {
        Some(s) => reply::double(out, s),
        None => reply::null(out),
    }
    Ok(())
}

/// ZREM key member [member ...]
pub fn zrem(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let m: Vec<&[u8]> = a.iter().skip(2).collect();
    let n = sh.store.zrem(a.get(1), &m, now)?;
    reply::int(out, n as i64);
    Ok(())
}

/// ZSCORE key member
pub fn zscore(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    match sh
        .store
        .zset_view(a.get(1), now)?
        .and_then(|z| z.score(a.get(2)))
    {
        Some(s) => reply::double(out, s),
        None => reply::null(out),
    }
    Ok(())
}

/// ZMSCORE key member [member ...]
pub fn zmscore(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let z = sh.store.zset_view(a.get(1), now)?;
    let scores: Vec<Option<f64>> = a
        .iter()
        .skip(2)
        .map(|m| z.and_then(|z| z.score(m)))
        .collect();
    reply::array(out, scores.len());
    for s in scores {
        match s {
            Some(s) => reply::double(out, s),
            None => reply::null(out),
        }
    }
    Ok(())
}

/// ZCARD key
pub fn zcard(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let n = sh.store.zset_view(a.get(1), now)?.map_or(0, ZSet::len);
    reply::int(out, n as i64);
    Ok(())
}

/// A score bound: value and whether it is exclusive (`(1.5`).
#[derive(Debug, Clone, Copy)]
pub struct ScoreBound(pub f64, pub bool);

pub fn score_bound(b: &[u8]) -> Result<ScoreBound, CmdError> {
    let (ex, rest) = match b.strip_prefix(b"(") {
        Some(r) => (true, r),
        None => (false, b),
    };
    let v = parse_f64(rest).ok_or(RANGE_NOT_FLOAT)?;
    Ok(ScoreBound(v, ex))
}

/// A lex bound: `-`, `+`, `[x` or `(x`.
#[derive(Debug, Clone)]
pub enum LexBound {
    Min,
    Max,
    At(Vec<u8>, bool),
}

pub fn lex_bound(b: &[u8]) -> Result<LexBound, CmdError> {
    match b.first() {
        Some(b'-') if b.len() == 1 => Ok(LexBound::Min),
        Some(b'+') if b.len() == 1 => Ok(LexBound::Max),
        Some(b'[') => Ok(LexBound::At(b[1..].to_vec(), false)),
        Some(b'(') => Ok(LexBound::At(b[1..].to_vec(), true)),
        _ => Err(BAD_LEX),
    }
}

/// Ranks `[start, end)` of members with scores within `min..max`.
fn score_ranks(z: &ZSet, min: ScoreBound, max: ScoreBound) -> (usize, usize) {
    let start = z.first_at_score(min.0, min.1);
    // The end: first rank past max.
    let end = z.first_at_score(max.0, !max.1);
    (start, end.max(start))
}

/// Ranks `[start, end)` of members within the lex range.
fn lex_ranks(z: &ZSet, min: &LexBound, max: &LexBound) -> (usize, usize) {
    let start = match min {
        LexBound::Min => 0,
        LexBound::Max => z.len(),
        LexBound::At(m, ex) => z.first_at_member(Some(m), *ex),
    };
    let end = match max {
        LexBound::Min => 0,
        LexBound::Max => z.len(),
        LexBound::At(m, ex) => z.first_at_member(Some(m), !*ex),
    };
    (start, end.max(start))
}

/// ZCOUNT key min max
pub fn zcount(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let (min, max) = (score_bound(a.get(2))?, score_bound(a.get(3))?);
    let n = sh.store.zset_view(a.get(1), now)?.map_or(0, |z| {
        let (s, e) = score_ranks(z, min, max);
        e - s
    });
    reply::int(out, n as i64);
    Ok(())
}

/// ZLEXCOUNT key min max
pub fn zlexcount(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let (min, max) = (lex_bound(a.get(2))?, lex_bound(a.get(3))?);
    let n = sh.store.zset_view(a.get(1), now)?.map_or(0, |z| {
        let (s, e) = lex_ranks(z, &min, &max);
        e - s
    });
    reply::int(out, n as i64);
    Ok(())
}

/// How a range is selected.
#[derive(Debug, Clone)]
enum By {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

/// A parsed ZRANGE-family request.
#[derive(Debug, Clone)]
pub struct RangeSpec {
    by: By,
    rev: bool,
    limit: Option<(i64, i64)>,
    pub withscores: bool,
}

/// Which ZRANGE-family command: the shape of its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Range,
    Store,
    RevRange,
    ByScore,
    RevByScore,
    ByLex,
    RevByLex,
}

/// Parses the range arguments from `a[first..]` for `form`.
pub fn range_spec(a: &Args, first: usize, form: Form) -> Result<RangeSpec, CmdError> {
    let (lo, hi) = (a.get(first), a.get(first + 1));
    let mut by_score = matches!(form, Form::ByScore | Form::RevByScore);
    let mut by_lex = matches!(form, Form::ByLex | Form::RevByLex);
    let mut rev = matches!(form, Form::RevRange | Form::RevByScore | Form::RevByLex);
    let (mut limit, mut withscores) = (None, false);
    let mut i = first + 2;
    while i < a.len() {
        let o = a.get(i);
        if eq_ic(o, "withscores") && !matches!(form, Form::Store | Form::ByLex | Form::RevByLex) {
            withscores = true;
        } else if eq_ic(o, "limit") && i + 2 < a.len() && !matches!(form, Form::RevRange) {
            let off = parse_i64(a.get(i + 1)).ok_or(CmdError::NotInteger)?;
            let cnt = parse_i64(a.get(i + 2)).ok_or(CmdError::NotInteger)?;
            limit = Some((off, cnt));
            i += 2;
        } else if matches!(form, Form::Range | Form::Store) && eq_ic(o, "byscore") {
            by_score = true;
        } else if matches!(form, Form::Range | Form::Store) && eq_ic(o, "bylex") {
            by_lex = true;
        } else if matches!(form, Form::Range | Form::Store) && eq_ic(o, "rev") {
            rev = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if by_score && by_lex {
        return Err(CmdError::Syntax);
    }
    if limit.is_some() && !by_score && !by_lex {
        return Err(CmdError::Plain(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by_lex {
        return Err(CmdError::Plain(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // REV (and the REV commands) take the bounds as max, min.
    let (lo, hi) = if rev && (by_score || by_lex) {
        (hi, lo)
    } else {
        (lo, hi)
    };
    let by = if by_score {
        By::Score(score_bound(lo)?, score_bound(hi)?)
    } else if by_lex {
        By::Lex(lex_bound(lo)?, lex_bound(hi)?)
    } else {
        By::Rank(
            parse_i64(lo).ok_or(CmdError::NotInteger)?,
            parse_i64(hi).ok_or(CmdError::NotInteger)?,
        )
    };
    Ok(RangeSpec {
        by,
        rev,
        limit,
        withscores,
    })
}

/// The members a range selects, in reply order.
pub fn select<'z>(z: &'z ZSet, spec: &RangeSpec) -> Vec<(&'z [u8], f64)> {
    let n = z.len();
    let (start, end) = match &spec.by {
        By::Rank(s, e) => {
            let len = n as i64;
            let s = if *s < 0 { (len + s).max(0) } else { *s };
            let e = if *e < 0 { len + e } else { (*e).min(len - 1) };
            if s > e || s >= len {
                return Vec::new();
            }
            if spec.rev {
                // Ranks count from the top.
                let (a, b) = ((n as i64 - 1 - e) as usize, (n as i64 - 1 - s) as usize);
                return z.iter_back_from(b).take(b - a + 1).collect();
            }
            return z.iter_from(s as usize).take((e - s + 1) as usize).collect();
        }
        By::Score(min, max) => score_ranks(z, *min, *max),
        By::Lex(min, max) => lex_ranks(z, min, max),
    };
    if start >= end {
        return Vec::new();
    }
    let (off, cnt) = spec.limit.unwrap_or((0, -1));
    if off < 0 {
        return Vec::new();
    }
    let avail = end - start;
    let off = off as usize;
    if off >= avail {
        return Vec::new();
    }
    let take = if cnt < 0 {
        avail - off
    } else {
        (cnt as usize).min(avail - off)
    };
    if spec.rev {
        z.iter_back_from(end - 1 - off).take(take).collect()
    } else {
        z.iter_from(start + off).take(take).collect()
    }
}

fn write_range(out: &mut Out, items: &[(&[u8], f64)], withscores: bool) {
    if withscores {
        with_scores(out, items);
    } else {
        reply::array(out, items.len());
        for (m, _) in items {
            reply::bulk(out, m);
        }
    }
}

/// ZRANGE and its older forms.
pub fn zrange(sh: &mut Shard, a: &Args, form: Form, now: u64, out: &mut Out) -> R {
    let spec = range_spec(a, 2, form)?;
    match sh.store.zset_view(a.get(1), now)? {
        Some(z) => {
            let items = select(z, &spec);
            write_range(out, &items, spec.withscores);
        }
        None => reply::array(out, 0),
    }
    Ok(())
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count] (both keys here).
pub fn zrangestore(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let spec = range_spec(a, 3, Form::Store)?;
    let items: Vec<(Vec<u8>, f64)> = match sh.store.zset_view(a.get(2), now)? {
        Some(z) => select(z, &spec)
            .into_iter()
            .map(|(m, s)| (m.to_vec(), s))
            .collect(),
        None => Vec::new(),
    };
    let n = sh.store.zstore(a.get(1), &items, now)?;
    reply::int(out, n as i64);
    Ok(())
}

/// The members of range `spec` of value `v` (a sorted set another shard sent).
pub fn select_value(v: Option<&Value>, spec: &RangeSpec) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::ZSet(items)) => {
            let mut z = ZSet::new();
            for (m, s) in items {
                z.insert(m, *s);
            }
            Ok(select(&z, spec)
                .into_iter()
                .map(|(m, s)| (m.to_vec(), s))
                .collect())
        }
        Some(_) => Err(CmdError::WrongType),
    }
}

/// ZRANK / ZREVRANK key member
pub fn zrank(sh: &mut Shard, a: &Args, rev: bool, now: u64, out: &mut Out) -> R {
    let r = sh.store.zset_view(a.get(1), now)?.and_then(|z| {
        z.rank(a.get(2))
            .map(|r| if rev { z.len() - 1 - r } else { r })
    });
    match r {
        Some(r) => reply::int(out, r as i64),
        None => reply::null(out),
    }
    Ok(())
}

/// ZREMRANGEBYRANK / BYSCORE / BYLEX key min max
pub fn zremrange(sh: &mut Shard, a: &Args, form: Form, now: u64, out: &mut Out) -> R {
    let by = match form {
        Form::ByScore => By::Score(score_bound(a.get(2))?, score_bound(a.get(3))?),
        Form::ByLex => By::Lex(lex_bound(a.get(2))?, lex_bound(a.get(3))?),
        _ => By::Rank(
            parse_i64(a.get(2)).ok_or(CmdError::NotInteger)?,
            parse_i64(a.get(3)).ok_or(CmdError::NotInteger)?,
        ),
    };
    let Some(z) = sh.store.zset_view(a.get(1), now)? else {
        reply::int(out, 0);
        return Ok(());
    };
    let n = z.len();
    let (s, e) = match by {
        By::Rank(s, e) => {
            let len = n as i64;
            let s = if s < 0 { (len + s).max(0) } else { s };
            let e = if e < 0 { len + e } else { e.min(len - 1) };
            if s > e || s >= len {
                (0, 0)
            } else {
                (s as usize, e as usize + 1)
            }
        }
        By::Score(min, max) => score_ranks(z, min, max),
        By::Lex(min, max) => lex_ranks(z, &min, &max),
    };
    let removed = if s < e {
        sh.store
            .zremove_ranks(a.get(1), s, e - 1, false, now)?
            .len()
    } else {
        0
    };
    reply::int(out, removed as i64);
    Ok(())
}

/// ZPOPMIN / ZPOPMAX key [count]
pub fn zpop(sh: &mut Shard, a: &Args, max: bool, now: u64, out: &mut Out) -> R {
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = if a.len() == 3 {
        match parse_i64(a.get(2)) {
            Some(c) if c >= 0 => Some(c as usize),
            _ => return Err(CmdError::Plain("value is out of range, must be positive")),
        }
    } else {
        None
    };
    let popped = sh
        .store
        .zpop(a.get(1), max, count.unwrap_or(1), now)?
        .unwrap_or_default();
    let items: Vec<(&[u8], f64)> = popped.iter().map(|(m, s)| (m.as_slice(), *s)).collect();
    if count.is_none() && out.resp3() {
        // One pop in RESP3: the pair itself.
        match items.first() {
            Some((m, s)) => {
                reply::array(out, 2);
                reply::bulk(out, m);
                reply::double(out, *s);
            }
            None => reply::array(out, 0),
        }
    } else {
        with_scores(out, &items);
    }
    Ok(())
}

/// What ZMPOP / BZMPOP (`first`: index of numkeys) asks: keys, MAX, count.
pub fn mpop_args<'a>(a: &Args<'a>, first: usize) -> Result<(Vec<&'a [u8]>, bool, usize), CmdError> {
    let max = |b: &[u8]| {
        if eq_ic(b, "max") {
            Ok(true)
        } else if eq_ic(b, "min") {
            Ok(false)
        } else {
            Err(CmdError::Syntax)
        }
    };
    super::lists::mpop_args_with(a, first, max)
}

/// ZMPOP numkeys key... MIN|MAX [COUNT count] (and one-shot BZMPOP, `first` 2): keys here.
pub fn zmpop(sh: &mut Shard, a: &Args, first: usize, now: u64, out: &mut Out) -> R {
    let (keys, max, count) = mpop_args(a, first)?;
    for k in keys {
        if let Some(p) = sh.store.zpop(k, max, count, now)? {
            if !p.is_empty() {
                reply::array(out, 2);
                reply::bulk(out, k);
                pairs(out, &p);
                return Ok(());
            }
        }
    }
    reply::null_array(out);
    Ok(())
}

/// One-shot BZPOPMIN / BZPOPMAX key... timeout: keys here.
pub fn bzpop(sh: &mut Shard, a: &Args, max: bool, now: u64, out: &mut Out) -> R {
    super::blocking::timeout_ms(a.get(a.len() - 1), now)?;
    for i in 1..a.len() - 1 {
        let k = a.get(i);
        if let Some(p) = sh.store.zpop(k, max, 1, now)? {
            if let Some((m, s)) = p.first() {
                reply::array(out, 3);
                reply::bulk(out, k);
                reply::bulk(out, m);
                reply::double(out, *s);
                return Ok(());
            }
        }
    }
    reply::null_array(out);
    Ok(())
}

/// ZRANDMEMBER key [count [WITHSCORES]]
pub fn zrandmember(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    if a.len() > 4 || (a.len() == 4 && !eq_ic(a.get(3), "withscores")) {
        return Err(CmdError::Syntax);
    }
    let count = if a.len() >= 3 {
        let c = parse_i64(a.get(2)).ok_or(CmdError::NotInteger)?;
        if c == i64::MIN {
            return Err(CmdError::Plain(
                "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ));
        }
        if a.len() == 4 && c < -(i64::MAX / 2) {
            return Err(CmdError::Plain("value is out of range"));
        }
        Some(c)
    } else {
        None
    };
    let withscores = a.len() == 4;
    let mut rng = sh.next_random();
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let Some(z) = sh.store.zset_view(a.get(1), now)? else {
        match count {
            None => reply::null(out),
            Some(_) => reply::array(out, 0),
        }
        return Ok(());
    };
    let n = z.len();
    match count {
        None => {
            let (m, _) = z.nth((next() % n as u64) as usize).unwrap_or((b"", 0.0));
            reply::bulk(out, m);
        }
        Some(c) if c < 0 => {
            // Written as drawn (no list of picks first), like the other random commands.
            let k = c.unsigned_abs() as usize;
            let resp3 = out.resp3();
            reply::array(out, if withscores && !resp3 { k * 2 } else { k });
            for _ in 0..k {
                let (m, s) = z.nth((next() % n as u64) as usize).unwrap_or((b"", 0.0));
                if withscores && resp3 {
                    reply::array(out, 2);
                }
                reply::bulk(out, m);
                if withscores {
                    reply::double(out, s);
                }
            }
        }
        Some(c) => {
            let c = (c as usize).min(n);
            // Distinct members: a random subset by rank.
            let mut ranks: Vec<usize> = if c * 2 >= n {
                (0..n).collect()
            } else {
                let mut picked = hashbrown::HashSet::new();
                while picked.len() < c {
                    picked.insert((next() % n as u64) as usize);
                }
                picked.into_iter().collect()
            };
            // Shuffle, then keep c.
            for i in (1..ranks.len()).rev() {
                let j = (next() % (i as u64 + 1)) as usize;
                ranks.swap(i, j);
            }
            ranks.truncate(c);
            let items: Vec<(&[u8], f64)> = ranks.iter().filter_map(|&r| z.nth(r)).collect();
            write_range(out, &items, withscores);
        }
    }
    Ok(())
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
pub fn zscan(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let cursor = super::keys::parse_cursor(a.get(2))?;
    let (pattern, count) = super::hashes::scan_options(a)?;
    let mut found: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut next = 0u64;
    if let Some(z) = sh.store.zset_view(a.get(1), now)? {
        let total = z.slot_count() as u64;
        let mut pos = cursor;
        let mut visited = 0;
        while pos < total && visited < count.max(1) {
            if let Some((m, s)) = z.slot_member(pos as usize) {
                visited += 1;
                if pattern.map_or(true, |p| glob_match(p, m)) {
                    found.push((m.to_vec(), s));
                }
            }
            pos += 1;
        }
        next = if pos >= total { 0 } else { pos };
    }
    reply::array(out, 2);
    reply::bulk(out, itoa::Buffer::new().format(next).as_bytes());
    reply::array(out, found.len() * 2);
    let mut digits = Vec::new();
    for (m, s) in &found {
        reply::bulk(out, m);
        digits.clear();
        reply::format_g17(*s, &mut digits);
        reply::bulk(out, &digits);
    }
    Ok(())
}

mod algebra;
pub use algebra::{
    algebra, algebra_spec, answer, combine, local_sources, source_of, Aggregate, AlgebraSpec, Op,
    Source,
};
