//! `COMMAND DOCS`: summary, group and argument specifications, from which redis-cli builds its
//! interactive hints (`set key ` shows `value [NX|XX] [GET] [EX seconds|...]`).
//!
//! Each command's arguments are written once, as the syntax line of Redis's documentation, and
//! parsed into Redis's argument-spec tree:
//! - `name` is an argument (`key` and `newkey` have type `key`, others `string`);
//! - `TOKEN name` is a token followed by its argument (`EX seconds`); `TOKEN` alone is a
//!   `pure-token`;
//! - `[ ... ]` is optional; `a|b` inside brackets or parentheses is a `oneof`; several items
//!   together form a `block`; `( ... )` groups without making optional;
//! - a trailing `...` makes the previous item `multiple`.

use super::CmdId;
use crate::resp::reply;
use crate::resp::reply::Out;

/// The syntax line of every public command (what follows the command name).
pub fn syntax(id: CmdId) -> &'static str {
    use CmdId::*;
    match id {
        Ping => "[message]",
        Echo => "message",
        Quit | Reset | Dbsize | Time | Randomkey | Save | Lastsave | Bgrewriteaof => "",
        Bgsave => "[SCHEDULE]",
        Select => "index",
        Memory => "subcommand key [SAMPLES count]",
        Auth => "[username] password",
        Shutdown => "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]",
        Hello => "[protover [AUTH username password] [SETNAME clientname]]",
        Client | Config => "subcommand [argument...]",
        Eval | EvalRo => "script numkeys [key [key ...]] [arg [arg ...]]",
        Evalsha | EvalshaRo => "sha1 numkeys [key [key ...]] [arg [arg ...]]",
        Script => "subcommand [argument...]",
        Fcall | FcallRo => "function numkeys [key [key ...]] [arg [arg ...]]",
        Function => "subcommand [argument...]",
        Command => "[subcommand [argument...]]",
        Info => "[section...]",
        Flushdb | Flushall => "[ASYNC|SYNC]",
        Get | Getdel | Strlen | Incr | Decr | Type | Ttl | Pttl | Expiretime | Pexpiretime | Persist => "key",
        Set => "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
        Setnx | Getset | Append => "key value",
        Setex => "key seconds value",
        Psetex => "key milliseconds value",
        Getex => "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
        Mget | Del | Delete | Unlink | Exists | Touch => "key...",
        Mset | Msetnx => "(key value)...",
        Incrby | Incrbyfloat => "key increment",
        Decrby => "key decrement",
        Getrange => "key start end",
        Setrange => "key offset value",
        Expire => "key seconds [NX|XX|GT|LT]",
        Pexpire => "key milliseconds [NX|XX|GT|LT]",
        Expireat => "key unix-time-seconds [NX|XX|GT|LT]",
        Pexpireat => "key unix-time-milliseconds [NX|XX|GT|LT]",
        Rename | Renamenx => "key newkey",
        Keys => "pattern",
        Scan => "cursor [MATCH pattern] [COUNT count] [TYPE type]",
        Multi | Exec | Discard | Unwatch => "",
        Watch => "key...",
        Subscribe => "channel...",
        Unsubscribe => "[channel...]",
        Psubscribe => "pattern...",
        Punsubscribe => "[pattern...]",
        Ssubscribe => "shardchannel...",
        Sunsubscribe => "[shardchannel...]",
        Publish => "channel message",
        Spublish => "shardchannel message",
        Pubsub => "subcommand [argument...]",
        Monitor => "",
        Object => "subcommand [argument...]",
        Dump => "key",
        Setbit => "key offset value",
        Bitop => "operation destkey key...",
        Pfadd => "key [element...]",
        Pfcount => "key...",
        Pfmerge => "destkey [sourcekey...]",
        Bitfield => "key [GET encoding offset|[OVERFLOW WRAP|SAT|FAIL] SET encoding offset value|INCRBY encoding offset increment...]",
        BitfieldRo => "key [GET encoding offset...]",
        Getbit => "key offset",
        Bitcount => "key [start end [BYTE|BIT]]",
        Bitpos => "key bit [start [end [BYTE|BIT]]]",
        Lcs => "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]",
        Restore => "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]",
        Copy => "source destination [DB destination-db] [REPLACE]",
        Hset | Hmset => "key (field value)...",
        Hsetnx => "key field value",
        Hget | Hexists | Hstrlen => "key field",
        Hmget | Hdel => "key field...",
        Hlen | Hkeys | Hvals | Hgetall | Scard | Smembers => "key",
        Hincrby | Hincrbyfloat => "key field increment",
        Hrandfield => "key [count [WITHVALUES]]",
        Hscan | Sscan => "key cursor [MATCH pattern] [COUNT count]",
        Sadd | Srem | Smismember => "key member...",
        Sismember => "key member",
        Spop | Srandmember => "key [count]",
        Smove => "source destination member",
        Sinter | Sunion | Sdiff => "key...",
        Sintercard => "numkeys key... [LIMIT limit]",
        Sinterstore | Sunionstore | Sdiffstore => "destination key...",
        Lpush | Rpush => "key element...",
        Zadd => "key [NX|XX] [GT|LT] [CH] [INCR] (score member)...",
        Zincrby => "key increment member",
        Zrem => "key member...",
        Zscore => "key member",
        Zmscore => "key member...",
        Zcard => "key",
        Zcount => "key min max",
        Zlexcount => "key min max",
        Zrange => "key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]",
        Zrangestore => "dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]",
        Zrevrange => "key start stop [WITHSCORES]",
        Zrangebyscore => "key min max [WITHSCORES] [LIMIT offset count]",
        Zrevrangebyscore => "key max min [WITHSCORES] [LIMIT offset count]",
        Zrangebylex => "key min max [LIMIT offset count]",
        Zrevrangebylex => "key max min [LIMIT offset count]",
        Zrank | Zrevrank => "key member",
        Zremrangebyrank => "key start stop",
        Zremrangebyscore | Zremrangebylex => "key min max",
        Zpopmin | Zpopmax => "key [count]",
        Zmpop => "numkeys key... (MIN|MAX) [COUNT count]",
        Bzpopmin | Bzpopmax => "key... timeout",
        Bzmpop => "timeout numkeys key... (MIN|MAX) [COUNT count]",
        Zrandmember => "key [count [WITHSCORES]]",
        Zscan => "key cursor [MATCH pattern] [COUNT count]",
        Zunion | Zinter => "numkeys key... [WEIGHTS weight...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]",
        Zdiff => "numkeys key... [WITHSCORES]",
        Zunionstore | Zinterstore => "destination numkeys key... [WEIGHTS weight...] [AGGREGATE SUM|MIN|MAX]",
        Zdiffstore => "destination numkeys key...",
        Zintercard => "numkeys key... [LIMIT limit]",
        Lpushx | Rpushx => "key element...",
        Lpop | Rpop => "key [count]",
        Llen => "key",
        Lrange | Ltrim => "key start stop",
        Lindex => "key index",
        Lset => "key index element",
        Linsert => "key (BEFORE|AFTER) pivot element",
        Lrem => "key count element",
        Lpos => "key element [RANK rank] [COUNT num-matches] [MAXLEN len]",
        Lmove => "source destination (LEFT|RIGHT) (LEFT|RIGHT)",
        Rpoplpush => "source destination",
        Lmpop => "numkeys key... (LEFT|RIGHT) [COUNT count]",
        Blpop | Brpop => "key... timeout",
        Blmove => "source destination (LEFT|RIGHT) (LEFT|RIGHT) timeout",
        Brpoplpush => "source destination timeout",
        Blmpop => "timeout numkeys key... (LEFT|RIGHT) [COUNT count]",
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Plain {
        name: String,
        token: Option<String>,
        optional: bool,
        multiple: bool,
    },
    PureToken {
        token: String,
        optional: bool,
    },
    Group {
        oneof: bool,
        items: Vec<Arg>,
        optional: bool,
        multiple: bool,
    },
}

impl Arg {
    fn set_optional(&mut self) {
        match self {
            Arg::Plain { optional, .. }
            | Arg::PureToken { optional, .. }
            | Arg::Group { optional, .. } => *optional = true,
        }
    }

    fn set_multiple(&mut self) {
        match self {
            Arg::Plain { multiple, .. } | Arg::Group { multiple, .. } => *multiple = true,
            Arg::PureToken { .. } => {}
        }
    }
}

fn is_token(word: &str) -> bool {
    word.chars().all(|c| c.is_ascii_uppercase() || c == '-') && !word.is_empty()
}

/// Splits a syntax line into words and brackets.
fn lex(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '[' | ']' | '(' | ')' | '|' | ' ' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                if c != ' ' {
                    out.push(c.to_string());
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Parses items until `end` (a closing bracket or the end); returns the alternatives (split on
/// `|`), each a sequence of items.
fn parse_seq(toks: &[String], pos: &mut usize, end: Option<&str>) -> Vec<Vec<Arg>> {
    let mut alts = vec![Vec::new()];
    while *pos < toks.len() {
        let t = toks[*pos].as_str();
        *pos += 1;
        if Some(t) == end {
            break;
        }
        let item = match t {
            "|" => {
                alts.push(Vec::new());
                continue;
            }
            "[" | "(" => {
                let close = if t == "[" { "]" } else { ")" };
                let inner = parse_seq(toks, pos, Some(close));
                let mut g = group(inner);
                if t == "[" {
                    g.set_optional();
                }
                g
            }
            w if is_token(w) => {
                let next = toks.get(*pos).map(String::as_str);
                match next {
                    Some(n) if !is_token(n) && !["[", "(", "|", "]", ")"].contains(&n) => {
                        *pos += 1;
                        let (name, multiple) = strip_dots(n);
                        Arg::Plain {
                            name,
                            token: Some(w.to_string()),
                            optional: false,
                            multiple,
                        }
                    }
                    _ => Arg::PureToken {
                        token: w.to_string(),
                        optional: false,
                    },
                }
            }
            w => {
                let (name, multiple) = strip_dots(w);
                Arg::Plain {
                    name,
                    token: None,
                    optional: false,
                    multiple,
                }
            }
        };
        alts.last_mut().unwrap().push(item);
        // "...)" and "...]" after a group: the dots follow the closing bracket.
        if toks.get(*pos).map(String::as_str) == Some("...") {
            *pos += 1;
            alts.last_mut().unwrap().last_mut().unwrap().set_multiple();
        }
    }
    alts
}

fn strip_dots(w: &str) -> (String, bool) {
    match w.strip_suffix("...") {
        Some(n) => (n.to_string(), true),
        None => (w.to_string(), false),
    }
}

/// One argument from alternatives: a oneof, a block, or the single item itself.
fn group(mut alts: Vec<Vec<Arg>>) -> Arg {
    if alts.len() > 1 {
        let items = alts
            .into_iter()
            .map(|seq| {
                if seq.len() == 1 {
                    seq.into_iter().next().unwrap()
                } else {
                    block(seq)
                }
            })
            .collect();
        return Arg::Group {
            oneof: true,
            items,
            optional: false,
            multiple: false,
        };
    }
    let seq = alts.pop().unwrap_or_default();
    if seq.len() == 1 {
        seq.into_iter().next().unwrap()
    } else {
        block(seq)
    }
}

fn block(items: Vec<Arg>) -> Arg {
    Arg::Group {
        oneof: false,
        items,
        optional: false,
        multiple: false,
    }
}

fn parse(s: &str) -> Vec<Arg> {
    let toks = lex(s);
    let mut pos = 0;
    parse_seq(&toks, &mut pos, None)
        .into_iter()
        .next()
        .unwrap_or_default()
}

fn write_arg(arg: &Arg, out: &mut Out) {
    let (name, typ, token, optional, multiple, children): (
        String,
        &str,
        Option<&str>,
        bool,
        bool,
        Option<&[Arg]>,
    ) = match arg {
        Arg::Plain {
            name,
            token,
            optional,
            multiple,
        } => {
            let typ = if name == "key" || name == "newkey" {
                "key"
            } else {
                "string"
            };
            (
                name.clone(),
                typ,
                token.as_deref(),
                *optional,
                *multiple,
                None,
            )
        }
        Arg::PureToken { token, optional } => (
            token.to_ascii_lowercase(),
            "pure-token",
            Some(token),
            *optional,
            false,
            None,
        ),
        Arg::Group {
            oneof,
            items,
            optional,
            multiple,
        } => (
            if *oneof { "choice" } else { "block" }.to_string(),
            if *oneof { "oneof" } else { "block" },
            None,
            *optional,
            *multiple,
            Some(items),
        ),
    };
    let flags: Vec<&str> = [(optional, "optional"), (multiple, "multiple")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| *f)
        .collect();
    let fields =
        2 + token.is_some() as usize + !flags.is_empty() as usize + children.is_some() as usize;
    reply::map(out, fields);
    reply::bulk(out, b"name");
    reply::bulk(out, name.as_bytes());
    reply::bulk(out, b"type");
    reply::bulk(out, typ.as_bytes());
    if let Some(t) = token {
        reply::bulk(out, b"token");
        reply::bulk(out, t.as_bytes());
    }
    if !flags.is_empty() {
        reply::bulk(out, b"flags");
        reply::set(out, flags.len());
        for f in flags {
            reply::simple(out, f.as_bytes());
        }
    }
    if let Some(items) = children {
        reply::bulk(out, b"arguments");
        reply::array(out, items.len());
        for a in items {
            write_arg(a, out);
        }
    }
}

/// Writes one command's doc map (RESP2: a flat array of field, value).
pub fn write_doc(id: CmdId, out: &mut Out) {
    let spec = id.spec();
    let args = parse(syntax(id));
    reply::map(out, if args.is_empty() { 3 } else { 4 });
    reply::bulk(out, b"summary");
    reply::bulk(out, spec.summary.as_bytes());
    reply::bulk(out, b"since");
    reply::bulk(out, b"1.0.0");
    reply::bulk(out, b"group");
    reply::bulk(out, spec.group.as_bytes());
    if !args.is_empty() {
        reply::bulk(out, b"arguments");
        reply::array(out, args.len());
        for a in &args {
            write_arg(a, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders arguments the way redis-cli's cliAddArgument does, to check that the parsed tree
    /// gives back the syntax line.
    fn render(args: &[Arg], sep: &str) -> String {
        args.iter().map(render_one).collect::<Vec<_>>().join(sep)
    }

    fn render_one(a: &Arg) -> String {
        let (token, repeat, optional, multiple) = match a {
            Arg::Plain {
                name,
                token,
                optional,
                multiple,
            } => (
                token.clone().map(|t| t + " "),
                name.clone(),
                *optional,
                *multiple,
            ),
            Arg::PureToken { token, optional } => {
                (Some(token.clone()), String::new(), *optional, false)
            }
            Arg::Group {
                oneof,
                items,
                optional,
                multiple,
            } => (
                None,
                render(items, if *oneof { "|" } else { " " }),
                *optional,
                *multiple,
            ),
        };
        let token = token.unwrap_or_default();
        let mut s = format!("{token}{repeat}");
        if multiple {
            s = format!("{s} [{repeat} ...]");
        }
        if optional {
            s = format!("[{s}]");
        }
        s
    }

    #[test]
    fn syntax_renders_back_like_redis_cli() {
        assert_eq!(
            render(&parse(syntax(CmdId::Set)), " "),
            "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"
        );
        assert_eq!(render(&parse("key..."), " "), "key [key ...]");
        assert_eq!(
            render(&parse("(key value)..."), " "),
            "key value [key value ...]"
        );
        assert_eq!(
            render(&parse("[section...]"), " "),
            "[section [section ...]]"
        );
        assert_eq!(
            render(&parse(syntax(CmdId::Hello)), " "),
            "[protover [AUTH username password] [SETNAME clientname]]"
        );
        assert_eq!(
            render(&parse(syntax(CmdId::Scan)), " "),
            "cursor [MATCH pattern] [COUNT count] [TYPE type]"
        );
        assert_eq!(render(&parse(""), " "), "");
        // Every public command's syntax parses and renders back unchanged (modulo "x..." forms).
        for id in super::super::ALL {
            let s = syntax(*id);
            if !s.contains("...") {
                // A one-of group renders without its parentheses, as redis-cli shows it.
                let want = s.replace(['(', ')'], "");
                assert_eq!(render(&parse(s), " "), want, "{id:?}");
            }
        }
    }
}
