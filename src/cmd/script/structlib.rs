//! The `struct` library Redis gives scripts: `struct.pack(fmt, ...)`, `struct.unpack(fmt, s
//! [, pos])` and `struct.size(fmt)`, binary packing with the format language of Roberto
//! Ierusalimschy's lua-struct as Redis 7.0 embeds it (written here from its documented
//! behaviour):
//!
//! | option | meaning |
//! |---|---|
//! | `>` `<` `=` | big, little, native (little) endian from here on |
//! | `!n` | maximum alignment `n` (a power of 2; `!` alone: 8) from here on |
//! | `x` | one zero byte (padding) |
//! | `b` `B` `h` `H` `l` `L` `T` | signed / unsigned char, short, long (8), size_t (8) |
//! | `i[n]` `I[n]` | signed / unsigned integer of `n` bytes (default 4, at most 32) |
//! | `f` `d` | float, double |
//! | `s` | zero-terminated string |
//! | `c[n]` | fixed-size string (`c0`: the whole string when packing; the previous value's size when unpacking) |
//!
//! Alignment starts at 1 (none); numbers come back as Lua numbers (doubles).

use mlua::{Lua, MultiValue, Table, Value};

const MAX_INT_SIZE: usize = 32;
const MAX_ALIGN: usize = 8;

#[derive(Clone, Copy, PartialEq)]
enum Endian {
    Little,
    Big,
}

struct Header {
    endian: Endian,
    align: usize,
}

impl Header {
    fn new() -> Header {
        Header {
            endian: Endian::Little,
            align: 1,
        }
    }
}

fn error(msg: String) -> mlua::Error {
    mlua::Error::runtime(msg)
}

fn arg_error(n: usize, func: &str, msg: &str) -> mlua::Error {
    error(format!("bad argument #{n} to '{func}' ({msg})"))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

fn check_string(lua: &Lua, v: Option<&Value>, n: usize, func: &str) -> mlua::Result<Vec<u8>> {
    let Some(v) = v.cloned() else {
        return Err(arg_error(n, func, "string expected, got no value"));
    };
    match &v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Integer(_) | Value::Number(_) => Ok(lua
            .coerce_string(v.clone())?
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default()),
        other => Err(arg_error(
            n,
            func,
            &format!("string expected, got {}", type_name(other)),
        )),
    }
}

fn check_number(lua: &Lua, v: Option<&Value>, n: usize, func: &str) -> mlua::Result<f64> {
    let Some(v) = v.cloned() else {
        return Err(arg_error(n, func, "number expected, got no value"));
    };
    let got = type_name(&v);
    match lua.coerce_number(v)? {
        Some(x) => Ok(x),
        None => Err(arg_error(n, func, &format!("number expected, got {got}"))),
    }
}

/// Reads the digits after an option (`default` when there are none).
fn number(fmt: &[u8], at: &mut usize, default: usize) -> mlua::Result<usize> {
    if !fmt.get(*at).is_some_and(u8::is_ascii_digit) {
        return Ok(default);
    }
    let mut a: usize = 0;
    while let Some(&d) = fmt.get(*at).filter(|d| d.is_ascii_digit()) {
        let d = (d - b'0') as usize;
        if a > (i32::MAX as usize) / 10 || a * 10 > i32::MAX as usize - d {
            return Err(error("integral size overflow".into()));
        }
        a = a * 10 + d;
        *at += 1;
    }
    Ok(a)
}

/// The size of option `opt` (0 for those that take no room or align nothing).
fn option_size(opt: u8, fmt: &[u8], at: &mut usize) -> mlua::Result<usize> {
    Ok(match opt {
        b'b' | b'B' | b'x' => 1,
        b'h' | b'H' => 2,
        b'l' | b'L' | b'T' | b'd' => 8,
        b'f' => 4,
        b'c' => number(fmt, at, 1)?,
        b'i' | b'I' => {
            let size = number(fmt, at, 4)?;
            if size > MAX_INT_SIZE {
                return Err(error(format!(
                    "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                )));
            }
            size
        }
        _ => 0,
    })
}

/// Padding before an item of `size` at offset `len`.
fn padding(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

/// The options that change the header (or raise for an unknown one).
fn control(opt: u8, fmt: &[u8], at: &mut usize, h: &mut Header, func: &str) -> mlua::Result<()> {
    match opt {
        b' ' => {}
        b'>' => h.endian = Endian::Big,
        b'<' | b'=' => h.endian = Endian::Little,
        b'!' => {
            let a = number(fmt, at, MAX_ALIGN)?;
            if !a.is_power_of_two() {
                return Err(error(format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
        }
        other => {
            return Err(arg_error(
                1,
                func,
                &format!("invalid format option '{}'", other as char),
            ))
        }
    }
    Ok(())
}

fn put_integer(out: &mut Vec<u8>, n: f64, endian: Endian, size: usize) {
    let value: u64 = if n < 0.0 { n as i64 as u64 } else { n as u64 };
    let bytes = value.to_le_bytes();
    let mut buf = [0u8; MAX_INT_SIZE];
    for (i, b) in buf.iter_mut().take(size).enumerate() {
        *b = bytes.get(i).copied().unwrap_or(0);
    }
    let buf = &mut buf[..size];
    if endian == Endian::Big {
        buf.reverse();
    }
    out.extend_from_slice(buf);
}

fn get_integer(data: &[u8], endian: Endian, signed: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    let mut push = |b: u8| l = (l << 8) | b as u64;
    match endian {
        Endian::Big => data[..size].iter().for_each(|&b| push(b)),
        Endian::Little => data[..size].iter().rev().for_each(|&b| push(b)),
    }
    if !signed {
        return l as f64;
    }
    let shift = (size * 8).saturating_sub(1);
    let mask = if shift >= 64 { 0 } else { u64::MAX << shift };
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn ordered<const N: usize>(mut bytes: [u8; N], endian: Endian) -> [u8; N] {
    if endian == Endian::Big {
        bytes.reverse();
    }
    bytes
}

fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::String> {
    let args: Vec<Value> = args.into_iter().collect();
    let fmt = check_string(lua, args.first(), 1, "pack")?;
    // lua-struct's pack keeps a value on the stack past its arguments: a missing one reads nil.
    let value = |arg: usize| Some(args.get(arg - 1).unwrap_or(&Value::Nil));
    let mut h = Header::new();
    let (mut at, mut arg, mut out) = (0, 1, Vec::new());
    while at < fmt.len() {
        let opt = fmt[at];
        at += 1;
        let mut size = option_size(opt, &fmt, &mut at)?;
        let pad = padding(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                arg += 1;
                let n = check_number(lua, value(arg), arg, "pack")?;
                put_integer(&mut out, n, h.endian, size);
            }
            b'x' => out.push(0),
            b'f' => {
                arg += 1;
                let n = check_number(lua, value(arg), arg, "pack")? as f32;
                out.extend_from_slice(&ordered(n.to_le_bytes(), h.endian));
            }
            b'd' => {
                arg += 1;
                let n = check_number(lua, value(arg), arg, "pack")?;
                out.extend_from_slice(&ordered(n.to_le_bytes(), h.endian));
            }
            b'c' | b's' => {
                arg += 1;
                let s = check_string(lua, value(arg), arg, "pack")?;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(arg_error(arg + 1, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => control(opt, &fmt, &mut at, &mut h, "pack")?,
        }
    }
    lua.create_string(&out)
}

fn unpack(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args: Vec<Value> = args.into_iter().collect();
    let fmt = check_string(lua, args.first(), 1, "unpack")?;
    let data = check_string(lua, args.get(1), 2, "unpack")?;
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1.0,
        v => check_number(lua, v, 3, "unpack")?,
    };
    if start <= 0.0 {
        return Err(arg_error(3, "unpack", "offset must be 1 or greater"));
    }
    let mut pos = start as usize - 1;
    let mut h = Header::new();
    let mut results: Vec<Value> = Vec::new();
    let short = || arg_error(2, "unpack", "data string too short");
    let mut at = 0;
    while at < fmt.len() {
        let opt = fmt[at];
        at += 1;
        let mut size = option_size(opt, &fmt, &mut at)?;
        pos += padding(pos, &h, opt, size);
        if size > data.len() || pos > data.len() - size {
            return Err(short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                let n = get_integer(&data[pos..], h.endian, signed, size);
                results.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().map_err(|_| short())?;
                let f = f32::from_le_bytes(ordered(b, h.endian));
                results.push(Value::Number(f as f64));
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().map_err(|_| short())?;
                results.push(Value::Number(f64::from_le_bytes(ordered(b, h.endian))));
            }
            b'c' => {
                if size == 0 {
                    let prev = match results.last() {
                        Some(Value::Number(n)) => Some(*n),
                        Some(Value::Integer(n)) => Some(*n as f64),
                        _ => None,
                    };
                    let Some(n) = prev else {
                        return Err(error("format 'c0' needs a previous size".into()));
                    };
                    results.pop();
                    size = n as usize;
                    if size > data.len() || pos > data.len() - size {
                        return Err(short());
                    }
                }
                results.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(len) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(error("unfinished string in data".into()));
                };
                results.push(Value::String(lua.create_string(&data[pos..pos + len])?));
                size = len + 1;
            }
            _ => control(opt, &fmt, &mut at, &mut h, "unpack")?,
        }
        pos += size;
    }
    results.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(results))
}

fn size(lua: &Lua, args: MultiValue) -> mlua::Result<f64> {
    let args: Vec<Value> = args.into_iter().collect();
    let fmt = check_string(lua, args.first(), 1, "size")?;
    let mut h = Header::new();
    let (mut at, mut pos) = (0, 0usize);
    while at < fmt.len() {
        let opt = fmt[at];
        at += 1;
        let size = option_size(opt, &fmt, &mut at)?;
        pos += padding(pos, &h, opt, size);
        if opt == b's' {
            return Err(arg_error(1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(arg_error(1, "size", "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            control(opt, &fmt, &mut at, &mut h, "size")?;
        }
        pos += size;
    }
    Ok(pos as f64)
}

/// An error raised where the script called us, as `luaL_error` places it ("user_script:3: ").
fn positioned(lua: &Lua, e: mlua::Error) -> mlua::Error {
    let mlua::Error::RuntimeError(msg) = e else {
        return e;
    };
    let at = lua
        .inspect_stack(1, |d| {
            let line = d.current_line()?;
            let src = d.source().short_src?.into_owned();
            Some(format!("{src}:{line}: "))
        })
        .flatten()
        .unwrap_or_default();
    mlua::Error::RuntimeError(format!("{at}{msg}"))
}

/// The `struct` table.
pub fn lib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let pack = lua.create_function(|lua, a| pack(lua, a).map_err(|e| positioned(lua, e)))?;
    let unpack = lua.create_function(|lua, a| unpack(lua, a).map_err(|e| positioned(lua, e)))?;
    let size = lua.create_function(|lua, a| size(lua, a).map_err(|e| positioned(lua, e)))?;
    t.raw_set("pack", pack)?;
    t.raw_set("unpack", unpack)?;
    t.raw_set("size", size)?;
    Ok(t)
}
