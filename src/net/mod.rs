//! Sockets: the listeners and the connection loop (`conn`).
//!
//! Every shard binds its own SO_REUSEPORT listener on the same port, so the kernel spreads
//! connections over the cores; a connection lives and dies on the core that accepted it. Boot,
//! recovery and shutdown are the server layer's (`server`); this layer only accepts, reads,
//! writes and closes.

pub mod conn;

use crate::shard::mesh::Ctx;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::time::Duration;

/// Fails when something already listens on `addr`: a socket without SO_REUSEPORT cannot bind
/// a port in use by a listener (SO_REUSEADDR still lets it past connections in TIME_WAIT).
pub fn refuse_busy_port(addr: SocketAddr) -> Result<(), String> {
    use socket2::{Domain, Socket, Type};
    let probe =
        Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(|e| e.to_string())?;
    probe.set_reuse_address(true).map_err(|e| e.to_string())?;
    match probe.bind(&addr.into()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(format!(
            "cannot listen on {addr}: Address already in use (another server serves this port)"
        )),
        Err(e) => Err(format!("cannot bind {addr}: {e}")),
    }
}

/// A listening socket with SO_REUSEPORT (every shard binds the same port) and SO_REUSEADDR
/// (restarts do not wait for TIME_WAIT).
pub fn bind_listener(
    addr: SocketAddr,
    backlog: i32,
    listen: bool,
) -> Result<socket2::Socket, String> {
    use socket2::{Domain, Socket, Type};
    let sock =
        Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(|e| e.to_string())?;
    sock.set_reuse_address(true).map_err(|e| e.to_string())?;
    sock.set_reuse_port(true).map_err(|e| e.to_string())?;
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    sock.bind(&addr.into())
        .map_err(|e| format!("cannot bind {addr}: {e}"))?;
    if listen {
        sock.listen(backlog)
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    }
    Ok(sock)
}

/// This shard's listener on `addr`.
pub fn listen(addr: SocketAddr, backlog: i32) -> Result<glommio::net::TcpListener, String> {
    let sock = bind_listener(addr, backlog, true)?;
    // SAFETY: the fd is a freshly bound, listening socket that we own and hand over.
    Ok(unsafe { glommio::net::TcpListener::from_raw_fd(sock.into_raw_fd()) })
}

/// Accepts connections, each served by its own task on this core, until the shard is told to
/// stop (`Ctx::stop_signal`).
pub async fn accept_until_stopped(ctx: &Rc<Ctx>, listener: glommio::net::TcpListener) {
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            let _ = ctx.stop_signal.acquire(1).await;
            None
        })
        .await;
        match accepted {
            None => return,
            Some(Ok(stream)) => {
                let ctx = ctx.clone();
                glommio::spawn_local(conn::serve(ctx, stream)).detach();
            }
            Some(Err(e)) => {
                // EMFILE and friends: back off instead of spinning or dying; other shards go on.
                eprintln!("corekv: shard {}: accept failed: {e}", ctx.id);
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
