//! The sorted-set algebra: ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD, over
//! [`Source`]s read on this shard or sent by other shards (see the parent module).

use super::super::args::{eq_ic, parse_f64, parse_i64, Args};
use super::write_range;
use crate::cmd::state::Shard;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::store::Value;

type R = Result<(), CmdError>;

/// The algebra's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Min,
    Max,
}

/// A parsed ZUNION-family request: keys, weights, aggregate, WITHSCORES, LIMIT (ZINTERCARD).
#[derive(Debug, Clone)]
pub struct AlgebraSpec<'a> {
    pub op: Op,
    pub keys: Vec<&'a [u8]>,
    pub weights: Vec<f64>,
    pub aggregate: Aggregate,
    pub withscores: bool,
    pub limit: usize,
}

/// Parses the algebra's arguments from numkeys at `first`; `store` (the STORE forms) takes no
/// WITHSCORES; `card` is ZINTERCARD.
pub fn algebra_spec<'a>(
    a: &Args<'a>,
    first: usize,
    op: Op,
    store: bool,
    card: bool,
) -> Result<AlgebraSpec<'a>, CmdError> {
    let name = String::from_utf8_lossy(a.get(0)).to_ascii_lowercase();
    let numkeys = parse_i64(a.get(first)).ok_or(CmdError::NotInteger)?;
    if numkeys <= 0 {
        return Err(CmdError::Message(format!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    let numkeys = numkeys as usize;
    if numkeys > a.len() - first - 1 {
        return Err(CmdError::Syntax);
    }
    let keys: Vec<&[u8]> = (first + 1..first + 1 + numkeys).map(|i| a.get(i)).collect();
    let mut spec = AlgebraSpec {
        op,
        keys,
        weights: vec![1.0; numkeys],
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut i = first + 1 + numkeys;
    while i < a.len() {
        let o = a.get(i);
        if card && eq_ic(o, "limit") && i + 1 < a.len() {
            spec.limit = match parse_i64(a.get(i + 1)) {
                Some(l) if l >= 0 => l as usize,
                _ => return Err(CmdError::Plain("LIMIT can't be negative")),
            };
            i += 2;
        } else if !card && op != Op::Diff && eq_ic(o, "weights") && i + numkeys < a.len() {
            for k in 0..numkeys {
                spec.weights[k] = parse_f64(a.get(i + 1 + k))
                    .ok_or(CmdError::Plain("weight value is not a float"))?;
            }
            i += 1 + numkeys;
        } else if !card && op != Op::Diff && eq_ic(o, "aggregate") && i + 1 < a.len() {
            let v = a.get(i + 1);
            spec.aggregate = if eq_ic(v, "sum") {
                Aggregate::Sum
            } else if eq_ic(v, "min") {
                Aggregate::Min
            } else if eq_ic(v, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            i += 2;
        } else if !card && !store && eq_ic(o, "withscores") {
            spec.withscores = true;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(spec)
}

/// One input of the algebra: members and scores (a set's members score 1), or missing.
pub type Source = Option<Vec<(Vec<u8>, f64)>>;

/// A key's value as an input: sorted sets and sets; WRONGTYPE for anything else.
pub fn source_of(v: Option<Value>) -> Result<Source, CmdError> {
    match v {
        None => Ok(None),
        Some(Value::ZSet(items)) => Ok(Some(items)),
        Some(Value::Set(m)) => Ok(Some(m.into_iter().map(|m| (m, 1.0)).collect())),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Reads the inputs of `keys` on this shard.
pub fn local_sources(sh: &mut Shard, keys: &[&[u8]], now: u64) -> Result<Vec<Source>, CmdError> {
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        if sh.store.zset_peek(k, now).is_err() && sh.store.set_peek(k, now).is_err() {
            return Err(CmdError::WrongType);
        }
        out.push(source_of(sh.store.value(k, now))?);
    }
    Ok(out)
}

fn aggregate(agg: Aggregate, a: f64, b: f64) -> f64 {
    let v = match agg {
        Aggregate::Sum => a + b,
        Aggregate::Min => a.min(b),
        Aggregate::Max => a.max(b),
    };
    // inf + -inf is 0 in Redis.
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// The algebra over `sources` (in key order): the result sorted by (score, member).
pub fn combine(spec: &AlgebraSpec, sources: &[Source]) -> Vec<(Vec<u8>, f64)> {
    let weighted = |i: usize, s: f64| {
        let v = s * spec.weights[i];
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut acc: hashbrown::HashMap<Vec<u8>, f64> = hashbrown::HashMap::new();
    match spec.op {
        Op::Union => {
            for (i, src) in sources.iter().enumerate() {
                for (m, s) in src.iter().flatten() {
                    let v = weighted(i, *s);
                    acc.entry_ref(m.as_slice())
                        .and_modify(|x| *x = aggregate(spec.aggregate, *x, v))
                        .or_insert(v);
                }
            }
        }
        Op::Inter => {
            if sources.iter().any(Option::is_none) {
                return Vec::new();
            }
            let mut sorted: Vec<usize> = (0..sources.len()).collect();
            sorted.sort_by_key(|&i| sources[i].as_ref().map_or(0, Vec::len));
            let maps: Vec<hashbrown::HashMap<&[u8], f64>> = sources
                .iter()
                .map(|s| {
                    s.iter()
                        .flatten()
                        .map(|(m, x)| (m.as_slice(), *x))
                        .collect()
                })
                .collect();
            let first = sorted[0];
            'm: for (m, _) in sources[first].iter().flatten() {
                let mut v: Option<f64> = None;
                for (i, map) in maps.iter().enumerate() {
                    let Some(s) = map.get(m.as_slice()) else {
                        continue 'm;
                    };
                    let w = weighted(i, *s);
                    v = Some(match v {
                        None => w,
                        Some(x) => aggregate(spec.aggregate, x, w),
                    });
                }
                acc.insert(m.clone(), v.unwrap_or(0.0));
            }
        }
        Op::Diff => {
            let Some(Some(first)) = sources.first() else {
                return Vec::new();
            };
            let rest: Vec<hashbrown::HashSet<&[u8]>> = sources[1..]
                .iter()
                .map(|s| s.iter().flatten().map(|(m, _)| m.as_slice()).collect())
                .collect();
            for (m, s) in first {
                if !rest.iter().any(|r| r.contains(m.as_slice())) {
                    acc.insert(m.clone(), *s);
                }
            }
        }
    }
    let mut v: Vec<(Vec<u8>, f64)> = acc.into_iter().collect();
    v.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    v
}

/// Answers a computed algebra: the members (and scores) or, for ZINTERCARD, the count.
pub fn answer(spec: &AlgebraSpec, card: bool, result: &[(Vec<u8>, f64)], out: &mut Out) {
    if card {
        let n = if spec.limit > 0 {
            result.len().min(spec.limit)
        } else {
            result.len()
        };
        reply::int(out, n as i64);
        return;
    }
    let items: Vec<(&[u8], f64)> = result.iter().map(|(m, s)| (m.as_slice(), *s)).collect();
    write_range(out, &items, spec.withscores);
}

/// ZUNION / ZINTER / ZDIFF / ZINTERCARD and the STORE forms with every key on this shard.
pub fn algebra(
    sh: &mut Shard,
    a: &Args,
    op: Op,
    store: bool,
    card: bool,
    now: u64,
    out: &mut Out,
) -> R {
    let first = if store { 2 } else { 1 };
    let spec = algebra_spec(a, first, op, store, card)?;
    let sources = local_sources(sh, &spec.keys, now)?;
    let result = combine(&spec, &sources);
    if store {
        let n = sh.store.zstore(a.get(1), &result, now)?;
        reply::int(out, n as i64);
    } else {
        answer(&spec, card, &result, out);
    }
    Ok(())
}
