//! `redis.call` and `redis.pcall`: one command from a script, run on the script's shard through
//! the command table, or (a script across shards) handed to the driver for another held shard.

use super::{convert, script_error, Running};
use crate::cmd::{self as cmd, flags, Args, CmdId, Route, Shard};
use crate::resp::reply::Out;
use mlua::{Lua, Value};

/// `redis.call` / `redis.pcall` (the Lua wrappers raise or return): runs one command on this
/// shard and returns (reply as Lua, whether it is an error).
pub(super) fn raw_call(lua: &Lua, args: mlua::MultiValue) -> mlua::Result<(Value, bool)> {
    let (shard, now, read_only, mut data, mut ranges, mut out, cross) = {
        let mut r = lua
            .app_data_mut::<Running>()
            .filter(|r| !r.shard.is_null())
            .ok_or_else(|| script_error("ERR redis.call outside a script"))?;
        (
            r.shard,
            r.now,
            r.read_only,
            std::mem::take(&mut r.args_data),
            std::mem::take(&mut r.args_ranges),
            std::mem::take(&mut r.reply),
            std::mem::take(&mut r.cross),
        )
    };
    let result = call_one(
        lua,
        args,
        (shard, &cross),
        now,
        read_only,
        &mut data,
        &mut ranges,
        &mut out,
    );
    let (mut r, yielder) = match lua.app_data_mut::<Running>() {
        Some(r) => {
            let y = r.yielder;
            (r, y)
        }
        None => return Err(script_error("ERR redis.call outside a script")),
    };
    r.args_data = data;
    r.args_ranges = ranges;
    r.reply = out;
    r.cross = cross;
    let result = match result? {
        Call::Done(v, failed, wrote) => (v, failed, wrote),
        Call::Remote { target, writes } => {
            // The driver runs the command on its shard (held by this script) and resumes us
            // with its reply.
            r.remote = Some(target);
            drop(r);
            // SAFETY: as in the hook: `yielder` is this coroutine's and nothing borrowed from
            // the interpreter is held across the switch.
            unsafe { (*yielder).suspend(()) };
            r = lua
                .app_data_mut::<Running>()
                .ok_or_else(|| script_error("ERR redis.call outside a script"))?;
            let reply = std::mem::take(&mut r.reply);
            drop(r);
            let converted = convert::reply_to_lua(lua, &reply);
            r = lua
                .app_data_mut::<Running>()
                .ok_or_else(|| script_error("ERR redis.call outside a script"))?;
            r.reply = reply;
            let (v, failed) = converted?;
            (v, failed, writes && !failed)
        }
    };
    if let (_, false, true) = result {
        r.note_write();
    }
    Ok((result.0, result.1))
}

/// What one `redis.call` did.
enum Call {
    /// Ran here: the reply, whether it is an error, whether the command wrote.
    Done(Value, bool, bool),
    /// Must run on another shard that this script holds (`args_*` hold the command).
    Remote { target: usize, writes: bool },
}

/// Returns (reply, whether it is an error, whether the command wrote).
#[allow(clippy::too_many_arguments)]
fn call_one(
    lua: &Lua,
    args: mlua::MultiValue,
    (shard, cross): (*mut Shard, &[u16]),
    now: u64,
    read_only: bool,
    data: &mut Vec<u8>,
    ranges: &mut Vec<(usize, usize)>,
    out: &mut Out,
) -> mlua::Result<Call> {
    let fail = |lua: &Lua, msg: &str| -> mlua::Result<Call> {
        let t = lua.create_table()?;
        t.raw_set("err", msg)?;
        Ok(Call::Done(Value::Table(t), true, false))
    };
    data.clear();
    ranges.clear();
    for v in args.into_iter() {
        let start = data.len();
        match &v {
            Value::String(s) => data.extend_from_slice(&s.as_bytes()),
            Value::Integer(_) | Value::Number(_) => {
                if let Some(s) = lua.coerce_string(v.clone())? {
                    data.extend_from_slice(&s.as_bytes());
                }
            }
            _ => {
                return fail(
                    lua,
                    "ERR Lua redis lib command arguments must be strings or integers",
                )
            }
        }
        ranges.push((start, data.len()));
    }
    if ranges.is_empty() {
        return fail(
            lua,
            "ERR Please specify at least one argument for this redis lib call",
        );
    }
    let a = Args::new(data, ranges);
    let Some(id) = CmdId::lookup(a.get(0)) else {
        return fail(lua, "ERR Unknown Redis command called from script");
    };
    if !id.arity_ok(a.len()) {
        return fail(
            lua,
            "ERR Wrong number of args calling Redis command from script",
        );
    }
    let spec = id.spec();
    // SAFETY: `shard` points at the shard whose `eval` is running this script: `eval` holds
    // the only `&mut Shard` and does not touch it until the script returns.
    let sh = unsafe { &mut *shard };
    // PUBLISH is delivered here and forwarded to the other cores (`cmd::pubsub`).
    let publish = spec.route == Route::All(crate::cmd::Gather::Receivers);
    if spec.flags & flags::NOSCRIPT != 0
        || matches!(spec.route, Route::Conn | Route::Script)
        // Every CONFIG subcommand but HELP is `noscript` in Redis 7.
        || (id == CmdId::Config && !crate::cmd::args::eq_ic(a.get(1), "help"))
        || (sh.shards > 1 && matches!(spec.route, Route::All(_) | Route::Scan) && !publish)
    {
        return fail(lua, "ERR This Redis command is not allowed from script");
    }
    let writes = spec.flags & flags::WRITE != 0;
    if read_only && writes {
        return fail(
            lua,
            "ERR Write commands are not allowed from read-only scripts.",
        );
    }
    if sh.shards > 1 && !publish {
        // Every key on one shard: this one, or (a script across shards) one it holds.
        let (mut target, mut one) = (None, true);
        cmd::for_each_key(id, &a, |k| {
            let s = crate::slot::key_shard(k, sh.shards);
            one &= *target.get_or_insert(s) == s;
        });
        let target = target.unwrap_or(sh.id);
        let held = |s: usize| s == sh.id || cross.contains(&(s as u16));
        if !one && !cross.is_empty() {
            return fail(lua, "CROSSSLOT Keys in request don't hash to the same slot");
        }
        if !one || !held(target) {
            return fail(
                lua,
                "ERR Script attempted to access a non local key in a cluster node",
            );
        }
        if target != sh.id {
            if crate::cmd::pubsub::monitoring() {
                crate::cmd::monitor::feed(sh, id, &a, "lua", now);
            }
            return Ok(Call::Remote { target, writes });
        }
    }
    out.clear();
    // The interpreter's memory counts towards maxmemory: a write that would pass it with
    // what the script holds now is refused (OOM) or makes room, like any other.
    if writes {
        sh.store.set_script_bytes(lua.used_memory());
    }
    if crate::cmd::pubsub::monitoring() {
        crate::cmd::monitor::feed(sh, id, &a, "lua", now);
    }
    cmd::run(sh, id, &a, now, true, out);
    let (v, failed) = convert::reply_to_lua(lua, out)?;
    Ok(Call::Done(v, failed, writes && !failed))
}
