//! The libraries Redis loads into scripts beyond Lua's own: `bit` (LuaBitOp's API), `cjson`
//! (decoding through serde_json), `cmsgpack` (through rmpv) and `redis.sha1hex`. `struct` is not
//! built yet (see the README's differences from Redis).

use mlua::{Lua, Table, Value, Variadic};

/// LuaBitOp's normalisation: a Lua number to a signed 32-bit integer, modulo 2^32 (rounding a
/// fraction to the nearest even integer, as its floating-point trick does).
fn tobit(x: f64) -> i32 {
    if !x.is_finite() {
        return 0;
    }
    (x.round_ties_even() as i64) as i32
}

fn num(v: &Value) -> mlua::Result<f64> {
    match v {
        Value::Integer(i) => Ok(*i as f64),
        Value::Number(n) => Ok(*n),
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| mlua::Error::runtime("bad argument to bit operation (number expected)")),
        _ => Err(mlua::Error::runtime(
            "bad argument to bit operation (number expected)",
        )),
    }
}

pub fn bit(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let fold = |lua: &Lua, f: fn(i32, i32) -> i32| {
        lua.create_function(move |_, args: Variadic<Value>| {
            let mut it = args.iter();
            let first = it
                .next()
                .ok_or_else(|| mlua::Error::runtime("bad argument #1 (number expected)"))?;
            let mut acc = tobit(num(first)?);
            for v in it {
                acc = f(acc, tobit(num(v)?));
            }
            Ok(acc as f64)
        })
    };
    t.set("band", fold(lua, |a, b| a & b)?)?;
    t.set("bor", fold(lua, |a, b| a | b)?)?;
    t.set("bxor", fold(lua, |a, b| a ^ b)?)?;
    t.set(
        "tobit",
        lua.create_function(|_, x: Value| Ok(tobit(num(&x)?) as f64))?,
    )?;
    t.set(
        "bnot",
        lua.create_function(|_, x: Value| Ok(!tobit(num(&x)?) as f64))?,
    )?;
    t.set(
        "bswap",
        lua.create_function(|_, x: Value| Ok(tobit(num(&x)?).swap_bytes() as f64))?,
    )?;
    let shift = |lua: &Lua, f: fn(i32, u32) -> i32| {
        lua.create_function(move |_, (x, n): (Value, Value)| {
            Ok(f(tobit(num(&x)?), (tobit(num(&n)?) & 31) as u32) as f64)
        })
    };
    t.set("lshift", shift(lua, |x, n| ((x as u32) << n) as i32)?)?;
    t.set("rshift", shift(lua, |x, n| ((x as u32) >> n) as i32)?)?;
    t.set("arshift", shift(lua, |x, n| x >> n)?)?;
    t.set("rol", shift(lua, |x, n| (x as u32).rotate_left(n) as i32)?)?;
    t.set("ror", shift(lua, |x, n| (x as u32).rotate_right(n) as i32)?)?;
    t.set(
        "tohex",
        lua.create_function(|_, (x, n): (Value, Option<Value>)| {
            let x = tobit(num(&x)?) as u32;
            let n = match n {
                Some(v) => tobit(num(&v)?),
                None => 8,
            };
            let (upper, width) = (n < 0, n.unsigned_abs().min(8) as usize);
            let masked = if width == 8 {
                x
            } else {
                x & ((1u32 << (4 * width)) - 1)
            };
            Ok(if upper {
                format!("{masked:0width$X}")
            } else {
                format!("{masked:0width$x}")
            })
        })?,
    )?;
    Ok(t)
}

/// Lua's number formatting for JSON, as cjson writes it (`%.14g`).
fn json_number(n: f64, out: &mut String) -> mlua::Result<()> {
    if !n.is_finite() {
        return Err(mlua::Error::runtime(
            "Cannot serialise number: must not be NaN or Inf",
        ));
    }
    if n.fract() == 0.0 && n.abs() < 1e15 {
        out.push_str(&(n as i64).to_string());
    } else {
        let s = format!("{n:.13e}");
        // Back to %g's shortest form via Rust's own round-trip formatting when it is short.
        let plain = format!("{n}");
        out.push_str(if plain.len() <= 16 { &plain } else { &s });
    }
    Ok(())
}

fn json_string(s: &[u8], out: &mut String) {
    out.push('"');
    for ch in String::from_utf8_lossy(s).chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Nesting cjson refuses beyond (its default `encode_max_depth`).
const JSON_MAX_DEPTH: usize = 1000;

fn encode(v: &Value, out: &mut String, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Nil => out.push_str("null"),
        Value::LightUserData(p) if p.0.is_null() => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => out.push_str(&i.to_string()),
        Value::Number(n) => json_number(*n, out)?,
        Value::String(s) => json_string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth >= JSON_MAX_DEPTH {
                return Err(mlua::Error::runtime(
                    "Cannot serialise, excessive nesting (1001)",
                ));
            }
            let len = t.raw_len();
            let pairs = t.clone().pairs::<Value, Value>().count();
            if len > 0 && pairs == len {
                out.push('[');
                for i in 1..=len {
                    if i > 1 {
                        out.push(',');
                    }
                    encode(&t.raw_get::<Value>(i)?, out, depth + 1)?;
                }
                out.push(']');
            } else {
                out.push('{');
                let mut first = true;
                for kv in t.clone().pairs::<Value, Value>() {
                    let (k, v) = kv?;
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    match &k {
                        Value::String(s) => json_string(&s.as_bytes(), out),
                        Value::Integer(_) | Value::Number(_) => {
                            let mut n = String::new();
                            encode(&k, &mut n, depth + 1)?;
                            json_string(n.as_bytes(), out);
                        }
                        _ => {
                            return Err(mlua::Error::runtime(
                                "Cannot serialise table: table key must be a number or string",
                            ))
                        }
                    }
                    out.push(':');
                    encode(&v, out, depth + 1)?;
                }
                out.push('}');
            }
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            )))
        }
    }
    Ok(())
}

fn decode(lua: &Lua, v: &serde_json::Value) -> mlua::Result<Value> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => Value::LightUserData(mlua::LightUserData(std::ptr::null_mut())),
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(a) => {
            let t = lua.create_table_with_capacity(a.len(), 0)?;
            for (i, x) in a.iter().enumerate() {
                t.raw_set(i + 1, decode(lua, x)?)?;
            }
            Value::Table(t)
        }
        J::Object(o) => {
            let t = lua.create_table_with_capacity(0, o.len())?;
            for (k, x) in o {
                t.raw_set(k.as_str(), decode(lua, x)?)?;
            }
            Value::Table(t)
        }
    })
}

pub fn cjson(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|_, v: Value| {
            let mut out = String::new();
            encode(&v, &mut out, 0)?;
            Ok(out)
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let v: serde_json::Value = serde_json::from_slice(&s.as_bytes()).map_err(|e| {
                mlua::Error::runtime(format!("Expected value but found invalid token: {e}"))
            })?;
            decode(lua, &v)
        })?,
    )?;
    t.set(
        "null",
        Value::LightUserData(mlua::LightUserData(std::ptr::null_mut())),
    )?;
    Ok(t)
}

/// A msgpack header: the fix form below `fix_max`, else the 8/16/32-bit length forms.
fn mp_header(out: &mut Vec<u8>, len: usize, fix: u8, fix_max: usize, wide: [u8; 3]) {
    if len < fix_max {
        out.push(fix | len as u8);
    } else if wide[0] != 0 && len < 256 {
        out.extend_from_slice(&[wide[0], len as u8]);
    } else if len < 65536 {
        out.push(wide[1]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(wide[2]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// Encodes as Redis's cmsgpack does: strings as str, integral numbers as the smallest
/// integer, others as float32 when that is exact, else float64; tables with keys 1..n as
/// arrays, others as maps.
fn to_msgpack(v: &Value, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
    let int = |out: &mut Vec<u8>, i: i64| {
        let _ = rmpv::encode::write_value(out, &rmpv::Value::from(i));
    };
    match v {
        _ if depth > JSON_MAX_DEPTH => out.push(0xc0),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => int(out, *i),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.2e18 => int(out, *n as i64),
        Value::Number(n) if (*n as f32) as f64 == *n || n.is_nan() => {
            out.push(0xca);
            out.extend_from_slice(&(*n as f32).to_be_bytes());
        }
        Value::Number(n) => {
            out.push(0xcb);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Value::String(s) => {
            let b = s.as_bytes();
            mp_header(out, b.len(), 0xa0, 32, [0xd9, 0xda, 0xdb]);
            out.extend_from_slice(&b);
        }
        Value::Table(t) => {
            let len = t.raw_len();
            let pairs = t.clone().pairs::<Value, Value>().count();
            if len > 0 && pairs == len {
                mp_header(out, len, 0x90, 16, [0, 0xdc, 0xdd]);
                for i in 1..=len {
                    to_msgpack(&t.raw_get::<Value>(i)?, out, depth + 1)?;
                }
            } else {
                mp_header(out, pairs, 0x80, 16, [0, 0xde, 0xdf]);
                for kv in t.clone().pairs::<Value, Value>() {
                    let (k, v) = kv?;
                    to_msgpack(&k, out, depth + 1)?;
                    to_msgpack(&v, out, depth + 1)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

fn from_msgpack(lua: &Lua, v: &rmpv::Value) -> mlua::Result<Value> {
    use rmpv::Value as M;
    Ok(match v {
        M::Nil => Value::Nil,
        M::Boolean(b) => Value::Boolean(*b),
        M::Integer(i) => Value::Number(i.as_f64().unwrap_or(0.0)),
        M::F32(f) => Value::Number(*f as f64),
        M::F64(f) => Value::Number(*f),
        M::String(s) => Value::String(lua.create_string(s.as_bytes())?),
        M::Binary(b) => Value::String(lua.create_string(b)?),
        M::Array(a) => {
            let t = lua.create_table_with_capacity(a.len(), 0)?;
            for (i, x) in a.iter().enumerate() {
                t.raw_set(i + 1, from_msgpack(lua, x)?)?;
            }
            Value::Table(t)
        }
        M::Map(m) => {
            let t = lua.create_table_with_capacity(0, m.len())?;
            for (k, x) in m {
                let k = from_msgpack(lua, k)?;
                if !k.is_nil() {
                    t.raw_set(k, from_msgpack(lua, x)?)?;
                }
            }
            Value::Table(t)
        }
        M::Ext(_, b) => Value::String(lua.create_string(b)?),
    })
}

/// cmsgpack.pack(...) (the values' encodings back to back) and cmsgpack.unpack(s) (every value
/// in `s`). Strings are packed as msgpack raw bytes, as Redis's cmsgpack does.
pub fn cmsgpack(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.is_empty() {
                return Err(mlua::Error::runtime("MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                to_msgpack(v, &mut out, 0)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| {
            let bytes = s.as_bytes().to_vec();
            let mut rd = &bytes[..];
            let mut out = Vec::new();
            while !rd.is_empty() {
                let v = rmpv::decode::read_value(&mut rd)
                    .map_err(|_| mlua::Error::runtime("Missing bytes in input."))?;
                out.push(from_msgpack(lua, &v)?);
            }
            Ok(Variadic::from_iter(out))
        })?,
    )?;
    Ok(t)
}

/// `redis.sha1hex` and the scripts' cache key: lower-case hex SHA-1.
pub fn sha1hex(body: &[u8]) -> [u8; 40] {
    let digest = sha1_smol::Sha1::from(body).digest().bytes();
    let mut out = [0u8; 40];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_ops_match_luabitop() {
        let lua = Lua::new();
        lua.globals().set("bit", bit(&lua).unwrap()).unwrap();
        let eval = |s: &str| -> String {
            lua.load(s)
                .eval::<mlua::Value>()
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(
            lua.load("return bit.tobit(0xffffffff)")
                .eval::<f64>()
                .unwrap(),
            -1.0
        );
        assert_eq!(
            lua.load("return bit.band(0xff, 0x0f, 0x3)")
                .eval::<f64>()
                .unwrap(),
            3.0
        );
        assert_eq!(
            lua.load("return bit.lshift(1, 31)").eval::<f64>().unwrap(),
            -2147483648.0
        );
        assert_eq!(
            lua.load("return bit.rshift(-1, 28)").eval::<f64>().unwrap(),
            15.0
        );
        assert_eq!(
            lua.load("return bit.arshift(-16, 2)")
                .eval::<f64>()
                .unwrap(),
            -4.0
        );
        assert_eq!(
            lua.load("return bit.tohex(255)").eval::<String>().unwrap(),
            "000000ff"
        );
        assert_eq!(
            lua.load("return bit.tohex(255, -2)")
                .eval::<String>()
                .unwrap(),
            "FF"
        );
        assert_eq!(
            lua.load("return bit.bswap(0x12345678)")
                .eval::<f64>()
                .unwrap(),
            2018915346.0
        );
        assert!(eval("return bit.bnot(0)").contains("-1"));
    }

    #[test]
    fn cjson_encodes_like_redis() {
        let lua = Lua::new();
        lua.globals().set("cjson", cjson(&lua).unwrap()).unwrap();
        let enc = |s: &str| lua.load(s).eval::<String>().unwrap();
        assert_eq!(enc("return cjson.encode({a=1})"), r#"{"a":1}"#);
        assert_eq!(enc("return cjson.encode({1,2,'x'})"), r#"[1,2,"x"]"#);
        assert_eq!(enc("return cjson.encode({})"), "{}");
        assert_eq!(enc("return cjson.encode('a/b')"), r#""a\/b""#);
        assert_eq!(enc("return cjson.encode(1.5)"), "1.5");
        assert_eq!(enc("return cjson.decode('[1,{\"a\":\"b\"}]')[2].a"), "b");
        assert!(lua
            .load("return cjson.decode('{') ")
            .eval::<Value>()
            .is_err());
        assert!(lua
            .load("return cjson.decode('null') == cjson.null")
            .eval::<bool>()
            .unwrap());
    }

    #[test]
    fn cmsgpack_round_trips() {
        let lua = Lua::new();
        lua.globals()
            .set("cmsgpack", cmsgpack(&lua).unwrap())
            .unwrap();
        let hex = |s: &str| {
            let b = lua
                .load(s)
                .eval::<mlua::String>()
                .unwrap()
                .as_bytes()
                .to_vec();
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        };
        // Redis: cmsgpack.pack({1,2,3}) is 93 01 02 03; pack('abc') a3 61 62 63 (raw).
        assert_eq!(hex("return cmsgpack.pack({1,2,3})"), "93010203");
        assert_eq!(hex("return cmsgpack.pack(1, -1)"), "01ff");
        // The same bytes as redis-server 7.0 for a mix of types.
        assert_eq!(
            hex("return cmsgpack.pack('abc', 1.5, {1,2}, {a=1}, true, -200, 70000)"),
            "a3616263ca3fc0000092010281a16101c3d1ff38ce00011170"
        );
        assert_eq!(
            &hex("return cmsgpack.pack(string.rep('x', 40))")[..4],
            "d928"
        );
        let v: String = lua
            .load("local t = cmsgpack.unpack(cmsgpack.pack({a = {1, 'x'}})) return t.a[2]")
            .eval()
            .unwrap();
        assert_eq!(v, "x");
        let n: i64 = lua
            .load("return select('#', cmsgpack.unpack(cmsgpack.pack(1, 2, 3)))")
            .eval()
            .unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn sha1hex_is_lower_hex() {
        assert_eq!(&sha1hex(b""), b"da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            &sha1hex(b"return 1"),
            b"e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }
}
