//! PUBSUB's subcommands: parsing them with Redis's errors, and HELP. Each core answers a query
//! about its own registry (`cmd::pubsub`); the shard layer combines the answers.

use crate::resp::reply;
use crate::resp::reply::Out;

/// The PUBSUB subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    Channels,
    Numsub,
    Numpat,
    ShardChannels,
    ShardNumsub,
}

impl Query {
    pub fn code(self) -> u32 {
        self as u32
    }

    pub fn from_code(c: u32) -> Query {
        [
            Query::Channels,
            Query::Numsub,
            Query::Numpat,
            Query::ShardChannels,
            Query::ShardNumsub,
        ][c as usize]
    }
}

/// Parses PUBSUB's subcommand and checks its arguments (Redis's texts), or writes HELP.
pub fn parse_query(
    a: &crate::cmd::Args,
    out: &mut Out,
) -> Result<Option<Query>, crate::error::CmdError> {
    use crate::cmd::args::eq_ic;
    use crate::error::CmdError;
    let sub = a.get(1);
    let q = if eq_ic(sub, "channels") {
        Query::Channels
    } else if eq_ic(sub, "numsub") {
        Query::Numsub
    } else if eq_ic(sub, "numpat") {
        Query::Numpat
    } else if eq_ic(sub, "shardchannels") {
        Query::ShardChannels
    } else if eq_ic(sub, "shardnumsub") {
        Query::ShardNumsub
    } else if eq_ic(sub, "help") && a.len() == 2 {
        reply::array(out, HELP.len());
        for line in HELP {
            reply::simple(out, line.as_bytes());
        }
        return Ok(None);
    } else {
        return Err(CmdError::UnknownSubcommand {
            cmd: "PUBSUB",
            sub: sub.to_vec(),
        });
    };
    if matches!(q, Query::Channels | Query::ShardChannels) && a.len() > 3 {
        return Err(CmdError::SubcommandOrArity {
            cmd: "PUBSUB",
            sub: sub.to_vec(),
        });
    }
    if q == Query::Numpat && a.len() != 2 {
        let name = String::from_utf8_lossy(sub).to_ascii_lowercase();
        return Err(CmdError::WrongArity(format!("pubsub|{name}")));
    }
    Ok(Some(q))
}

const HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];
