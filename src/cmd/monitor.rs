//! MONITOR: every command executed, on any core, streamed to the monitoring connections in
//! Redis's line format:
//!
//! ```text
//! +1339518083.107412 [0 127.0.0.1:60866] "set" "a b" "x\"y\nz"
//! ```
//! A line is formatted only while someone monitors (one relaxed atomic load per command
//! otherwise). It is appended to this core's monitors at once and forwarded to the cores that
//! have monitors through the same forwarder as server-published messages (`cmd::pubsub`), so a
//! monitor sees each core's commands in the order they ran there. As in Redis, administrative
//! commands are not shown, AUTH's (and HELLO's AUTH) arguments are redacted, a transaction's
//! commands appear when EXEC runs them, and a script's calls appear as `[0 lua]`.

use super::state::Shard;
use super::{flags, Args, CmdId};
use crate::cmd::pubsub::Outbound;

/// Appends `arg` as Redis's `sdscatrepr` quotes it.
fn quote(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'"');
    for &c in arg {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c),
            c => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// Whether `id` with `args` is shown (administrative commands are not, as in Redis).
pub fn shown(id: CmdId) -> bool {
    id.spec().flags & flags::ADMIN == 0
}

/// The line for a command from `who` (the client's address, or `lua`).
pub fn line(id: CmdId, args: &Args, who: &str) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(64 + args.iter().map(<[u8]>::len).sum::<usize>());
    out.extend_from_slice(
        format!("+{}.{:06} [0 {who}]", now.as_secs(), now.subsec_micros()).as_bytes(),
    );
    // AUTH's arguments, and HELLO's after AUTH, are never shown.
    let redact_from = match id {
        CmdId::Auth => 1,
        CmdId::Hello => args
            .iter()
            .position(|a| super::args::eq_ic(a, "auth"))
            .map_or(usize::MAX, |i| i + 1),
        _ => usize::MAX,
    };
    for (i, a) in args.iter().enumerate() {
        out.push(b' ');
        if i >= redact_from && !(id == CmdId::Hello && i >= redact_from + 2) {
            quote(&mut out, b"(redacted)");
        } else {
            quote(&mut out, a);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Streams a command's line to every monitor (call only when [`super::pubsub::monitoring`]).
pub fn feed(sh: &mut Shard, id: CmdId, args: &Args, who: &str, now_ms: u64) {
    if !shown(id) {
        return;
    }
    let l = line(id, args, who);
    sh.pubsub.monitor_line(&l, now_ms);
    if sh.shards > 1 {
        sh.pubsub.forward(Outbound::Monitor, b"", &l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_quote_like_redis() {
        let data = b"seta bx\"y\nz\x01";
        let ranges = [(0, 3), (3, 6), (6, 12)];
        let l = line(CmdId::Set, &Args::new(data, &ranges), "127.0.0.1:5000");
        let text = String::from_utf8(l).unwrap();
        let (_, rest) = text.split_once(' ').unwrap();
        assert_eq!(
            rest,
            "[0 127.0.0.1:5000] \"set\" \"a b\" \"x\\\"y\\nz\\x01\"\r\n"
        );
        let data = b"helloAUTHuserpassSETNAMEn";
        let ranges = [(0, 5), (5, 9), (9, 13), (13, 17), (17, 24), (24, 25)];
        let l = String::from_utf8(line(CmdId::Hello, &Args::new(data, &ranges), "lua")).unwrap();
        assert!(
            l.ends_with(
                "[0 lua] \"hello\" \"AUTH\" \"(redacted)\" \"(redacted)\" \"SETNAME\" \"n\"\r\n"
            ),
            "{l}"
        );
    }
}
