//! Admission: what happens to a parsed command before anything runs, decided from the command
//! table alone, in Redis's order: an unknown name, then the arity, then authentication; and
//! inside MULTI, whether the command runs now, is queued or is refused. The connection's
//! pipeline (`shard::pipeline`) acts on the answer; it decides none of these rules itself.

use super::{flags, Args, CmdId};
use crate::error::CmdError;

/// Whether a command may run.
#[derive(Debug)]
pub enum Admission {
    Run(CmdId),
    /// Refused with this error (`None`: the name is unknown). Inside MULTI the refusal makes
    /// EXEC answer EXECABORT.
    Reject(Option<CmdId>, CmdError),
}

/// Admits the command `id` (as planning looked it up; `None`: unknown) with `args`.
pub fn admit(id: Option<CmdId>, args: &Args, authenticated: bool) -> Admission {
    let Some(id) = id else {
        return Admission::Reject(
            None,
            CmdError::UnknownCommand {
                name: args.get(0).to_vec(),
                args: args.iter().skip(1).map(<[u8]>::to_vec).collect(),
            },
        );
    };
    let spec = id.spec();
    if !id.arity_ok(args.len()) {
        return Admission::Reject(Some(id), CmdError::WrongArity(spec.name.into()));
    }
    if !authenticated && spec.flags & flags::NO_AUTH == 0 {
        return Admission::Reject(Some(id), CmdError::NoAuth);
    }
    Admission::Run(id)
}

/// What an admitted command does while the connection is in MULTI.
#[derive(Debug, PartialEq, Eq)]
pub enum InMulti {
    /// Runs the transaction.
    Exec,
    /// Ends the transaction without running it.
    Discard,
    /// Runs as outside MULTI (QUIT, RESET).
    RunNow,
    /// Answers this error; the transaction goes on (nested MULTI, WATCH inside MULTI).
    Refuse(CmdError),
    /// Answers this error and makes EXEC answer EXECABORT (commands flagged no-multi).
    Abort(CmdError),
    /// Queued: answers +QUEUED.
    Queue,
}

pub fn in_multi(id: CmdId) -> InMulti {
    match id {
        CmdId::Exec => InMulti::Exec,
        CmdId::Discard => InMulti::Discard,
        CmdId::Quit | CmdId::Reset => InMulti::RunNow,
        CmdId::Multi => InMulti::Refuse(CmdError::NestedMulti),
        CmdId::Watch => InMulti::Refuse(CmdError::WatchInMulti),
        _ if id.spec().flags & flags::NO_MULTI != 0 => InMulti::Abort(CmdError::NotAllowedInMulti),
        _ => InMulti::Queue,
    }
}
