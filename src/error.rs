//! Client-visible errors.
//!
//! Two kinds exist and they never mix:
//! - [`CmdError`]: a command failed; the client gets `-<text>\r\n` and the connection carries on.
//!   `Display` is the exact Redis text (clients and test suites match on it byte for byte), so each
//!   text is written once, here.
//! - [`crate::resp::parse::ProtocolError`]: the byte stream is not RESP; the client gets the
//!   `-ERR Protocol error: ...` reply and only that connection is closed.
//!
//! Errors are counted by their code (the first word) for `INFO errorstats`.

use crate::store::StoreError;
use std::fmt;

/// A deferred reply that no hop produced (a bug, answered rather than waited for forever).
pub const SHARD_REPLY_MISSING: &[u8] = b"-ERR internal error: shard reply missing\r\n";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// `ERR unknown command 'x', with args beginning with: 'a' 'b' `
    UnknownCommand {
        name: Vec<u8>,
        args: Vec<Vec<u8>>,
    },
    /// `ERR unknown subcommand 'x'. Try CLIENT HELP.`
    UnknownSubcommand {
        cmd: &'static str,
        sub: Vec<u8>,
    },
    WrongArity(String),
    Syntax,
    NotInteger,
    /// HINCRBY on a field that is not an integer.
    HashNotInteger,
    /// HINCRBYFLOAT on a field that is not a float.
    HashNotFloat,
    NotFloat,
    Overflow,
    NanOrInfinity,
    InvalidExpire(&'static str),
    WrongType,
    NoSuchKey,
    OffsetOutOfRange,
    StringTooLong,
    DbIndexOutOfRange,
    NoProto,
    ExpireOptionsNxXx,
    ExpireOptionsGtLt,
    UnsupportedOption(Vec<u8>),
    InvalidCursor,
    OutOfMemory,
    /// Transactions: `EXEC` / `DISCARD` without `MULTI`, nested `MULTI`, `WATCH` in `MULTI`,
    /// a command refused inside `MULTI`, EXEC after a rejected command, a rejected EXEC.
    ExecWithoutMulti,
    DiscardWithoutMulti,
    NestedMulti,
    WatchInMulti,
    NotAllowedInMulti,
    ExecAbort,
    ExecAbortBecause(String),
    /// Authentication and connection state.
    NoAuth,
    HelloNoAuth,
    WrongPass,
    AuthWithoutPassword,
    ProtocolVersion,
    HelloSyntax(Vec<u8>),
    BadClientName,
    BadLibInfo,
    UnrecognizedOption(Vec<u8>),
    BadClientId,
    NoSuchClient,
    NoShutdownInProgress,
    /// Server commands.
    ConfigSetFailed {
        name: String,
        why: String,
    },
    ConfigSetUnknown(String),
    AofDisabled,
    BgsaveInProgress,
    AofRewriteInProgress,
    SaveFailed,
    CannotStartSave(String),
    DecrementOverflow,
    /// A connection refused at accept.
    MaxClients,
    Denied,
    /// Scripting.
    NoScript,
    NumKeysNegative,
    NumKeysTooMany,
    ScriptCompile(String),
    ScriptFlushMode,
    NotBusy,
    Unkillable,
    /// A script is past the busy threshold on this shard.
    Busy,
    /// A function (FCALL) is past the busy threshold on this shard.
    BusyFunction,
    /// FCALL's numkeys is not a number.
    BadNumKeys,
    /// FUNCTION's errors: `ERR` and this text.
    Function(String),
    /// A script's declared keys on several shards.
    CrossSlot,
    /// CLIENT TRACKING / CACHING: `ERR` and this text.
    Tracking(String),
    /// Any `ERR` error whose text is built at run time.
    Message(String),
    /// RESP2 subscribed mode refuses this command (its full name, `container|sub`).
    SubscribedContext(String),
    /// `ERR unknown subcommand or wrong number of arguments for 'X'. Try PUBSUB HELP.`
    SubcommandOrArity {
        cmd: &'static str,
        sub: Vec<u8>,
    },
    /// A bug answered instead of a panic or a hang: the command that panicked, or what failed.
    Panicked(&'static str),
    Internal(&'static str),
    /// RESTORE onto an existing key without REPLACE.
    BusyKey,
    /// This whole text, its first word the error code (`WRONGTYPE Key is not a valid
    /// HyperLogLog string value.`).
    Coded(&'static str),
    /// `ERR` and this text (Redis's one-off messages).
    Plain(&'static str),
}

impl CmdError {
    /// The error code counted in `INFO errorstats`.
    pub fn code(&self) -> &'static str {
        match self {
            CmdError::WrongType => "WRONGTYPE",
            CmdError::BusyKey => "BUSYKEY",
            CmdError::Coded(text) => text.split(' ').next().unwrap_or("ERR"),
            CmdError::NoProto => "NOPROTO",
            CmdError::OutOfMemory => "OOM",
            CmdError::ExecAbort | CmdError::ExecAbortBecause(_) => "EXECABORT",
            CmdError::NoAuth | CmdError::HelloNoAuth => "NOAUTH",
            CmdError::WrongPass => "WRONGPASS",
            CmdError::Denied => "DENIED",
            CmdError::NoScript => "NOSCRIPT",
            CmdError::NotBusy => "NOTBUSY",
            CmdError::Busy | CmdError::BusyFunction => "BUSY",
            CmdError::Unkillable => "UNKILLABLE",
            CmdError::CrossSlot => "CROSSSLOT",
            _ => "ERR",
        }
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdError::UnknownCommand { name, args } => {
                write!(
                    f,
                    "ERR unknown command '{}', with args beginning with: ",
                    lossy(name)
                )?;
                // Redis quotes arguments while the quoted text is under 128 bytes, cutting each
                // to what is left of those 128 (quotes and spaces count).
                let mut quoted = Vec::new();
                for a in args {
                    if quoted.len() >= 128 {
                        break;
                    }
                    let take = a.len().min(128 - quoted.len());
                    quoted.push(b'\'');
                    quoted.extend_from_slice(&a[..take]);
                    quoted.extend_from_slice(b"' ");
                }
                f.write_str(&lossy(&quoted))
            }
            CmdError::UnknownSubcommand { cmd, sub } => write!(
                f,
                "ERR unknown subcommand '{}'. Try {} HELP.",
                lossy(sub),
                cmd
            ),
            CmdError::SubscribedContext(name) => write!(
                f,
                "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            ),
            CmdError::Tracking(m) | CmdError::Message(m) => write!(f, "ERR {m}"),
            CmdError::SubcommandOrArity { cmd, sub } => write!(
                f,
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try {cmd} HELP.",
                lossy(sub)
            ),
            CmdError::WrongArity(name) => {
                write!(f, "ERR wrong number of arguments for '{name}' command")
            }
            CmdError::Syntax => f.write_str("ERR syntax error"),
            CmdError::NotInteger => f.write_str("ERR value is not an integer or out of range"),
            CmdError::HashNotInteger => f.write_str("ERR hash value is not an integer"),
            CmdError::HashNotFloat => f.write_str("ERR hash value is not a float"),
            CmdError::NotFloat => f.write_str("ERR value is not a valid float"),
            CmdError::Overflow => f.write_str("ERR increment or decrement would overflow"),
            CmdError::NanOrInfinity => f.write_str("ERR increment would produce NaN or Infinity"),
            CmdError::InvalidExpire(cmd) => write!(f, "ERR invalid expire time in '{cmd}' command"),
            CmdError::WrongType => {
                f.write_str("WRONGTYPE Operation against a key holding the wrong kind of value")
            }
            CmdError::NoSuchKey => f.write_str("ERR no such key"),
            CmdError::OffsetOutOfRange => f.write_str("ERR offset is out of range"),
            CmdError::StringTooLong => {
                f.write_str("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
            }
            CmdError::DbIndexOutOfRange => f.write_str("ERR DB index is out of range"),
            CmdError::NoProto => f.write_str("NOPROTO unsupported protocol version"),
            CmdError::ExpireOptionsNxXx => {
                f.write_str("ERR NX and XX, GT or LT options at the same time are not compatible")
            }
            CmdError::ExpireOptionsGtLt => {
                f.write_str("ERR GT and LT options at the same time are not compatible")
            }
            CmdError::UnsupportedOption(o) => write!(f, "ERR Unsupported option {}", lossy(o)),
            CmdError::InvalidCursor => f.write_str("ERR invalid cursor"),
            CmdError::OutOfMemory => {
                f.write_str("OOM command not allowed when used memory > 'maxmemory'.")
            }
            CmdError::ExecWithoutMulti => f.write_str("ERR EXEC without MULTI"),
            CmdError::DiscardWithoutMulti => f.write_str("ERR DISCARD without MULTI"),
            CmdError::NestedMulti => f.write_str("ERR MULTI calls can not be nested"),
            CmdError::WatchInMulti => f.write_str("ERR WATCH inside MULTI is not allowed"),
            CmdError::NotAllowedInMulti => {
                f.write_str("ERR Command not allowed inside a transaction")
            }
            CmdError::ExecAbort => {
                f.write_str("EXECABORT Transaction discarded because of previous errors.")
            }
            // `why` is the rejection's text without its `ERR ` code, as Redis writes it.
            CmdError::ExecAbortBecause(why) => {
                let why = why.strip_prefix("ERR ").unwrap_or(why);
                write!(f, "EXECABORT Transaction discarded because of: {why}")
            }
            CmdError::NoAuth => f.write_str("NOAUTH Authentication required."),
            CmdError::HelloNoAuth => f.write_str("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"),
            CmdError::WrongPass => {
                f.write_str("WRONGPASS invalid username-password pair or user is disabled.")
            }
            CmdError::AuthWithoutPassword => f.write_str("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"),
            CmdError::ProtocolVersion => {
                f.write_str("ERR Protocol version is not an integer or out of range")
            }
            CmdError::HelloSyntax(o) => write!(f, "ERR Syntax error in HELLO option '{}'", lossy(o)),
            CmdError::BadClientName => f.write_str(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ),
            CmdError::BadLibInfo => f.write_str(
                "ERR lib-name or lib-ver cannot contain spaces, newlines or special characters.",
            ),
            CmdError::UnrecognizedOption(o) => write!(f, "ERR Unrecognized option '{}'", lossy(o)),
            CmdError::BadClientId => f.write_str("ERR client-id should be greater than 0"),
            CmdError::NoSuchClient => f.write_str("ERR No such client"),
            CmdError::NoShutdownInProgress => f.write_str("ERR No shutdown in progress."),
            CmdError::ConfigSetFailed { name, why } => write!(
                f,
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ),
            CmdError::ConfigSetUnknown(name) => write!(
                f,
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ),
            CmdError::AofDisabled => {
                f.write_str("ERR Append only file is not enabled (appendonly no)")
            }
            CmdError::BgsaveInProgress => f.write_str("ERR Background save already in progress"),
            CmdError::AofRewriteInProgress => {
                f.write_str("ERR Background append only file rewriting already in progress")
            }
            CmdError::SaveFailed => f.write_str("ERR Background save failed (see the server log)"),
            CmdError::CannotStartSave(why) => {
                write!(f, "ERR cannot start the background save: {why}")
            }
            CmdError::DecrementOverflow => f.write_str("ERR decrement would overflow"),
            CmdError::MaxClients => f.write_str("ERR max number of clients reached"),
            CmdError::Denied => f.write_str("DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside."),
            CmdError::NoScript => f.write_str("NOSCRIPT No matching script. Please use EVAL."),
            CmdError::NumKeysNegative => f.write_str("ERR Number of keys can't be negative"),
            CmdError::NumKeysTooMany => {
                f.write_str("ERR Number of keys can't be greater than number of args")
            }
            CmdError::ScriptCompile(msg) => {
                write!(f, "ERR Error compiling script (new function): {msg}")
            }
            CmdError::ScriptFlushMode => {
                f.write_str("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
            }
            CmdError::NotBusy => f.write_str("NOTBUSY No scripts in execution right now."),
            CmdError::BusyFunction => f.write_str("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."),
            CmdError::BadNumKeys => f.write_str("ERR Bad number of keys provided"),
            CmdError::Function(msg) => write!(f, "ERR {msg}"),
            CmdError::Busy => f.write_str("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."),
            CmdError::Unkillable => f.write_str("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."),
            CmdError::CrossSlot => f.write_str("CROSSSLOT Keys in request don't hash to the same slot"),
            CmdError::Panicked(name) => write!(f, "ERR internal error while running '{name}'"),
            CmdError::Plain(text) => write!(f, "ERR {text}"),
            CmdError::Coded(text) => f.write_str(text),
            CmdError::BusyKey => f.write_str("BUSYKEY Target key name already exists."),
            CmdError::Internal(what) => write!(f, "ERR internal error: {what}"),
        }
    }
}

impl From<StoreError> for CmdError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongType => CmdError::WrongType,
            StoreError::NotInteger => CmdError::NotInteger,
            StoreError::NotFloat => CmdError::NotFloat,
            StoreError::Overflow => CmdError::Overflow,
            StoreError::NanOrInfinity => CmdError::NanOrInfinity,
            StoreError::TooLong => CmdError::StringTooLong,
            StoreError::NoSuchKey => CmdError::NoSuchKey,
            StoreError::HashNotInteger => CmdError::HashNotInteger,
            StoreError::HashNotFloat => CmdError::HashNotFloat,
            StoreError::OutOfRange => CmdError::Plain("index out of range"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_redis() {
        let e = CmdError::UnknownCommand {
            name: b"foo".to_vec(),
            args: vec![b"a".to_vec(), b"b".to_vec()],
        };
        assert_eq!(
            e.to_string(),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        let e = CmdError::UnknownCommand {
            name: b"foo".to_vec(),
            args: vec![],
        };
        assert_eq!(
            e.to_string(),
            "ERR unknown command 'foo', with args beginning with: "
        );
        assert_eq!(
            CmdError::WrongArity("get".into()).to_string(),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            CmdError::InvalidExpire("set").to_string(),
            "ERR invalid expire time in 'set' command"
        );
        assert_eq!(CmdError::WrongType.code(), "WRONGTYPE");
        assert_eq!(CmdError::Syntax.code(), "ERR");
    }
}
