//! Connection commands: AUTH, HELLO, CLIENT, SELECT, SHUTDOWN. They act on the calling
//! connection's own state ([`ClientInfo`]) and never touch a store; CLIENT LIST and CLIENT KILL
//! reach every shard through the pipeline (internal `__clients` / `__kill` parts).

use super::args::{eq_ic, Args, IntArg};
use super::server::{now_ms, REDIS_VERSION};
use crate::cmd::state::{ClientInfo, Shard};
use crate::config::RUNTIME;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;

type R = Result<(), CmdError>;

/// Checks `user`/`pass` against the default user. Counts failures for INFO stats.
fn authenticate(sh: &mut Shard, client: &mut ClientInfo, user: &[u8], pass: &[u8]) -> R {
    if user == b"default" && RUNTIME.password_matches(pass) {
        client.authenticated = true;
        Ok(())
    } else {
        sh.stats.auth_failures += 1;
        Err(CmdError::WrongPass)
    }
}

/// AUTH [username] password
pub fn auth(sh: &mut Shard, client: &mut ClientInfo, a: &Args, out: &mut Out) -> R {
    match a.len() {
        2 if !RUNTIME.password_set() => Err(CmdError::AuthWithoutPassword),
        2 => authenticate(sh, client, b"default", a.get(1)),
        3 => authenticate(sh, client, a.get(1), a.get(2)),
        _ => Err(CmdError::Syntax),
    }?;
    reply::ok(out);
    Ok(())
}

/// HELLO [protover [AUTH user pass] [SETNAME name]] (connection-level)
pub fn hello(sh: &mut Shard, client: &mut ClientInfo, a: &Args, out: &mut Out) -> R {
    let mut creds = None;
    let mut name = None;
    let mut proto = None;
    if a.len() >= 2 {
        let ver = super::args::parse_i64(a.get(1)).ok_or(CmdError::ProtocolVersion)?;
        if ver != 2 && ver != 3 {
            return Err(CmdError::NoProto);
        }
        proto = Some(ver == 3);
        let mut i = 2;
        while i < a.len() {
            let more = a.len() - i - 1;
            if eq_ic(a.get(i), "auth") && more >= 2 {
                creds = Some((a.get(i + 1), a.get(i + 2)));
                i += 3;
            } else if eq_ic(a.get(i), "setname") && more >= 1 {
                name = Some(a.get(i + 1));
                i += 2;
            } else {
                return Err(CmdError::HelloSyntax(a.get(i).to_vec()));
            }
        }
    }
    if let Some((user, pass)) = creds {
        authenticate(sh, client, user, pass)?;
    }
    if !client.authenticated {
        return Err(CmdError::HelloNoAuth);
    }
    if let Some(n) = name {
        set_name(client, n)?;
    }
    // The reply is already in the protocol just chosen (the pipeline switches the connection).
    if let Some(resp3) = proto {
        client.resp3 = resp3;
        out.set_resp3(resp3);
    }
    reply::map(out, 7);
    reply::bulk(out, b"server");
    reply::bulk(out, b"redis");
    reply::bulk(out, b"version");
    reply::bulk(out, REDIS_VERSION.as_bytes());
    reply::bulk(out, b"proto");
    reply::int(out, if client.resp3 { 3 } else { 2 });
    reply::bulk(out, b"id");
    reply::int(out, client.id as i64);
    reply::bulk(out, b"mode");
    reply::bulk(out, b"standalone");
    reply::bulk(out, b"role");
    reply::bulk(out, b"master");
    reply::bulk(out, b"modules");
    reply::array(out, 0);
    Ok(())
}

fn set_name(client: &mut ClientInfo, name: &[u8]) -> R {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::BadClientName);
    }
    client.name = String::from_utf8_lossy(name).into_owned();
    Ok(())
}

/// CLIENT ID | SETNAME | GETNAME | SETINFO | INFO (LIST is gathered from every shard).
pub fn client(client: &mut ClientInfo, a: &Args, out: &mut Out) -> R {
    let sub = a.get(1);
    let n = a.len();
    if eq_ic(sub, "id") && n == 2 {
        reply::int(out, client.id as i64);
    } else if eq_ic(sub, "setname") && n == 3 {
        set_name(client, a.get(2))?;
        reply::ok(out);
    } else if eq_ic(sub, "getname") && n == 2 {
        if client.name.is_empty() {
            reply::null(out);
        } else {
            reply::bulk(out, client.name.as_bytes());
        }
    } else if eq_ic(sub, "setinfo") && n == 4 {
        let value = String::from_utf8_lossy(a.get(3)).into_owned();
        if value.contains(|c: char| !('!'..='~').contains(&c)) {
            return Err(CmdError::BadLibInfo);
        }
        if eq_ic(a.get(2), "lib-name") {
            client.lib_name = value;
        } else if eq_ic(a.get(2), "lib-ver") {
            client.lib_ver = value;
        } else {
            return Err(CmdError::UnrecognizedOption(a.get(2).to_vec()));
        }
        reply::ok(out);
    } else if eq_ic(sub, "info") && n == 2 {
        let mut line = String::new();
        client.write_line(now_ms(), &mut line);
        reply::verbatim(out, line.as_bytes());
    } else if eq_ic(sub, "no-evict") && n == 3 {
        reply::ok(out);
    } else if [
        "id", "setname", "getname", "setinfo", "info", "list", "no-evict",
    ]
    .iter()
    .any(|s| eq_ic(sub, s))
    {
        return Err(CmdError::WrongArity(format!(
            "client|{}",
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        )));
    } else {
        return Err(CmdError::UnknownSubcommand {
            cmd: "CLIENT",
            sub: sub.to_vec(),
        });
    }
    Ok(())
}

/// SELECT index: corekv has database 0 only.
pub fn select(a: &Args, out: &mut Out) -> R {
    let db = a.i64_at(1)?;
    if db != 0 {
        return Err(CmdError::DbIndexOutOfRange);
    }
    reply::ok(out);
    Ok(())
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: checks the options; on success the connection
/// closes it (no reply, as with Redis) and asks the server to stop, as SIGTERM does (a snapshot
/// is taken at shutdown when save rules are set, whatever SAVE or NOSAVE say).
pub fn shutdown(a: &Args, out: &mut Out) -> R {
    for opt in a.iter().skip(1) {
        if eq_ic(opt, "abort") {
            return Err(CmdError::NoShutdownInProgress);
        }
        if !["nosave", "save", "now", "force"]
            .iter()
            .any(|o| eq_ic(opt, o))
        {
            return Err(CmdError::Syntax);
        }
    }
    let _ = out;
    Ok(())
}

/// Which connections CLIENT KILL closes; encoded as the arguments of the internal `__kill` that
/// runs on every shard.
pub struct KillFilter {
    pub old_form: bool,
    pub args: Vec<Vec<u8>>,
}

/// CLIENT UNBLOCK client-id [TIMEOUT|ERROR]: the client and whether it gets the error.
pub fn parse_unblock(a: &Args) -> Result<(u64, bool), CmdError> {
    if a.len() < 3 {
        return Err(CmdError::WrongArity("client|unblock".into()));
    }
    if a.len() > 4 {
        return Err(CmdError::SubcommandOrArity {
            cmd: "CLIENT",
            sub: b"UNBLOCK".to_vec(),
        });
    }
    let id = super::args::parse_i64(a.get(2)).ok_or(CmdError::NotInteger)?;
    let error = match a.len() {
        4 if super::args::eq_ic(a.get(3), "error") => true,
        4 if super::args::eq_ic(a.get(3), "timeout") => false,
        4 => {
            return Err(CmdError::Plain(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
        _ => false,
    };
    Ok((id as u64, error))
}

/// CLIENT KILL addr | CLIENT KILL [ID id] [ADDR addr] [LADDR addr] [SKIPME yes|no] ...
pub fn parse_kill(caller: u64, a: &Args) -> Result<KillFilter, CmdError> {
    let (mut id, mut addr, mut laddr, mut skipme) = (Vec::new(), Vec::new(), Vec::new(), true);
    let old_form = a.len() == 3;
    if old_form {
        addr = a.get(2).to_vec();
        skipme = false; // with the old form a client may kill itself
    } else if a.len() > 3 {
        let mut i = 2;
        while i < a.len() {
            if i + 1 >= a.len() {
                return Err(CmdError::Syntax);
            }
            let (opt, val) = (a.get(i), a.get(i + 1));
            if eq_ic(opt, "id") {
                match super::args::parse_i64(val) {
                    Some(v) if v > 0 => id = val.to_vec(),
                    _ => return Err(CmdError::BadClientId),
                }
            } else if eq_ic(opt, "addr") {
                addr = val.to_vec();
            } else if eq_ic(opt, "laddr") {
                laddr = val.to_vec();
            } else if eq_ic(opt, "skipme") {
                skipme = if eq_ic(val, "yes") {
                    true
                } else if eq_ic(val, "no") {
                    false
                } else {
                    return Err(CmdError::Syntax);
                };
            } else if eq_ic(opt, "type") || eq_ic(opt, "user") || eq_ic(opt, "maxage") {
                // Every corekv client is a normal client of the default user; accepted, no filter.
            } else {
                return Err(CmdError::Syntax);
            }
            i += 2;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    let caller = caller.to_string().into_bytes();
    let skipme = if skipme { b"1".to_vec() } else { b"0".to_vec() };
    Ok(KillFilter {
        old_form,
        args: vec![b"__kill".to_vec(), caller, skipme, id, addr, laddr],
    })
}

/// `ShardOp::Kill` (caller skipme id addr laddr): closes this shard's matching connections and
/// answers how many. The caller's own connection is only shut for reading, so its reply still
/// goes out.
pub fn shard_kill(sh: &mut Shard, a: &Args) -> u64 {
    let caller = a.i64_at(1).unwrap_or(0) as u64;
    let skipme = a.get(2) == b"1";
    let (id, addr, laddr) = (a.get(3), a.get(4), a.get(5));
    let mut killed = 0;
    for c in sh.clients.values() {
        // No connection's info is borrowed while a shard runs an op; skip rather than panic.
        let Ok(mut c) = c.try_borrow_mut() else {
            continue;
        };
        let matches = (id.is_empty() || id == c.id.to_string().as_bytes())
            && (addr.is_empty() || addr == c.addr.as_bytes())
            && (laddr.is_empty() || laddr == c.laddr.as_bytes())
            && !(skipme && c.id == caller);
        if matches {
            c.killed = true;
            let how = if c.id == caller {
                libc::SHUT_RD
            } else {
                libc::SHUT_RDWR
            };
            // SAFETY: fd belongs to a live connection of this core (removed before it closes).
            unsafe { libc::shutdown(c.fd, how) };
            killed += 1;
        }
    }
    killed
}
