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
//! connection always come back in order.
//!
//! A framing error answers `-ERR Protocol error: ...` after the replies of the commands before
//! it, and closes this connection only.

use crate::cmd::{server::now_ms, Args};
use crate::config::RUNTIME;
use crate::resp::parse::{Batch, Limits, Parser};
use crate::resp::reply;
use crate::shard::mesh::Ctx;
use crate::shard::pipeline::{Flow, Pipeline};
use crate::shard::ClientInfo;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Initial size of a connection's read buffer; it grows for big frames and shrinks back when idle.
const READ_BUF_INITIAL: usize = 16 * 1024;
/// Read at least this much free space per read call.
const READ_MIN_FREE: usize = 4 * 1024;
/// Output above this size is written before the next command batch is parsed.
const OUT_HIGH_WATER: usize = 256 * 1024;
/// Client ids are unique across shards.
static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

// The fd of each live connection on this core, so shutdown can wake the ones parked in a read.
thread_local! {
    static CONN_FDS: std::cell::RefCell<hashbrown::HashMap<u64, i32>> = std::cell::RefCell::new(hashbrown::HashMap::new());
}

/// Shuts down the read side of every connection on this core: a parked read returns 0, the
/// connection finishes and closes. Replies still being written are not cut.
pub fn shutdown_reads(_ctx: &Ctx) {
    CONN_FDS.with(|fds| {
        for &fd in fds.borrow().values() {
            // SAFETY: fd belongs to a live connection of this core (removed before it closes).
            unsafe { libc::shutdown(fd, libc::SHUT_RD) };
        }
    });
}

struct Registration<'a> {
    ctx: &'a Ctx,
    id: u64,
    waiter: u32,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        CONN_FDS.with(|fds| fds.borrow_mut().remove(&self.id));
        self.ctx.shard.borrow_mut().clients.remove(&self.id);
        self.ctx.free_waiter(self.waiter);
        self.ctx
            .live_connections
            .set(self.ctx.live_connections.get() - 1);
    }
}

pub async fn serve(ctx: Rc<Ctx>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let id = NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed);
    let now = now_ms();
    let client = Rc::new(std::cell::RefCell::new(ClientInfo {
        id,
        addr: stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        laddr: stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        created_ms: now,
        last_ms: now,
        ..ClientInfo::default()
    }));
    {
        let mut sh = ctx.shard.borrow_mut();
        sh.stats.connections_received += 1;
        sh.clients.insert(id, client.clone());
    }
    ctx.live_connections.set(ctx.live_connections.get() + 1);
    CONN_FDS.with(|fds| fds.borrow_mut().insert(id, stream.as_raw_fd()));
    let waiter = ctx.new_waiter();
    let _reg = Registration {
        ctx: &ctx,
        id,
        waiter,
    };
    if ctx.stopping.get() {
        return;
    }

    let mut pipe = Pipeline::new(&ctx, waiter);
    let mut parser = Parser::new();
    let mut batch = Batch::default();
    let mut buf = vec![0u8; READ_BUF_INITIAL];
    let mut out: Vec<u8> = Vec::with_capacity(READ_BUF_INITIAL);
    let (mut start, mut filled) = (0usize, 0usize);
    let mut closing = false;

    while !closing {
        make_room(&mut buf, &mut start, &mut filled, parser.needed());
        let n = match stream.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        filled += n;
        let limits = Limits {
            max_bulk_len: RUNTIME.proto_max_bulk_len.load(Ordering::Relaxed),
            ..Limits::default()
        };
        // Parse and run until no complete command is left; the parser reports an error only once
        // the commands before it have been returned and run.
        loop {
            batch.clear();
            let parsed = parser.parse(&mut buf[..filled], start, &limits, &mut batch);
            let end = match parsed {
                Ok(end) => end,
                Err(e) => {
                    reply::error(&mut out, format!("ERR {}", e.msg()).as_bytes());
                    ctx.shard.borrow_mut().stats.count_error("ERR");
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
                let ranges = batch.cmd_args(i);
                match pipe.command(&ctx, &client, &buf, ranges, now, &mut out) {
                    Flow::Continue => {}
                    Flow::Close => {
                        closing = true;
                        break;
                    }
                    Flow::Barrier => {
                        pipe.flush(&ctx, &mut out).await;
                        pipe.barrier(&ctx, &Args::new(&buf, ranges), now, &mut out)
                            .await;
                    }
                }
            }
            pipe.flush(&ctx, &mut out).await;
            start = end;
            if closing {
                break;
            }
            if out.len() > OUT_HIGH_WATER && stream.write_all(&out).await.is_err() {
                return;
            }
            if out.len() > OUT_HIGH_WATER {
                out.clear();
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                break;
            }
            out.clear();
            if out.capacity() > 4 * OUT_HIGH_WATER {
                out = Vec::with_capacity(READ_BUF_INITIAL);
            }
        }
        if ctx.stopping.get() {
            break;
        }
    }
    let _ = stream.close().await;
}

/// Makes sure there is room to read into: reset when everything was consumed, move a partial
/// frame to the front when the buffer is full, grow for a big frame, shrink when idle.
fn make_room(buf: &mut Vec<u8>, start: &mut usize, filled: &mut usize, needed: usize) {
    if *start == *filled {
        *start = 0;
        *filled = 0;
        if buf.len() > 4 * READ_BUF_INITIAL {
            buf.truncate(READ_BUF_INITIAL);
            buf.shrink_to_fit();
        }
    }
    if buf.len() - *filled >= READ_MIN_FREE.max(needed.min(buf.len())) {
        return;
    }
    if *start > 0 {
        buf.copy_within(*start..*filled, 0);
        *filled -= *start;
        *start = 0;
    }
    let want = *filled + READ_MIN_FREE.max(needed);
    if buf.len() < want {
        buf.resize(want.max(buf.len() * 2), 0);
    }
}
