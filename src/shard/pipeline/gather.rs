//! Combining the parts of a command split across shards into the one reply Redis would give.
//! A part is a client command's reply on a subset of the keys (MGET, DEL, KEYS: read back in
//! the few shapes they produce) or the typed result of the server's own op (INFO, CLIENT).

use crate::cmd::{server, Gather};
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::shard::ShardReply;

/// One shard's part of a split command: a client command's reply, or the typed result of the
/// server's own op.
pub(super) struct Part<'a> {
    pub shard: u16,
    pub resp: &'a [u8],
    pub typed: Option<&'a ShardReply>,
}

impl Part<'_> {
    /// The part's integer: a count the server's op answered, or an integer reply.
    fn int(&self) -> Option<i64> {
        match self.typed {
            Some(ShardReply::Count(n)) => Some(*n as i64),
            Some(_) => None,
            None => reply::parse_int(self.resp),
        }
    }
}

/// Reads one `$n\r\n...\r\n` or `$-1\r\n` element; returns (payload or None for null, rest).
pub(super) fn read_bulk(r: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    if let Some(rest) = r.strip_prefix(b"_\r\n") {
        return Some((None, rest));
    }
    let r = r.strip_prefix(b"$")?;
    let nl = memchr::memchr(b'\n', r)?;
    let n: i64 = atoi::atoi(&r[..nl.checked_sub(1)?])?;
    let body = &r[nl + 1..];
    if n < 0 {
        return Some((None, body));
    }
    let n = n as usize;
    if body.len() < n + 2 {
        return None;
    }
    Some((Some(&body[..n]), &body[n + 2..]))
}

/// Reads an array header `*n\r\n`; returns (n, rest).
fn read_array(r: &[u8]) -> Option<(i64, &[u8])> {
    let r = r.strip_prefix(b"*")?;
    let nl = memchr::memchr(b'\n', r)?;
    let n: i64 = atoi::atoi(&r[..nl.checked_sub(1)?])?;
    Some((n, &r[nl + 1..]))
}

/// Combines the parts of a split command into one reply. A part that is an error becomes the
/// reply (every part ran the same checks, so they fail alike).
pub(super) fn gather(
    kind: Gather,
    parts: &[Part],
    order: &[u16],
    info: u32,
    settings: &crate::shard::ServerInfo,
    out: &mut Out,
) {
    if let Some(p) = parts.iter().find(|p| p.resp.first() == Some(&b'-')) {
        out.extend_from_slice(p.resp);
        return;
    }
    match kind {
        Gather::SumInt | Gather::Receivers => {
            reply::int(out, parts.iter().filter_map(Part::int).sum())
        }
        Gather::KilledOrNoSuchClient => {
            if parts.iter().filter_map(Part::int).sum::<i64>() > 0 {
                reply::ok(out);
            } else {
                reply::error(out, CmdError::NoSuchClient.to_string().as_bytes());
            }
        }
        Gather::AllOk => reply::ok(out),
        Gather::Reset => reply::simple(out, b"RESET"),
        Gather::Elements => {
            // Each part is an array of replies in its keys' order, already in the client's
            // protocol; interleave them by key order, copying each element's bytes.
            let mut rest: Vec<(u16, &[u8])> = parts
                .iter()
                .map(|p| {
                    (
                        p.shard,
                        read_array(p.resp).map_or(&b""[..], |(_, body)| body),
                    )
                })
                .collect();
            reply::array(out, order.len());
            for s in order {
                let Some(cur) = rest.iter_mut().find(|(t, _)| t == s) else {
                    continue;
                };
                match reply::value_len(cur.1) {
                    Some(n) => {
                        out.extend_from_slice(&cur.1[..n]);
                        cur.1 = &cur.1[n..];
                    }
                    None => reply::null(out),
                }
            }
        }
        Gather::ConcatArrays => {
            let total: i64 = parts
                .iter()
                .filter_map(|p| read_array(p.resp))
                .map(|(n, _)| n.max(0))
                .sum();
            reply::array(out, total as usize);
            for p in parts {
                if let Some((_, body)) = read_array(p.resp) {
                    out.extend_from_slice(body);
                }
            }
        }
        Gather::AnyNonNull => {
            let found = parts
                .iter()
                .filter_map(|p| read_bulk(p.resp))
                .find_map(|(v, _)| v);
            match found {
                Some(k) => reply::bulk(out, k),
                None => reply::null(out),
            }
        }
        Gather::ConcatText => {
            let mut text = String::new();
            for p in parts {
                if let Some(ShardReply::Text(t)) = p.typed {
                    text.push_str(t);
                }
            }
            reply::verbatim(out, text.as_bytes());
        }
        Gather::Pubsub => {
            let typed: Vec<&ShardReply> = parts.iter().filter_map(|p| p.typed).collect();
            gather_query(crate::cmd::pubsub::Query::from_code(info), &typed, out);
        }
        Gather::Info => {
            let per_shard: Vec<&server::ShardCounters> = parts
                .iter()
                .filter_map(|p| match p.typed {
                    Some(ShardReply::Stats(c)) => Some(&**c),
                    _ => None,
                })
                .collect();
            server::format_info(info, &per_shard, settings, out);
        }
    }
}

/// Combines the cores' answers to a PUBSUB query into Redis's reply.
fn gather_query(q: crate::cmd::pubsub::Query, parts: &[&ShardReply], out: &mut Out) {
    match q {
        crate::cmd::pubsub::Query::Channels
        | crate::cmd::pubsub::Query::ShardChannels
        | crate::cmd::pubsub::Query::Numpat => {
            let mut names: Vec<&Vec<u8>> = parts
                .iter()
                .filter_map(|p| match p {
                    ShardReply::Names(n) => Some(n),
                    _ => None,
                })
                .flatten()
                .collect();
            names.sort_unstable();
            names.dedup();
            if q == crate::cmd::pubsub::Query::Numpat {
                reply::int(out, names.len() as i64);
            } else {
                reply::array(out, names.len());
                for n in names {
                    reply::bulk(out, n);
                }
            }
        }
        crate::cmd::pubsub::Query::Numsub | crate::cmd::pubsub::Query::ShardNumsub => {
            let counts: Vec<&Vec<(Vec<u8>, u64)>> = parts
                .iter()
                .filter_map(|p| match p {
                    ShardReply::Counts(c) => Some(c),
                    _ => None,
                })
                .collect();
            let channels = counts.first().map_or(0, |c| c.len());
            reply::array(out, channels * 2);
            for i in 0..channels {
                let n: u64 = counts.iter().filter_map(|c| c.get(i)).map(|c| c.1).sum();
                reply::bulk(out, &counts[0][i].0);
                reply::int(out, n as i64);
            }
        }
    }
}
