//! Combining the parts of a command split across shards into the one reply Redis would give,
//! and reading back the few reply shapes the parts produce.

use crate::cmd::{server, Gather};
use crate::resp::reply;

/// Reads one `$n\r\n...\r\n` or `$-1\r\n` element; returns (payload or None for null, rest).
pub(super) fn read_bulk(r: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
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
    parts: &[(u16, &[u8])],
    order: &[u16],
    info: u32,
    settings: &crate::shard::ServerInfo,
    out: &mut Vec<u8>,
) {
    if let Some((_, err)) = parts.iter().find(|(_, r)| r.first() == Some(&b'-')) {
        out.extend_from_slice(err);
        return;
    }
    match kind {
        Gather::SumInt => reply::int(
            out,
            parts.iter().filter_map(|(_, r)| reply::parse_int(r)).sum(),
        ),
        Gather::KilledOrNoSuchClient => {
            if parts
                .iter()
                .filter_map(|(_, r)| reply::parse_int(r))
                .sum::<i64>()
                > 0
            {
                reply::ok(out);
            } else {
                reply::error(out, b"ERR No such client");
            }
        }
        Gather::AllOk => reply::ok(out),
        Gather::Reset => reply::simple(out, b"RESET"),
        Gather::Elements => {
            // Each part is an array of bulks in its keys' order; interleave them by key order.
            let mut rest: Vec<(u16, &[u8])> = parts
                .iter()
                .map(|&(s, r)| (s, read_array(r).map_or(&b""[..], |(_, body)| body)))
                .collect();
            reply::array(out, order.len());
            for s in order {
                let Some(cur) = rest.iter_mut().find(|(t, _)| t == s) else {
                    continue;
                };
                match read_bulk(cur.1) {
                    Some((v, next)) => {
                        match v {
                            Some(v) => reply::bulk(out, v),
                            None => reply::null(out),
                        }
                        cur.1 = next;
                    }
                    None => reply::null(out),
                }
            }
        }
        Gather::ConcatArrays => {
            let total: i64 = parts
                .iter()
                .filter_map(|(_, r)| read_array(r))
                .map(|(n, _)| n.max(0))
                .sum();
            reply::array(out, total as usize);
            for (_, r) in parts {
                if let Some((_, body)) = read_array(r) {
                    out.extend_from_slice(body);
                }
            }
        }
        Gather::AnyNonNull => {
            let found = parts
                .iter()
                .filter_map(|(_, r)| read_bulk(r))
                .find_map(|(v, _)| v);
            match found {
                Some(k) => reply::bulk(out, k),
                None => reply::null(out),
            }
        }
        Gather::ConcatText => {
            let text: Vec<u8> = parts
                .iter()
                .filter_map(|(_, r)| read_bulk(r))
                .filter_map(|(v, _)| v)
                .flatten()
                .copied()
                .collect();
            reply::bulk(out, &text);
        }
        Gather::Info => {
            let per_shard: Vec<Vec<i64>> = parts
                .iter()
                .map(|(_, r)| {
                    let mut v = Vec::new();
                    if let Some((n, mut body)) = read_array(r) {
                        for _ in 0..n.max(0) {
                            let Some(nl) = memchr::memchr(b'\n', body) else {
                                break;
                            };
                            v.push(reply::parse_int(&body[..nl + 1]).unwrap_or(0));
                            body = &body[nl + 1..];
                        }
                    }
                    v
                })
                .collect();
            server::format_info(info, &per_shard, settings, out);
        }
    }
}
