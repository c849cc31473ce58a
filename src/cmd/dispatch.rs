//! Dispatch: the exhaustive `match` from a command to its handler (see the module docs of
//! `cmd` for how a handler works and where its errors are counted).

use super::*;

pub(super) fn dispatch(
    sh: &mut Shard,
    id: CmdId,
    a: &Args,
    now: u64,
    out: &mut Out,
) -> Result<(), CmdError> {
    use CmdId::*;
    match id {
        Ping => server::ping(a, out),
        Echo => {
            reply::bulk(out, a.get(1));
            Ok(())
        }
        Command => server::command(a, out),
        Config => config_cmd::config(sh, a, out),
        // INFO runs on every shard as `ShardOp::Stats`; run here it reports this shard alone.
        Info => {
            let counters = server::stats(sh);
            server::format_info(server::info_sections(a), &[&counters], &sh.settings, out);
            Ok(())
        }
        Dbsize => {
            reply::int(out, sh.store.len() as i64);
            Ok(())
        }
        Flushdb | Flushall => server::flush(sh, a, out),
        Time => server::time(out),
        Lastsave => {
            reply::int(out, crate::persist::snapshot::last_save() as i64);
            Ok(())
        }
        Memory => server::memory(sh, a, now, out),
        Eval => script::eval(sh, a, now, out, script::Eval::Body, false),
        Evalsha => script::eval(sh, a, now, out, script::Eval::Sha, false),
        EvalRo => script::eval(sh, a, now, out, script::Eval::Body, true),
        EvalshaRo => script::eval(sh, a, now, out, script::Eval::Sha, true),
        Fcall => script::fcall(sh, a, now, out, false),
        FcallRo => script::fcall(sh, a, now, out, true),
        Function => script::function(sh, a, out),
        Script => script::script(sh, a, out),
        Get => strings::get(sh, a, now, out),
        Set => strings::set(sh, a, now, out),
        Setnx => strings::setnx(sh, a, now, out),
        Setex => strings::setex(sh, a, now, out, 1000, "setex"),
        Psetex => strings::setex(sh, a, now, out, 1, "psetex"),
        Getset => strings::getset(sh, a, now, out),
        Getdel => strings::getdel(sh, a, now, out),
        Getex => strings::getex(sh, a, now, out),
        Mget => strings::mget(sh, a, now, out),
        Mset => strings::mset(sh, a, now, out),
        Msetnx => strings::msetnx(sh, a, now, out),
        Append => strings::append(sh, a, now, out),
        Strlen => strings::strlen(sh, a, now, out),
        Incr => strings::incr_by(sh, a.get(1), 1, now, out),
        Decr => strings::incr_by(sh, a.get(1), -1, now, out),
        Incrby => strings::incrby(sh, a, now, out, false),
        Decrby => strings::incrby(sh, a, now, out, true),
        Incrbyfloat => strings::incrbyfloat(sh, a, now, out),
        Getrange => strings::getrange(sh, a, now, out),
        Setrange => strings::setrange(sh, a, now, out),
        Lcs => lcs::lcs(sh, a, now, out),
        Setbit => bitmaps::setbit(sh, a, now, out),
        Getbit => bitmaps::getbit(sh, a, now, out),
        Bitcount => bitmaps::bitcount(sh, a, now, out),
        Bitpos => bitmaps::bitpos(sh, a, now, out),
        Bitop => bitmaps::bitop(sh, a, now, out),
        Pfadd => hll::pfadd(sh, a, now, out),
        Pfcount => hll::pfcount(sh, a, now, out),
        Pfmerge => hll::pfmerge(sh, a, now, out),
        Bitfield => bitmaps::bitfield(sh, a, now, out, false),
        BitfieldRo => bitmaps::bitfield(sh, a, now, out, true),
        Hset => hashes::hset(sh, a, now, out),
        Hsetnx => hashes::hsetnx(sh, a, now, out),
        Hget => hashes::hget(sh, a, now, out),
        Hmset => hashes::hmset(sh, a, now, out),
        Hmget => hashes::hmget(sh, a, now, out),
        Hdel => hashes::hdel(sh, a, now, out),
        Hexists => hashes::hexists(sh, a, now, out),
        Hlen => hashes::hlen(sh, a, now, out),
        Hstrlen => hashes::hstrlen(sh, a, now, out),
        Hkeys => hashes::hgetall(sh, a, now, out, hashes::Part::Keys),
        Hvals => hashes::hgetall(sh, a, now, out, hashes::Part::Values),
        Hgetall => hashes::hgetall(sh, a, now, out, hashes::Part::Both),
        Hincrby => hashes::hincrby(sh, a, now, out),
        Hincrbyfloat => hashes::hincrbyfloat(sh, a, now, out),
        Hrandfield => hashes::hrandfield(sh, a, now, out),
        Hscan => hashes::hscan(sh, a, now, out),
        Sadd => sets::sadd(sh, a, now, out),
        Srem => sets::srem(sh, a, now, out),
        Sismember => sets::sismember(sh, a, now, out),
        Smismember => sets::smismember(sh, a, now, out),
        Scard => sets::scard(sh, a, now, out),
        Smembers => sets::smembers(sh, a, now, out),
        Spop => sets::spop(sh, a, now, out),
        Srandmember => sets::srandmember(sh, a, now, out),
        Sscan => sets::sscan(sh, a, now, out),
        Smove => sets::smove(sh, a, now, out),
        Lpush => lists::push(sh, a, true, true, now, out),
        Zadd => zsets::zadd(sh, a, now, out),
        Zincrby => zsets::zincrby(sh, a, now, out),
        Zrem => zsets::zrem(sh, a, now, out),
        Zscore => zsets::zscore(sh, a, now, out),
        Zmscore => zsets::zmscore(sh, a, now, out),
        Zcard => zsets::zcard(sh, a, now, out),
        Zcount => zsets::zcount(sh, a, now, out),
        Zlexcount => zsets::zlexcount(sh, a, now, out),
        Zrange => zsets::zrange(sh, a, zsets::Form::Range, now, out),
        Zrevrange => zsets::zrange(sh, a, zsets::Form::RevRange, now, out),
        Zrangebyscore => zsets::zrange(sh, a, zsets::Form::ByScore, now, out),
        Zrevrangebyscore => zsets::zrange(sh, a, zsets::Form::RevByScore, now, out),
        Zrangebylex => zsets::zrange(sh, a, zsets::Form::ByLex, now, out),
        Zrevrangebylex => zsets::zrange(sh, a, zsets::Form::RevByLex, now, out),
        Zrangestore => zsets::zrangestore(sh, a, now, out),
        Zrank => zsets::zrank(sh, a, false, now, out),
        Zrevrank => zsets::zrank(sh, a, true, now, out),
        Zremrangebyrank => zsets::zremrange(sh, a, zsets::Form::Range, now, out),
        Zremrangebyscore => zsets::zremrange(sh, a, zsets::Form::ByScore, now, out),
        Zremrangebylex => zsets::zremrange(sh, a, zsets::Form::ByLex, now, out),
        Zpopmin => zsets::zpop(sh, a, false, now, out),
        Zpopmax => zsets::zpop(sh, a, true, now, out),
        Zmpop => zsets::zmpop(sh, a, 1, now, out),
        Bzpopmin => zsets::bzpop(sh, a, false, now, out),
        Bzpopmax => zsets::bzpop(sh, a, true, now, out),
        Bzmpop => {
            blocking::timeout_ms(a.get(1), now)?;
            zsets::zmpop(sh, a, 2, now, out)
        }
        Zrandmember => zsets::zrandmember(sh, a, now, out),
        Zscan => zsets::zscan(sh, a, now, out),
        Zunion => zsets::algebra(sh, a, zsets::Op::Union, false, false, now, out),
        Zinter => zsets::algebra(sh, a, zsets::Op::Inter, false, false, now, out),
        Zdiff => zsets::algebra(sh, a, zsets::Op::Diff, false, false, now, out),
        Zunionstore => zsets::algebra(sh, a, zsets::Op::Union, true, false, now, out),
        Zinterstore => zsets::algebra(sh, a, zsets::Op::Inter, true, false, now, out),
        Zdiffstore => zsets::algebra(sh, a, zsets::Op::Diff, true, false, now, out),
        Zintercard => zsets::algebra(sh, a, zsets::Op::Inter, false, true, now, out),
        Rpush => lists::push(sh, a, false, true, now, out),
        Lpushx => lists::push(sh, a, true, false, now, out),
        Rpushx => lists::push(sh, a, false, false, now, out),
        Lpop => lists::pop(sh, a, true, now, out),
        Rpop => lists::pop(sh, a, false, now, out),
        Llen => lists::llen(sh, a, now, out),
        Lrange => lists::lrange(sh, a, now, out),
        Lindex => lists::lindex(sh, a, now, out),
        Lset => lists::lset(sh, a, now, out),
        Linsert => lists::linsert(sh, a, now, out),
        Lrem => lists::lrem(sh, a, now, out),
        Ltrim => lists::ltrim(sh, a, now, out),
        Lpos => lists::lpos(sh, a, now, out),
        Lmove => {
            let sides = lists::move_sides(a, Some(3))?;
            lists::lmove(sh, a, sides, now, out)
        }
        Rpoplpush => lists::lmove(sh, a, (false, true), now, out),
        Lmpop => lists::lmpop(sh, a, 1, now, out),
        Blpop => lists::bpop(sh, a, true, now, out),
        Brpop => lists::bpop(sh, a, false, now, out),
        Blmove => {
            let sides = lists::move_sides(a, Some(3))?;
            blocking::timeout_ms(a.get(5), now)?;
            lists::lmove(sh, a, sides, now, out)
        }
        Brpoplpush => {
            blocking::timeout_ms(a.get(3), now)?;
            lists::lmove(sh, a, (false, true), now, out)
        }
        Blmpop => {
            blocking::timeout_ms(a.get(1), now)?;
            lists::lmpop(sh, a, 2, now, out)
        }
        Sinter => sets::combine(sh, a, now, out, sets::Algebra::Inter),
        Sunion => sets::combine(sh, a, now, out, sets::Algebra::Union),
        Sdiff => sets::combine(sh, a, now, out, sets::Algebra::Diff),
        Sintercard => sets::intercard(sh, a, now, out),
        Sinterstore => sets::combine_store(sh, a, now, out, sets::Algebra::Inter),
        Sunionstore => sets::combine_store(sh, a, now, out, sets::Algebra::Union),
        Sdiffstore => sets::combine_store(sh, a, now, out, sets::Algebra::Diff),
        Del | Delete | Unlink => keys::del(sh, a, now, out),
        Exists | Touch => keys::exists(sh, a, now, out),
        Type => keys::key_type(sh, a, now, out),
        Expire => keys::expire(sh, a, now, out, 1000, false),
        Pexpire => keys::expire(sh, a, now, out, 1, false),
        Expireat => keys::expire(sh, a, now, out, 1000, true),
        Pexpireat => keys::expire(sh, a, now, out, 1, true),
        Ttl => keys::ttl(sh, a, now, out, false, 1000),
        Pttl => keys::ttl(sh, a, now, out, false, 1),
        Expiretime => keys::ttl(sh, a, now, out, true, 1000),
        Pexpiretime => keys::ttl(sh, a, now, out, true, 1),
        Persist => keys::persist(sh, a, now, out),
        Rename => keys::rename(sh, a, now, out, false),
        Renamenx => keys::rename(sh, a, now, out, true),
        Keys => keys::keys(sh, a, now, out),
        Scan => keys::scan(sh, a, now, out),
        Randomkey => keys::randomkey(sh, now, out),
        Object => keys::object(sh, a, now, out),
        Dump => serialize::dump(sh, a, now, out),
        Restore => serialize::restore(sh, a, now, out),
        Copy => serialize::copy(sh, a, now, out),
        // Only a script runs these on a shard; a client's run on every core (`shard::pipeline`).
        Publish => {
            pubsub::publish_here(sh, a, pubsub::Kind::Channel, now, out);
            Ok(())
        }
        Spublish => {
            pubsub::publish_here(sh, a, pubsub::Kind::Shard, now, out);
            Ok(())
        }
        Pubsub => Err(CmdError::Internal("PUBSUB routed to one shard")),
        Quit | Reset | Select | Hello | Client | Auth | Shutdown | Save | Bgsave | Bgrewriteaof
        | Multi | Exec | Discard | Watch | Unwatch | Subscribe | Unsubscribe | Psubscribe
        | Punsubscribe | Ssubscribe | Sunsubscribe | Monitor => {
            // Connection commands never reach a shard; the connection runs them itself.
            Err(CmdError::Internal("connection command routed to a shard"))
        }
    }
}
