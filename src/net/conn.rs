//! The connection loop: read, parse every complete command, run or route each, flush the hops,
//! write every reply with one write.
//!
//! ```text
//!  read buffer: [ consumed | complete commands ... | partial frame ]  (args are ranges of it)
//!                          ^start                   ^end of parse    ^filled
//! ```
//! Arguments are parsed as ranges of the read buffer and never copied unless they travel to
//! another core. The partial frame at the end is moved to the front only when the buffer is full
//! and the parser's saved state is relative to the frame, so nothing is re-parsed. A new batch
//! is read only after the replies of the current one are written, so the replies of a pipelined
//! connection always come back in order, and a client that never reads stalls only itself: its
//! connection holds at most one batch of output.
//!
//! Before each chunk of [`prefetch::CHUNK`] commands runs, the chunk is planned: every command
//! is looked up once, its key routed and (when this core owns it) hashed once, and the keys this
//! core owns are prefetched (see `shard::pipeline::prefetch`), so the cache misses of a
//! pipelined batch overlap instead of queueing one behind the other.
//!
//! A framing error answers `-ERR Protocol error: ...` after the replies of the commands before
//! it, and closes this connection only.
//!
//! A subscribed connection waits on its socket and its pending messages together (see
//! `cmd::pubsub`): messages that arrived while it was idle are written at once; messages that
//! arrived before a batch was read are written before the batch's replies, the rest after them.
//!
//! Admission, before the first read: over `maxclients` a client gets
//! `-ERR max number of clients reached`; with protected mode on and no password, a client from a
//! non-loopback address gets Redis's `-DENIED` text. Until a connection authenticates (when a
//! password is set) the parser applies Redis's unauthenticated limits and the query buffer is
//! capped at [`UNAUTH_QUERY_BUFFER_LIMIT`].

use crate::clock::now_ms;
use crate::config::RUNTIME;
use crate::error::CmdError;
use crate::resp::parse::{Batch, Limits, Parser};
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::shard::mesh::Ctx;
use crate::shard::pipeline::{prefetch, Flow, Pipeline};
use crate::shard::ClientInfo;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Initial size of a connection's read buffer; it grows for big frames and shrinks back when idle.
const READ_BUF_INITIAL: usize = 16 * 1024;
/// Read at least this much free space per read call.
const READ_MIN_FREE: usize = 4 * 1024;
/// Output above this size is written before the next command batch is parsed.
const OUT_HIGH_WATER: usize = 256 * 1024;
/// Output buffer capacity a connection keeps between batches; beyond it the buffer is dropped
/// after writing, so idle connections hold little memory.
const OUT_KEEP_CAPACITY: usize = 64 * 1024;
/// Most commands waiting on other shards before the connection flushes (bounds a hop's size
/// and the replies it can pin).
const MAX_PENDING_OPS: usize = 256;
/// Query buffer cap before a connection authenticates (its frames are also capped by the parser).
pub const UNAUTH_QUERY_BUFFER_LIMIT: u64 = 1 << 20;
/// Client ids are unique across shards.
static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);
/// Clients connected over all shards, for `maxclients` (touched once per connection).
static CONNECTED: AtomicU64 = AtomicU64::new(0);

/// Shuts down the read side of every connection on this core: a parked read returns 0, the
/// connection finishes its batch and closes. Replies still being written are not cut.
pub fn shutdown_reads(ctx: &Ctx) {
    for c in ctx.shard.borrow().clients.values() {
        if let Ok(c) = c.try_borrow() {
            // SAFETY: fd belongs to a live connection of this core (removed before it closes).
            unsafe { libc::shutdown(c.fd, libc::SHUT_RD) };
        }
    }
}

/// Whether protected mode refuses a client from `peer`: no password set and not loopback.
pub fn protected_mode_denies(
    peer: Option<SocketAddr>,
    protected: bool,
    password_set: bool,
) -> bool {
    let loopback = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    };
    protected && !password_set && !peer.is_some_and(|p| loopback(p.ip()))
}

/// Undoes a connection's registration when it ends, however it ends.
struct Registration<'a> {
    ctx: &'a Ctx,
    id: u64,
    waiter: u32,
    /// Bytes of read and output buffer this connection reported to its shard's accounting.
    footprint: std::cell::Cell<usize>,
}

impl Registration<'_> {
    /// Reports the connection's current buffer capacity to the shard (counted in used_memory).
    fn account(&self, bytes: usize) {
        let old = self.footprint.replace(bytes);
        if old != bytes {
            self.ctx
                .shard
                .borrow_mut()
                .store
                .add_client_bytes(bytes as isize - old as isize);
        }
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        {
            let mut sh = self.ctx.shard.borrow_mut();
            sh.clients.remove(&self.id);
            sh.store.add_client_bytes(-(self.footprint.get() as isize));
        }
        self.ctx.free_waiter(self.waiter);
        let live = self.ctx.live_connections.get() - 1;
        self.ctx.live_connections.set(live);
        if live == 0 && self.ctx.stopping.get() {
            self.ctx.all_closed.signal(1);
        }
        CONNECTED.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Answers a refused client and closes it.
async fn refuse(ctx: &Ctx, mut stream: TcpStream, why: &CmdError) {
    ctx.shard.borrow_mut().stats.rejected_connections += 1;
    let mut reply = Vec::new();
    crate::resp::reply::error(&mut reply, why.to_string().as_bytes());
    let _ = stream.write_all(&reply).await;
    let _ = stream.close().await;
}

fn set_keepalive(stream: &TcpStream) {
    let secs = RUNTIME.tcp_keepalive_secs.load(Ordering::Relaxed);
    if secs > 0 {
        // SAFETY: the fd is the live stream's; SockRef only borrows it.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(stream.as_raw_fd()) };
        let ka = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(secs))
            .with_interval(Duration::from_secs(secs / 3 + 1));
        let _ = socket2::SockRef::from(&fd).set_tcp_keepalive(&ka);
    }
}

pub async fn serve(ctx: Rc<Ctx>, mut stream: TcpStream) {
    let peer = stream.peer_addr().ok();
    if CONNECTED.fetch_add(1, Ordering::Relaxed) >= RUNTIME.maxclients.load(Ordering::Relaxed) {
        CONNECTED.fetch_sub(1, Ordering::Relaxed);
        return refuse(&ctx, stream, &CmdError::MaxClients).await;
    }
    if protected_mode_denies(
        peer,
        RUNTIME.protected_mode.load(Ordering::Relaxed),
        RUNTIME.password_set(),
    ) {
        CONNECTED.fetch_sub(1, Ordering::Relaxed);
        return refuse(&ctx, stream, &CmdError::Denied).await;
    }
    let _ = stream.set_nodelay(true);
    set_keepalive(&stream);
    let timeout = RUNTIME.timeout_secs.load(Ordering::Relaxed);
    if timeout > 0 {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(timeout)));
    }
    let id = NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed);
    let now = now_ms();
    let client = Rc::new(RefCell::new(ClientInfo {
        id,
        addr: peer.map(|a| a.to_string()).unwrap_or_default(),
        laddr: stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        created_ms: now,
        last_ms: now,
        authenticated: !RUNTIME.password_set(),
        fd: stream.as_raw_fd(),
        ..ClientInfo::default()
    }));
    {
        let mut sh = ctx.shard.borrow_mut();
        sh.stats.connections_received += 1;
        sh.clients.insert(id, client.clone());
    }
    ctx.live_connections.set(ctx.live_connections.get() + 1);
    let waiter = ctx.new_waiter();
    let reg = Registration {
        ctx: &ctx,
        id,
        waiter,
        footprint: std::cell::Cell::new(0),
    };
    if ctx.stopping.get() {
        return;
    }

    let mut pipe = Pipeline::new(&ctx, waiter);
    let mut parser = Parser::new();
    let mut batch = Batch::default();
    let mut plans = [prefetch::Plan::default(); prefetch::CHUNK];
    let mut buf = vec![0u8; READ_BUF_INITIAL];
    let mut out = Out::with_capacity(READ_BUF_INITIAL, false);
    let (mut start, mut filled) = (0usize, 0usize);
    let mut closing = false;
    // The read timeout is off while the connection is subscribed.
    let mut untimed = false;

    'conn: while !closing {
        let authenticated = client.borrow().authenticated;
        let buffer_limit = if authenticated {
            RUNTIME.query_buffer_limit.load(Ordering::Relaxed)
        } else {
            UNAUTH_QUERY_BUFFER_LIMIT
        };
        if !make_room(
            &mut buf,
            &mut start,
            &mut filled,
            parser.needed(),
            buffer_limit,
        ) {
            // Like Redis: a client past its query buffer limit is closed without a reply.
            eprintln!(
                "corekv: closing client {id}: query buffer limit ({buffer_limit} bytes) reached"
            );
            break;
        }
        let sub = pipe.subscriber();
        let pending = sub.as_ref().map_or(0, |s| s.pending_len());
        reg.account(buf.capacity() + out.capacity() + pipe.queued_bytes() + pending);
        let read = match &sub {
            None => stream.read(&mut buf[filled..]).await,
            Some(sub) => {
                // Subscribed: wait on the socket and the messages together (no idle timeout
                // for a subscriber, as in Redis).
                if !untimed {
                    let _ = stream.set_read_timeout(None);
                    untimed = true;
                }
                let woke = futures_lite::future::or(
                    async { Wake::Read(stream.read(&mut buf[filled..]).await) },
                    async {
                        sub.ready().await;
                        Wake::Push
                    },
                )
                .await;
                match woke {
                    Wake::Read(r) => r,
                    Wake::Push => {
                        if sub.closed() {
                            break;
                        }
                        sub.drain_into(&mut out);
                        if !write_out(&ctx, &mut out, &mut stream).await {
                            break;
                        }
                        sub.written();
                        continue;
                    }
                }
            }
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        filled += n;
        // Messages that arrived before this batch go before its replies.
        if let Some(sub) = &sub {
            sub.drain_into(&mut out);
        }
        // Parse and run until no complete command is left; the parser reports an error only once
        // the commands before it have been returned and run.
        loop {
            let authenticated = client.borrow().authenticated;
            let limits = Limits {
                max_bulk_len: RUNTIME.proto_max_bulk_len.load(Ordering::Relaxed),
                unauthenticated: !authenticated,
                ..Limits::default()
            };
            batch.clear();
            let end = match parser.parse(&mut buf[..filled], start, &limits, &mut batch) {
                Ok(end) => end,
                Err(e) => {
                    reply::error(&mut out, format!("ERR {}", e.msg()).as_bytes());
                    let mut sh = ctx.shard.borrow_mut();
                    sh.stats.count_error("ERR");
                    sh.stats.protocol_errors += 1;
                    closing = true;
                    break;
                }
            };
            if batch.is_empty() {
                start = end;
                break;
            }
            let now = now_ms();
            client.borrow_mut().last_ms = now;
            for i in 0..batch.len() {
                if i % prefetch::CHUNK == 0 {
                    let chunk = i..batch.len().min(i + prefetch::CHUNK);
                    prefetch::plan(&ctx, &buf, &batch, chunk, &mut plans);
                }
                let ranges = batch.cmd_args(i);
                let plan = plans[i % prefetch::CHUNK];
                // A cross-shard transaction holds this shard: this core's keys wait their turn.
                let turn = if ctx.lock.held() {
                    Some(crate::shard::lock::turn(&ctx, pipe.txn()).await)
                } else {
                    None
                };
                let mut flow = pipe.command(&ctx, &client, &buf, ranges, plan, now, &mut out);
                drop(turn);
                if flow == Flow::EndGroup {
                    // The held group before this command runs first; then plan it again.
                    pipe.finish(flow, &ctx, &client, &buf, ranges, now, &mut out)
                        .await;
                    flow = pipe.command(&ctx, &client, &buf, ranges, plan, now, &mut out);
                }
                match flow {
                    Flow::Continue => {}
                    Flow::Script => pipe.drive_script(&ctx, &mut out).await,
                    Flow::Block => {
                        // Everything before it is answered first; then the client may wait.
                        if !flush_all(&mut pipe, &ctx, &client, now, &mut out, &mut stream).await
                            || !write_out(&ctx, &mut out, &mut stream).await
                        {
                            break 'conn;
                        }
                        let args = crate::cmd::Args::new(&buf, ranges);
                        let closed = async {
                            let mut b = [0u8; 1];
                            match stream.peek(&mut b).await {
                                Ok(0) | Err(_) => {}
                                // More commands pipelined behind it: they wait their turn.
                                Ok(_) => std::future::pending::<()>().await,
                            }
                        };
                        pipe.block(&ctx, &args, now, &mut out, closed).await;
                    }
                    Flow::Close => {
                        closing = true;
                        break;
                    }
                    // A barrier, EXEC or a command holding several shards: it runs alone,
                    // after everything before it.
                    flow => {
                        if !flush_all(&mut pipe, &ctx, &client, now, &mut out, &mut stream).await {
                            break 'conn;
                        }
                        pipe.finish(flow, &ctx, &client, &buf, ranges, now, &mut out)
                            .await;
                    }
                }
                // Bound the memory one batch can pin (a client that pipelines thousands of big
                // GETs and never reads): past the high-water mark, finish what is pending and
                // write it before running more. The write waits for the client to read.
                if out.len() + pipe.pending_bytes() > OUT_HIGH_WATER
                    || pipe.pending_ops() >= MAX_PENDING_OPS
                {
                    if !flush_all(&mut pipe, &ctx, &client, now, &mut out, &mut stream).await
                        || !write_out(&ctx, &mut out, &mut stream).await
                    {
                        break 'conn;
                    }
                }
            }
            if !flush_all(&mut pipe, &ctx, &client, now, &mut out, &mut stream).await {
                break 'conn;
            }
            start = end;
            if closing {
                break;
            }
            if !authenticated && client.borrow().authenticated {
                // Frames after AUTH were held to the unauthenticated limits; parse them again.
                parser.reset();
            }
            if out.len() > OUT_HIGH_WATER && !write_out(&ctx, &mut out, &mut stream).await {
                break 'conn;
            }
        }
        if let Some(sub) = pipe.subscriber() {
            if sub.closed() {
                break;
            }
            sub.drain_into(&mut out);
        }
        if !out.is_empty() {
            if !write_out(&ctx, &mut out, &mut stream).await {
                break;
            }
            if let Some(sub) = pipe.subscriber() {
                sub.written();
            }
        }
        if untimed && pipe.subscriber().is_none() {
            untimed = false;
            if timeout > 0 {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(timeout)));
            }
        }
        if ctx.stopping.get() || client.borrow().killed {
            break;
        }
    }
    pipe.close_subscriber(&mut ctx.shard.borrow_mut());
    pipe.close_tracking(&ctx, now_ms()).await;
    // A transaction in progress is dropped, and watches on any shard are forgotten.
    pipe.close(&ctx, id).await;
    let _ = stream.close().await;
}

/// What woke a subscribed connection.
enum Wake {
    Read(std::io::Result<usize>),
    Push,
}

/// Flushes the pipeline completely; whenever a hop stopped at its reply budget, writes what is
/// ready to the client first (waiting until it reads), so big replies never pile up in memory.
async fn flush_all(
    pipe: &mut Pipeline,
    ctx: &Ctx,
    client: &RefCell<ClientInfo>,
    now: u64,
    out: &mut Out,
    stream: &mut TcpStream,
) -> bool {
    pipe.run_group(ctx, client, now, out).await;
    while !pipe.flush(ctx, out).await {
        if !write_out(ctx, out, stream).await {
            return false;
        }
        // Every round trip makes progress (see `Pipeline::flush`); still, a connection with a
        // long run of budget-limited hops must not keep other tasks on this core waiting.
        glommio::yield_if_needed().await;
    }
    true
}

/// Writes `out` to the client and clears it; with `appendfsync always`, only after this shard's
/// log covers the writes whose replies are in it (other shards wait before replying to a hop).
async fn write_out(ctx: &Ctx, out: &mut Out, stream: &mut TcpStream) -> bool {
    ctx.wait_durable().await;
    if stream.write_all(out).await.is_err() {
        return false;
    }
    out.clear();
    // One big reply must not pin its buffer for the rest of the connection's life.
    if out.capacity() > OUT_KEEP_CAPACITY {
        out.replace_buf(Vec::with_capacity(READ_BUF_INITIAL));
    }
    true
}

/// Makes sure there is room to read into: reset when everything was consumed, move a partial
/// frame to the front when the buffer is full, grow for a big frame, shrink when idle. Returns
/// false when the buffer would exceed `limit`.
fn make_room(
    buf: &mut Vec<u8>,
    start: &mut usize,
    filled: &mut usize,
    needed: usize,
    limit: u64,
) -> bool {
    if *start == *filled {
        *start = 0;
        *filled = 0;
        if buf.len() > 2 * READ_BUF_INITIAL {
            buf.truncate(READ_BUF_INITIAL);
            buf.shrink_to_fit();
        }
    }
    // Room for the frame's claimed remainder, but never more than the frame has already
    // received: a claimed length costs memory only as its bytes arrive (a hostile client that
    // claims a 512 MB bulk and sends three bytes keeps the initial buffer), and a real big
    // value still gets a buffer that at least doubles per read.
    let frame = *filled - *start;
    let reserve = READ_MIN_FREE.max(needed.min(frame));
    if buf.len() - *filled >= reserve {
        return true;
    }
    if *start > 0 {
        buf.copy_within(*start..*filled, 0);
        *filled -= *start;
        *start = 0;
    }
    let want = *filled + reserve;
    if buf.len() < want {
        let grown = want
            .max(buf.len() * 2)
            .min(limit.max(READ_BUF_INITIAL as u64) as usize);
        if grown < want {
            return false;
        }
        buf.resize(grown, 0);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_mode_rules() {
        let ip = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
        assert!(!protected_mode_denies(ip("127.0.0.1:5000"), true, false));
        assert!(!protected_mode_denies(ip("127.5.6.7:5000"), true, false));
        assert!(!protected_mode_denies(ip("[::1]:5000"), true, false));
        assert!(!protected_mode_denies(
            ip("[::ffff:127.0.0.1]:5000"),
            true,
            false
        ));
        assert!(protected_mode_denies(ip("10.1.2.3:5000"), true, false));
        assert!(protected_mode_denies(ip("[2001:db8::1]:5000"), true, false));
        assert!(protected_mode_denies(None, true, false));
        // A password or protected-mode off lets everyone in.
        assert!(!protected_mode_denies(ip("10.1.2.3:5000"), true, true));
        assert!(!protected_mode_denies(ip("10.1.2.3:5000"), false, false));
    }

    #[test]
    fn query_buffer_limit_stops_growth() {
        let (mut buf, mut start, mut filled) = (vec![0u8; READ_BUF_INITIAL], 0, READ_BUF_INITIAL);
        assert!(make_room(&mut buf, &mut start, &mut filled, 0, 1 << 20));
        assert_eq!(buf.len(), 2 * READ_BUF_INITIAL);
        filled = buf.len();
        assert!(!make_room(&mut buf, &mut start, &mut filled, 0, 20_000));
    }

    #[test]
    fn claimed_lengths_grow_the_buffer_only_as_bytes_arrive() {
        const CLAIM: usize = 1 << 20;
        // A frame that claims a huge bulk but has sent 40 bytes keeps the initial buffer.
        let (mut buf, mut start, mut filled) = (vec![0u8; READ_BUF_INITIAL], 0, 40);
        assert!(make_room(&mut buf, &mut start, &mut filled, CLAIM, 1 << 30));
        assert_eq!(buf.len(), READ_BUF_INITIAL);
        // As the frame's bytes arrive the buffer grows with them, at least doubling.
        filled = READ_BUF_INITIAL - 100;
        assert!(make_room(&mut buf, &mut start, &mut filled, CLAIM, 1 << 30));
        assert!(buf.len() >= 2 * READ_BUF_INITIAL - 100);
        assert!(buf.len() <= 2 * READ_BUF_INITIAL);
    }
}
