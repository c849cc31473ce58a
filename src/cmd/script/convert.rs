//! Values between RESP and Lua, by the rules Redis documents for scripts.
//!
//! RESP -> Lua (a command's reply inside `redis.call`): integer -> number, bulk -> string,
//! null bulk or null array -> false, array -> table (nested), status -> `{ok = text}`,
//! error -> `{err = text}`. After `redis.setresp(3)` the commands answer in RESP3, and its
//! types arrive too: null -> nil, boolean -> boolean, double -> `{double = n}`, map ->
//! `{map = {k = v}}`, set -> `{set = {e = true}}`, big number -> `{big_number = s}`, verbatim
//! -> `{verbatim_string = {format = f, string = s}}`.
//!
//! Lua -> RESP (a script's result): number -> integer (truncated toward zero), string -> bulk,
//! true -> `:1`, false and nil -> null, a table with a string `err` -> error, with a string
//! `ok` -> status, with `double`, `big_number`, `map`, `set` or `verbatim_string` -> that
//! RESP3 type (spelled in RESP2 for a RESP2 client), any other table -> array of its elements
//! 1, 2, ... up to the first nil; functions, userdata and coroutines -> null. A script that
//! chose RESP3 returns booleans as booleans (`#t`/`#f`, or `:1`/`:0` to a RESP2 client).

use crate::resp::reply;
use crate::resp::reply::Out;
use mlua::{Lua, Table, Value};

/// How deep a script's result may nest tables (a table containing itself would otherwise
/// recurse without end). Redis stops at Lua's stack limit with this error text.
const MAX_DEPTH: usize = 1000;

/// Converts one RESP reply (a whole reply of a command run by this shard) to a Lua value.
/// Returns the value and whether it was an error reply.
pub fn reply_to_lua(lua: &Lua, r: &[u8]) -> mlua::Result<(Value, bool)> {
    let mut at = 0;
    let v = parse(lua, r, &mut at)?;
    Ok((v, r.first() == Some(&b'-')))
}

fn line<'a>(r: &'a [u8], at: &mut usize) -> &'a [u8] {
    let start = *at;
    let end = memchr::memchr(b'\r', &r[start..]).map_or(r.len(), |i| start + i);
    *at = (end + 2).min(r.len());
    &r[start..end]
}

fn number(b: &[u8]) -> i64 {
    atoi::atoi::<i64>(b).unwrap_or(0)
}

fn parse(lua: &Lua, r: &[u8], at: &mut usize) -> mlua::Result<Value> {
    let Some(&kind) = r.get(*at) else {
        return Ok(Value::Boolean(false));
    };
    *at += 1;
    Ok(match kind {
        b'+' => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(line(r, at))?)?;
            Value::Table(t)
        }
        b'-' => {
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(line(r, at))?)?;
            Value::Table(t)
        }
        b':' => Value::Number(number(line(r, at)) as f64),
        b'_' => {
            line(r, at);
            Value::Nil
        }
        b'#' => Value::Boolean(line(r, at) == b"t"),
        b',' => {
            let text = String::from_utf8_lossy(line(r, at)).into_owned();
            let t = lua.create_table()?;
            t.raw_set("double", parse_double(&text))?;
            Value::Table(t)
        }
        b'(' => {
            let t = lua.create_table()?;
            t.raw_set("big_number", lua.create_string(line(r, at))?)?;
            Value::Table(t)
        }
        b'=' => {
            let n = number(line(r, at)).max(0) as usize;
            let start = *at;
            let end = (start + n).min(r.len());
            *at = (end + 2).min(r.len());
            let body = &r[start..end];
            let (format, text) = if body.len() >= 4 && body[3] == b':' {
                (&body[..3], &body[4..])
            } else {
                (&b"txt"[..], body)
            };
            let v = lua.create_table()?;
            v.raw_set("format", lua.create_string(format)?)?;
            v.raw_set("string", lua.create_string(text)?)?;
            let t = lua.create_table()?;
            t.raw_set("verbatim_string", v)?;
            Value::Table(t)
        }
        b'%' | b'~' => {
            let n = number(line(r, at)).max(0);
            let inner = lua.create_table()?;
            for _ in 0..n {
                let k = parse(lua, r, at)?;
                let v = if kind == b'%' {
                    parse(lua, r, at)?
                } else {
                    Value::Boolean(true)
                };
                if !k.is_nil() {
                    inner.raw_set(k, v)?;
                }
            }
            let t = lua.create_table()?;
            t.raw_set(if kind == b'%' { "map" } else { "set" }, inner)?;
            Value::Table(t)
        }
        b'$' => {
            let n = number(line(r, at));
            if n < 0 {
                Value::Boolean(false)
            } else {
                let start = *at;
                let end = (start + n as usize).min(r.len());
                *at = (end + 2).min(r.len());
                Value::String(lua.create_string(&r[start..end])?)
            }
        }
        b'*' => {
            let n = number(line(r, at));
            if n < 0 {
                Value::Boolean(false)
            } else {
                let t = lua.create_table_with_capacity(n as usize, 0)?;
                for i in 1..=n {
                    t.raw_set(i, parse(lua, r, at)?)?;
                }
                Value::Table(t)
            }
        }
        _ => Value::Boolean(false),
    })
}

fn parse_double(text: &str) -> f64 {
    match text {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => text.parse().unwrap_or(f64::NAN),
    }
}

/// Writes a script's result in the caller's protocol (`out`); `script_resp3`: the script
/// called `redis.setresp(3)`.
pub fn lua_to_reply(v: &Value, script_resp3: bool, out: &mut Out) {
    write(v, script_resp3, out, 0)
}

/// An error or status text as Redis sends it: one line.
pub fn one_line(s: &[u8]) -> Vec<u8> {
    s.iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect()
}

fn string_field(t: &Table, name: &str) -> Option<mlua::String> {
    match t.raw_get::<Value>(name) {
        Ok(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn write(v: &Value, r3: bool, out: &mut Out, depth: usize) {
    match v {
        Value::Boolean(b) if r3 => reply::boolean(out, *b),
        Value::Boolean(true) => reply::int(out, 1),
        Value::Integer(i) => reply::int(out, *i),
        Value::Number(n) => reply::int(out, n.trunc() as i64),
        Value::String(s) => reply::bulk(out, &s.as_bytes()),
        Value::Table(t) => {
            if depth >= MAX_DEPTH {
                return reply::error(out, b"ERR reached lua stack limit");
            }
            if let Some(e) = string_field(t, "err") {
                return reply::error(out, &one_line(&e.as_bytes()));
            }
            if let Some(s) = string_field(t, "ok") {
                return reply::simple(out, &one_line(&s.as_bytes()));
            }
            if write_typed(t, r3, out, depth) {
                return;
            }
            let mut items = Vec::new();
            for i in 1.. {
                match t.raw_get::<Value>(i) {
                    Ok(Value::Nil) | Err(_) => break,
                    Ok(v) => items.push(v),
                }
            }
            reply::array(out, items.len());
            for v in &items {
                write(v, r3, out, depth + 1);
            }
        }
        _ => reply::null(out),
    }
}

/// The RESP3 types a script's table may ask for (`double`, `big_number`, `map`, `set`,
/// `verbatim_string`); false when it asks for none. Kept out of [`write`] so that the
/// recursion's frame stays small (a deep table recurses up to [`MAX_DEPTH`] times on the
/// script's stack).
#[inline(never)]
fn write_typed(t: &Table, r3: bool, out: &mut Out, depth: usize) -> bool {
    if let Ok(Value::Number(d)) = t.raw_get::<Value>("double") {
        reply::double(out, d);
        return true;
    }
    if let Ok(Value::Integer(d)) = t.raw_get::<Value>("double") {
        reply::double(out, d as f64);
        return true;
    }
    if let Some(s) = string_field(t, "big_number") {
        reply::big_number(out, &one_line(&s.as_bytes()));
        return true;
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> = m.pairs().filter_map(Result::ok).collect();
        reply::map(out, pairs.len());
        for (k, v) in &pairs {
            write(k, r3, out, depth + 1);
            write(v, r3, out, depth + 1);
        }
        return true;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let keys: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(|p| p.ok().map(|(k, _)| k))
            .collect();
        reply::set(out, keys.len());
        for k in &keys {
            write(k, r3, out, depth + 1);
        }
        return true;
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let (Some(f), Some(s)) = (string_field(&v, "format"), string_field(&v, "string")) {
            reply::verbatim_as(out, &f.as_bytes(), &s.as_bytes());
            return true;
        }
    }
    false
}

/// A script's raised error as Redis 7 answers it: the message, then where.
pub(super) fn raised(
    sh: &mut crate::cmd::Shard,
    msg: &[u8],
    sha: &str,
    source: &str,
    line: i64,
    out: &mut Out,
) {
    let mut text = one_line(msg);
    text.extend_from_slice(format!(" script: {sha}, on {source}:{line}.").as_bytes());
    let code = match text.split(|&b| b == b' ').next() {
        Some(b"WRONGTYPE") => "WRONGTYPE",
        Some(b"OOM") => "OOM",
        Some(b"NOSCRIPT") => "NOSCRIPT",
        _ => "ERR",
    };
    sh.stats.count_error(code);
    crate::resp::reply::error(out, &text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(lua: &Lua, resp: &[u8]) -> Vec<u8> {
        let (v, _) = reply_to_lua(lua, resp).unwrap();
        let mut out = Out::new(false);
        lua_to_reply(&v, false, &mut out);
        out.into_vec()
    }

    #[test]
    fn replies_convert_both_ways_as_in_redis() {
        let lua = Lua::new();
        assert_eq!(roundtrip(&lua, b":42\r\n"), b":42\r\n");
        assert_eq!(roundtrip(&lua, b"$3\r\nfoo\r\n"), b"$3\r\nfoo\r\n");
        assert_eq!(roundtrip(&lua, b"+OK\r\n"), b"+OK\r\n");
        assert_eq!(roundtrip(&lua, b"-ERR bad\r\n"), b"-ERR bad\r\n");
        // Null bulk -> false -> null bulk.
        assert_eq!(roundtrip(&lua, b"$-1\r\n"), b"$-1\r\n");
        assert_eq!(
            roundtrip(&lua, b"*3\r\n:1\r\n*1\r\n$1\r\nx\r\n$-1\r\n"),
            b"*3\r\n:1\r\n*1\r\n$1\r\nx\r\n$-1\r\n"
        );
        let (_, err) = reply_to_lua(&lua, b"-ERR x\r\n").unwrap();
        assert!(err);
    }

    #[test]
    fn lua_values_follow_the_rules() {
        let lua = Lua::new();
        let check = |src: &str, want: &[u8]| {
            let v: Value = lua.load(src).eval().unwrap();
            let mut out = Out::new(false);
            lua_to_reply(&v, false, &mut out);
            assert_eq!(*out, want, "{src}");
        };
        check("return 3.99", b":3\r\n");
        check("return -3.7", b":-3\r\n");
        check("return true", b":1\r\n");
        check("return false", b"$-1\r\n");
        check("return nil", b"$-1\r\n");
        check("return {1, 2, nil, 4}", b"*2\r\n:1\r\n:2\r\n");
        check("return {err = 'a\\r\\nb'}", b"-a  b\r\n");
        check("return {ok = 'fine'}", b"+fine\r\n");
        check("return function() end", b"$-1\r\n");
        let mut out = Out::new(false);
        let v: Value = lua.load("local t = {} t[1] = t return t").eval().unwrap();
        lua_to_reply(&v, false, &mut out);
        assert!(out.ends_with(b"-ERR reached lua stack limit\r\n"));
    }
}
