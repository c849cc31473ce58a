//! Incremental, zero-copy RESP2 request parser (the read side of every connection).
//!
//! # Design
//!
//! * **Offsets, not slices.** A parsed argument is a `(start, end)` byte range of the caller's read
//!   buffer, so nothing is copied and [`Batch`] holds no borrow: the connection keeps reading into
//!   the same buffer and reuses the batch vectors, and the hot path allocates nothing per command.
//! * **All-or-nothing steps.** A multibulk frame is parsed in steps: the `*<n>` line, then per
//!   argument the `$<len>` line and the payload. A step either completes or leaves no trace, so
//!   when the bytes run out the parser only records where the next step starts. That state is kept
//!   *relative to the frame's first byte* (the position just returned by [`Parser::parse`]), which
//!   lets the caller move the partial frame to the front of its buffer, or leave it, as it likes.
//!   The validated part of a partial frame is never rescanned: a 512 MiB bulk arriving in 16 KiB
//!   reads costs one length check per read, and a line terminator search resumes where it stopped.
//! * **In-place inline decoding.** Inline commands (telnet style, `SET k "a b"`) are unescaped the
//!   way Redis's `sdssplitargs` does it. A decoded argument is never longer than its source text,
//!   so it is written back over that text and is still just a range of the buffer.
//! * **Limits before allocation.** Lengths are checked against [`Limits`] when their line is
//!   complete, lines without terminator are bounded by [`INLINE_MAX`], and a `*<n>` header reserves
//!   at most [`ARGS_PREALLOC_MAX`] argument slots, so a peer cannot make us allocate memory for
//!   bytes it has not sent.
//!
//! Error texts and the order of checks follow Redis 7 (`processMultibulkBuffer`,
//! `processInlineBuffer`, `string2ll`), so clients see the same replies. One deliberate difference:
//! Redis searches line ends with `strchr`, which stops at a NUL byte (so a NUL before the line end
//! stalls the connection until a "too big" limit); here NUL is an ordinary byte.

use memchr::memchr;

/// Limits applied while parsing (Redis defaults: max_bulk_len 512*1024*1024, max_multibulk_len i32::MAX as u64).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bulk_len: u64,
    pub max_multibulk_len: u64,
    /// The connection has not authenticated yet: Redis's tighter limits apply (at most
    /// [`UNAUTH_MAX_ARGS`] arguments and [`UNAUTH_MAX_BULK`]-byte bulk strings), so an
    /// unauthenticated client cannot make the server allocate.
    pub unauthenticated: bool,
}

/// Most arguments an unauthenticated client may send in one command (Redis: 10).
pub const UNAUTH_MAX_ARGS: u64 = 10;
/// Largest bulk string an unauthenticated client may send (Redis: 16 KiB).
pub const UNAUTH_MAX_BULK: u64 = 16384;

impl Limits {
    /// The bulk length above which the fast path defers to the checked path.
    #[inline]
    fn bulk_cap(&self) -> u64 {
        if self.unauthenticated {
            self.max_bulk_len.min(UNAUTH_MAX_BULK)
        } else {
            self.max_bulk_len
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: i32::MAX as u64,
            unauthenticated: false,
        }
    }
}

/// Longest line without terminator we wait for (Redis `PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;
/// Never reserve more argument slots than this for a `*<n>` header before the arguments arrive.
pub const ARGS_PREALLOC_MAX: usize = 1024;
/// Cap of [`Parser::needed`]: beyond this the connection grows its buffer as data arrives.
const NEEDED_MAX: usize = 1 << 20;

/// A framing error: the connection answers `-<msg>\r\n` and closes. `msg()` is the exact Redis text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    InvalidMultibulkLength,
    InvalidBulkLength,
    ExpectedDollar(u8),
    TooBigInline,
    TooBigMbulkCount,
    TooBigBulkCount,
    UnbalancedQuotes,
    UnauthenticatedMultibulkLength,
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// The error reply text, e.g. `Protocol error: invalid multibulk length`.
    pub fn msg(&self) -> String {
        let what = match self {
            ProtocolError::InvalidMultibulkLength => "invalid multibulk length",
            ProtocolError::InvalidBulkLength => "invalid bulk length",
            ProtocolError::UnauthenticatedMultibulkLength => "unauthenticated multibulk length",
            ProtocolError::UnauthenticatedBulkLength => "unauthenticated bulk length",
            ProtocolError::ExpectedDollar(b) => {
                // Redis formats with %c and then maps CR/LF to spaces so the reply stays one line.
                // A String cannot hold a lone byte >= 0x80, so those show as the Latin-1 char.
                let c = if matches!(b, b'\r' | b'\n') {
                    ' '
                } else {
                    char::from(*b)
                };
                return format!("Protocol error: expected '$', got '{c}'");
            }
            ProtocolError::TooBigInline => "too big inline request",
            ProtocolError::TooBigMbulkCount => "too big mbulk count string",
            ProtocolError::TooBigBulkCount => "too big bulk count string",
            ProtocolError::UnbalancedQuotes => "unbalanced quotes in request",
        };
        format!("Protocol error: {what}")
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg())
    }
}

impl std::error::Error for ProtocolError {}

/// Parsed commands of one read: argument byte ranges are ABSOLUTE offsets into the buffer passed to parse().
#[derive(Default, Debug)]
pub struct Batch {
    pub args: Vec<(usize, usize)>,
    /// `(index of the first argument in args, argc)` per command.
    pub cmds: Vec<(u32, u32)>,
}

impl Batch {
    pub fn clear(&mut self) {
        self.args.clear();
        self.cmds.clear();
    }

    /// Number of commands.
    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// The argument ranges of command `i` (the command name first).
    pub fn cmd_args(&self, i: usize) -> &[(usize, usize)] {
        let (first, argc) = self.cmds[i];
        &self.args[first as usize..first as usize + argc as usize]
    }
}

/// Where the incomplete frame stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Stage {
    /// No partial frame.
    #[default]
    Idle,
    /// An inline line without its `\n` yet.
    Inline,
    /// A `*<n>` line without its terminator yet.
    Count,
    /// Inside the arguments of a multibulk frame.
    Args,
}

/// Outcome of one frame.
enum Step {
    /// The frame ended just before this absolute offset (it may have produced no command).
    Done(usize),
    /// The frame is incomplete; its progress is saved in the parser.
    More,
}

/// Outcome of a search for the `\r` that ends a `*`/`$` line.
enum Line {
    /// The `\r` is at this offset and the byte after it is buffered too.
    Cr(usize),
    /// Not complete; resume the search at this offset.
    Wait(usize),
}

#[derive(Default, Debug)]
pub struct Parser {
    stage: Stage,
    // Every offset below is relative to the first byte of the incomplete frame.
    /// Start of the next step (multibulk).
    pos: usize,
    /// Where the search for the current line's terminator resumes.
    scan: usize,
    /// Arguments still expected, including the one in progress.
    remaining: u64,
    /// Payload length of the argument whose `$<len>` line is already consumed.
    bulk: Option<u64>,
    /// Frame bytes that were buffered at the last call (for `needed`).
    seen: usize,
    /// Completed arguments of the partial frame.
    args: Vec<(usize, usize)>,
    /// An error found after complete commands, reported by the next call.
    pending: Option<ProtocolError>,
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses every complete command in buf[start..], appending to `batch` (args with absolute offsets in `buf`).
    /// Returns the offset just past the last complete command (== start if none). Bytes from there
    /// on are an incomplete frame: the caller may move them to the front of its buffer (or leave
    /// them) and call again with more bytes appended, passing the new position of that frame's
    /// first byte as `start`.
    ///
    /// If a frame is malformed but complete commands precede it in this call, those are returned
    /// as `Ok` (the bad bytes stay unconsumed) and the next call returns the error, so the server
    /// answers the good commands first, as Redis does. Inline arguments are unescaped in place,
    /// which is why `buf` is mutable.
    pub fn parse(
        &mut self,
        buf: &mut [u8],
        start: usize,
        limits: &Limits,
        batch: &mut Batch,
    ) -> Result<usize, ProtocolError> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        if self.stage != Stage::Idle && buf.len().saturating_sub(start) < self.seen {
            // The caller lost bytes of the partial frame; indexing by the saved offsets could go
            // out of bounds, so start over rather than panic.
            debug_assert!(false, "partial frame shrank between parse calls");
            self.reset();
        }
        let cmds_before = batch.cmds.len();
        let mut pos = start;
        while pos < buf.len() {
            let args_before = batch.args.len();
            let is_multibulk = match self.stage {
                Stage::Idle => buf[pos] == b'*',
                Stage::Inline => false,
                Stage::Count | Stage::Args => true,
            };
            let step = if is_multibulk {
                self.multibulk(buf, pos, limits, batch)
            } else {
                self.inline(buf, pos, batch)
            };
            match step {
                Ok(Step::Done(end)) => pos = end,
                Ok(Step::More) => break,
                Err(e) => {
                    batch.args.truncate(args_before);
                    self.reset();
                    if batch.cmds.len() > cmds_before {
                        self.pending = Some(e);
                        break;
                    }
                    return Err(e);
                }
            }
        }
        Ok(pos)
    }

    /// Minimum number of additional bytes the current incomplete frame needs (0 if unknown/none),
    /// capped at 1 MiB; the connection uses it to size its buffer for big bulk strings (never
    /// beyond what the frame has already received, so a claim alone costs nothing).
    pub fn needed(&self) -> usize {
        match (self.stage, self.bulk) {
            (Stage::Args, Some(len)) => {
                let end = (self.pos as u64).saturating_add(len).saturating_add(2);
                end.saturating_sub(self.seen as u64).min(NEEDED_MAX as u64) as usize
            }
            _ => 0,
        }
    }

    /// Forget any partial frame (used after an error / reset).
    pub fn reset(&mut self) {
        self.stage = Stage::Idle;
        self.pos = 0;
        self.scan = 0;
        self.remaining = 0;
        self.bulk = None;
        self.seen = 0;
        self.args.clear();
        self.pending = None;
    }

    /// Parses (or resumes) the multibulk frame starting at `fs`.
    #[inline]
    fn multibulk(
        &mut self,
        buf: &[u8],
        fs: usize,
        limits: &Limits,
        batch: &mut Batch,
    ) -> Result<Step, ProtocolError> {
        let end = buf.len();
        let first = batch.args.len();
        let (mut pos, mut remaining, mut bulk, mut scan);
        if self.stage == Stage::Args {
            pos = fs + self.pos;
            scan = fs + self.scan;
            remaining = self.remaining;
            bulk = self.bulk;
            batch
                .args
                .extend(self.args.drain(..).map(|(a, b)| (a + fs, b + fs)));
        } else {
            let (n, next) = match quick_len(buf, fs + 1) {
                Some((n, cr)) => (n as i64, cr + 2),
                None => {
                    let from = if self.stage == Stage::Count {
                        fs + self.scan
                    } else {
                        fs
                    };
                    match line_end(buf, fs, from, ProtocolError::TooBigMbulkCount)? {
                        Line::Wait(resume) => {
                            self.stage = Stage::Count;
                            self.scan = resume - fs;
                            self.seen = end - fs;
                            return Ok(Step::More);
                        }
                        Line::Cr(cr) => (
                            string2ll(&buf[fs + 1..cr])
                                .ok_or(ProtocolError::InvalidMultibulkLength)?,
                            cr + 2,
                        ),
                    }
                }
            };
            if n > 0 && n as u64 > limits.max_multibulk_len {
                return Err(ProtocolError::InvalidMultibulkLength);
            }
            if limits.unauthenticated && n > UNAUTH_MAX_ARGS as i64 {
                return Err(ProtocolError::UnauthenticatedMultibulkLength);
            }
            if n <= 0 {
                // `*0` and `*-1` are complete frames that carry no command (Redis ignores them).
                self.stage = Stage::Idle;
                return Ok(Step::Done(next));
            }
            remaining = n as u64;
            bulk = None;
            pos = next;
            scan = next;
            batch
                .args
                .reserve((n as u64).min(ARGS_PREALLOC_MAX as u64) as usize);
        }

        while remaining > 0 {
            // Fast path: a whole argument with a short canonical length is buffered.
            if bulk.is_none() && buf.get(pos) == Some(&b'$') {
                if let Some((len, cr)) = quick_len(buf, pos + 1) {
                    let data = cr + 2;
                    if len <= limits.bulk_cap() && ((end - data) as u64) >= len + 2 {
                        let stop = data + len as usize;
                        batch.args.push((data, stop));
                        pos = stop + 2;
                        remaining -= 1;
                        continue;
                    }
                }
            }
            let len = match bulk {
                Some(len) => len,
                None => {
                    let quick = match buf.get(pos) {
                        Some(b'$') => {
                            quick_len(buf, pos + 1).filter(|&(v, _)| v <= limits.max_bulk_len)
                        }
                        _ => None,
                    };
                    let (len, next) = match quick {
                        Some((len, cr)) => (len, cr + 2),
                        None => {
                            match line_end(buf, pos, scan.max(pos), ProtocolError::TooBigBulkCount)?
                            {
                                Line::Wait(resume) => {
                                    scan = resume;
                                    break;
                                }
                                Line::Cr(cr) => {
                                    if buf[pos] != b'$' {
                                        return Err(ProtocolError::ExpectedDollar(buf[pos]));
                                    }
                                    let len = string2ll(&buf[pos + 1..cr])
                                        .filter(|&v| v >= 0 && v as u64 <= limits.max_bulk_len)
                                        .ok_or(ProtocolError::InvalidBulkLength)?;
                                    (len as u64, cr + 2)
                                }
                            }
                        }
                    };
                    if limits.unauthenticated && len > UNAUTH_MAX_BULK {
                        return Err(ProtocolError::UnauthenticatedBulkLength);
                    }
                    pos = next;
                    scan = next;
                    bulk = Some(len);
                    len
                }
            };
            // The two bytes after the payload are skipped unchecked, as Redis does.
            if ((end - pos) as u64) < len + 2 {
                break;
            }
            let stop = pos + len as usize;
            batch.args.push((pos, stop));
            pos = stop + 2;
            scan = pos;
            bulk = None;
            remaining -= 1;
        }

        if remaining > 0 {
            self.args.clear();
            self.args
                .extend(batch.args[first..].iter().map(|&(a, b)| (a - fs, b - fs)));
            batch.args.truncate(first);
            self.stage = Stage::Args;
            self.pos = pos - fs;
            self.scan = scan - fs;
            self.remaining = remaining;
            self.bulk = bulk;
            self.seen = end - fs;
            return Ok(Step::More);
        }
        self.stage = Stage::Idle;
        batch
            .cmds
            .push((first as u32, (batch.args.len() - first) as u32));
        Ok(Step::Done(pos))
    }

    /// Parses (or resumes) the inline line starting at `fs`.
    fn inline(
        &mut self,
        buf: &mut [u8],
        fs: usize,
        batch: &mut Batch,
    ) -> Result<Step, ProtocolError> {
        let from = if self.stage == Stage::Inline {
            fs + self.scan
        } else {
            fs
        };
        let Some(i) = memchr(b'\n', &buf[from..]) else {
            // Like Redis, the limit applies only while no '\n' is buffered: a longer line that
            // arrives complete in one read is accepted.
            if buf.len() - fs > INLINE_MAX {
                return Err(ProtocolError::TooBigInline);
            }
            self.stage = Stage::Inline;
            self.scan = buf.len() - fs;
            self.seen = self.scan;
            return Ok(Step::More);
        };
        let nl = from + i;
        self.stage = Stage::Idle;
        let line_end = if nl > fs && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        split_inline(buf, fs, line_end, batch)?;
        Ok(Step::Done(nl + 1))
    }
}

/// Fast path for a length line: `<digits>\r` at `buf[i..]` plus one more buffered byte, in the
/// canonical form `string2ll` accepts (no sign, no leading zero) and short enough not to overflow.
/// Returns the value and the offset of the `\r`; `None` sends the caller to the exact slow path.
#[inline(always)]
fn quick_len(buf: &[u8], start: usize) -> Option<(u64, usize)> {
    // Nearly all real lengths have one or two digits; test those without a loop.
    if let Some(&[a, b, c]) = buf.get(start..start + 3) {
        let (da, db) = (a.wrapping_sub(b'0'), b.wrapping_sub(b'0'));
        if da <= 9 && b == b'\r' {
            return Some((da as u64, start + 1));
        }
        if (1..=9).contains(&da) && db <= 9 && c == b'\r' && start + 3 < buf.len() {
            return Some((da as u64 * 10 + db as u64, start + 2));
        }
    }
    let mut i = start;
    let mut v = 0u64;
    while let Some(&c) = buf.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v * 10 + d as u64;
        i += 1;
        if i - start > 18 {
            return None;
        }
    }
    let canonical = i > start && (buf[start] != b'0' || i == start + 1);
    (canonical && i + 1 < buf.len() && buf[i] == b'\r').then_some((v, i))
}

/// Finds the `\r` ending the `*`/`$` line that starts at `line_start`, searching from `from`.
/// Like Redis it needs one byte after the `\r` (skipped unchecked) and gives up with `too_big`
/// only while no `\r` is buffered at all.
#[inline]
fn line_end(
    buf: &[u8],
    line_start: usize,
    from: usize,
    too_big: ProtocolError,
) -> Result<Line, ProtocolError> {
    match memchr(b'\r', &buf[from..]) {
        Some(i) if from + i + 1 < buf.len() => Ok(Line::Cr(from + i)),
        Some(i) => Ok(Line::Wait(from + i)),
        None if buf.len() - line_start > INLINE_MAX => Err(too_big),
        None => Ok(Line::Wait(buf.len())),
    }
}

use crate::num::string2ll;

/// C `isspace` in the "C" locale.
#[inline]
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Splits `buf[r..end]` like Redis `sdssplitargs`, writing each decoded argument over its own
/// source text (the write cursor never passes the read cursor) and appending one command if
/// there is any argument. On error nothing is appended to `batch.cmds`; the caller drops the args.
fn split_inline(
    buf: &mut [u8],
    mut r: usize,
    end: usize,
    batch: &mut Batch,
) -> Result<(), ProtocolError> {
    let first = batch.args.len();
    let hex_at = |buf: &[u8], i: usize| i < end && buf[i].is_ascii_hexdigit();
    loop {
        while r < end && is_space(buf[r]) {
            r += 1;
        }
        if r == end {
            break;
        }
        let tok = r;
        let mut w = r;
        // 0 outside quotes, else the opening quote character.
        let mut quote = 0u8;
        while r < end || quote != 0 {
            if r == end {
                return Err(ProtocolError::UnbalancedQuotes);
            }
            let c = buf[r];
            r += 1;
            let out = match (quote, c) {
                (b'"', b'\\')
                    if r < end && buf[r] == b'x' && hex_at(buf, r + 1) && hex_at(buf, r + 2) =>
                {
                    r += 3;
                    hex_val(buf[r - 2]) * 16 + hex_val(buf[r - 1])
                }
                (b'"', b'\\') if r < end => {
                    r += 1;
                    match buf[r - 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    }
                }
                (b'\'', b'\\') if r < end && buf[r] == b'\'' => {
                    r += 1;
                    b'\''
                }
                (b'"', b'"') | (b'\'', b'\'') => {
                    // A closing quote must end the argument.
                    if r < end && !is_space(buf[r]) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    break;
                }
                (0, b' ' | b'\n' | b'\r' | b'\t') => break,
                (0, b'"' | b'\'') => {
                    quote = c;
                    continue;
                }
                _ => c,
            };
            buf[w] = out;
            w += 1;
        }
        batch.args.push((tok, w));
    }
    if batch.args.len() > first {
        batch
            .cmds
            .push((first as u32, (batch.args.len() - first) as u32));
    }
    Ok(())
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
