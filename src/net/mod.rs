//! Executors, listeners, readiness and shutdown.
//!
//! [`run`] starts one glommio executor per shard (pinned to its own CPU when there are enough),
//! joins them into the request and reply meshes, and binds one SO_REUSEPORT listener per shard
//! on the same port, so the kernel spreads connections over the cores. When every shard listens,
//! the main thread prints one ready line (tests and scripts wait for it, never sleep).
//!
//! Shutdown (SIGINT/SIGTERM): a signal thread raises a flag; each shard notices it within
//! [`STOP_POLL_MS`], stops accepting, shuts down the read side of its connections (each finishes
//! the batch it is running and writes its replies), waits for them, and then waits for every
//! other shard before closing its side of the meshes, so no hop is ever cut short.

pub mod conn;

use crate::config::{Config, Runtime, RUNTIME};
use crate::shard::mesh::{spawn_mesh_tasks, Ctx};
use crate::shard::{Hop, ServerInfo, Shard};
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorBuilder, Placement, PoolPlacement};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How often a shard checks the stop flag.
pub const STOP_POLL_MS: u64 = 50;
/// How long shutdown waits for connections to finish their batch.
pub const DRAIN_TIMEOUT_MS: u64 = 5000;
/// Slots in each channel of the meshes (hops, not commands).
const MESH_CHANNEL_SLOTS: usize = 1024;
/// Memory glommio registers with io_uring per executor. Sockets do not use it, and the default
/// 10 MiB per executor would exceed a typical 8 MiB memlock limit at 4 shards.
const IO_MEMORY_BYTES: usize = 1 << 20;
/// Time one active-expiry cycle may take on a shard.
const ACTIVE_EXPIRE_BUDGET_US: u128 = 1000;
/// Keys copied per step of a snapshot walk.
const SNAPSHOT_STEP: usize = 256;
/// Keys examined per step of the active-expiry cycle.
const ACTIVE_EXPIRE_STEP: usize = 64;

static STOP: AtomicBool = AtomicBool::new(false);
static DRAINED: AtomicUsize = AtomicUsize::new(0);

/// Asks a running server to stop, as SIGTERM does.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Runs the server until it is stopped. Returns an error message for start-up failures.
pub fn run(cfg: Config) -> Result<(), String> {
    cfg.validate()?;
    Runtime::init(&cfg);
    check_memlock()?;
    let shards = cfg.shard_count();
    RUNTIME.dirty.init(shards);
    let cpus = Config::available_cpus();
    let pin = !cfg.no_pin && shards <= cpus.len();

    // SO_REUSEPORT would let this process share a port another server (a second corekv of the
    // same user) already serves, and the kernel would split the clients between the two: check
    // first with a socket that cannot share, as redis-server refuses a busy port.
    if cfg.port != 0 {
        refuse_busy_port(SocketAddr::new(cfg.bind, cfg.port))?;
    }
    // Reserve the port on the main thread, so that with --port 0 every shard binds the same one.
    let reserved = bind_listener(SocketAddr::new(cfg.bind, cfg.port), cfg.tcp_backlog, false)?;
    let port = reserved
        .local_addr()
        .map_err(|e| e.to_string())?
        .as_socket()
        .map(|a| a.port())
        .unwrap_or(cfg.port);
    let addr = SocketAddr::new(cfg.bind, port);
    let info = Arc::new(ServerInfo {
        bind: cfg.bind.to_string(),
        port,
        tcp_backlog: cfg.tcp_backlog,
        started: Instant::now(),
    });

    if cfg.appendonly {
        std::fs::create_dir_all(&cfg.dir)
            .map_err(|e| format!("cannot create --dir {}: {e}", cfg.dir.display()))?;
        crate::persist::aof::check_layout(&cfg.dir, shards)?;
    }
    // Which logged transactions are whole (every shard's part is there): decided once, from
    // every shard's log, before any shard replays its own.
    let verdicts = Arc::new(if cfg.appendonly {
        let files: Vec<Vec<std::path::PathBuf>> = (0..shards)
            .map(|s| {
                let p = crate::persist::aof::file_path(&cfg.dir, s, shards);
                vec![crate::persist::aof::new_path(&p), p]
                    .into_iter()
                    .rev()
                    .collect()
            })
            .collect();
        crate::persist::txnlog::scan(&files)
    } else {
        crate::persist::txnlog::Verdicts::default()
    });
    crate::persist::snapshot::init_last_save(crate::cmd::server::now_ms() / 1000);
    signal_thread()?;
    // Builders are cloned here, on the main thread: cloning inside executors is unsound in 0.9.
    let requests: MeshBuilder<Box<Hop>, _> = MeshBuilder::full(shards, MESH_CHANNEL_SLOTS);
    let replies: MeshBuilder<Box<Hop>, _> = MeshBuilder::full(shards, MESH_CHANNEL_SLOTS);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let mut handles = Vec::with_capacity(shards);
    for i in 0..shards {
        let placement = if pin {
            Placement::Fixed(cpus[i])
        } else {
            Placement::Unbound
        };
        let pool = if pin {
            PoolPlacement::Custom(vec![glommio::CpuSet::online()
                .map_err(|e| e.to_string())?
                .filter(|l| l.cpu == cpus[i])])
        } else {
            PoolPlacement::Unbound(1)
        };
        let (requests, replies, ready, info) = (
            requests.clone(),
            replies.clone(),
            ready_tx.clone(),
            info.clone(),
        );
        let hz = cfg.hz;
        let persistence = cfg
            .appendonly
            .then(|| (cfg.dir.clone(), cfg.appendfsync, verdicts.clone()));
        let builder = LocalExecutorBuilder::new(placement)
            .name(&format!("corekv-shard-{i}"))
            .io_memory(IO_MEMORY_BYTES)
            .blocking_thread_pool_placement(pool)
            .spin_before_park(Duration::from_micros(cfg.spin_before_park));
        let handle = builder
            .spawn(move || async move {
                if let Err(e) = shard_main(
                    i,
                    shards,
                    addr,
                    info,
                    requests,
                    replies,
                    &ready,
                    hz,
                    persistence,
                )
                .await
                {
                    let _ = ready.send(Err(e));
                }
            })
            .map_err(|e| format!("cannot start shard {i}: {e}"))?;
        handles.push(handle);
    }
    drop(ready_tx);
    for _ in 0..shards {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("a shard stopped during start-up".into()),
        }
    }
    drop(reserved);
    println!(
        "corekv {} ready: listening on {addr}, {shards} shard(s), {}",
        env!("CARGO_PKG_VERSION"),
        if pin { "pinned" } else { "unpinned" }
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    for h in handles {
        let _ = h.join();
    }
    println!("corekv stopped");
    Ok(())
}

fn check_memlock() -> Result<(), String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } == 0 && lim.rlim_cur < 512 * 1024
    {
        return Err(format!(
            "RLIMIT_MEMLOCK is {} bytes; io_uring needs at least 512 KiB. Run `ulimit -l 65536` (or see tuning/README.md) and start again.",
            lim.rlim_cur
        ));
    }
    Ok(())
}

/// Fails when something already listens on `addr`: a socket without SO_REUSEPORT cannot bind
/// a port in use by a listener (SO_REUSEADDR still lets it past connections in TIME_WAIT).
fn refuse_busy_port(addr: SocketAddr) -> Result<(), String> {
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
fn bind_listener(addr: SocketAddr, backlog: i32, listen: bool) -> Result<socket2::Socket, String> {
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

fn signal_thread() -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("corekv-signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                request_stop();
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn shard_main(
    id: usize,
    shards: usize,
    addr: SocketAddr,
    info: Arc<ServerInfo>,
    requests: MeshBuilder<Box<Hop>, glommio::channels::channel_mesh::Full>,
    replies: MeshBuilder<Box<Hop>, glommio::channels::channel_mesh::Full>,
    ready: &mpsc::Sender<Result<(), String>>,
    hz: u32,
    persistence: Option<(
        std::path::PathBuf,
        crate::persist::aof::Fsync,
        Arc<crate::persist::txnlog::Verdicts>,
    )>,
) -> Result<(), String> {
    let _ = hz;
    let (req, rep) = if shards > 1 {
        let (req_tx, req_rx) = requests.join().await.map_err(|e| e.to_string())?;
        let (rep_tx, rep_rx) = replies.join().await.map_err(|e| e.to_string())?;
        (Some((req_tx, req_rx)), Some((rep_tx, rep_rx)))
    } else {
        (None, None)
    };
    // The shard id is the mesh's peer id (the order executors joined), not the loop index.
    let me = req.as_ref().map_or(0, |(tx, _)| tx.peer_id());
    let (req_tx, req_rx) = req.map_or((None, None), |(t, r)| (Some(t), Some(r)));
    let (rep_tx, rep_rx) = rep.map_or((None, None), |(t, r)| (Some(t), Some(r)));
    let _ = id;
    let mut shard = Shard::new(me, shards, info.clone());
    RUNTIME.apply_memory_limits(&mut shard.store, shards);
    let (aof, verdicts) = match persistence {
        Some((dir, fsync, verdicts)) => (
            Some((crate::persist::aof::file_path(&dir, me, shards), fsync)),
            verdicts,
        ),
        None => (None, Arc::default()),
    };
    // The snapshot is the base when the log is off, or when the log continues from it (a
    // rotation happened; after a crash mid-rotation both log files are replayed in order, which
    // is safe because every record sets a key's whole state).
    let base = match &aof {
        None => true,
        Some((p, _)) => {
            crate::persist::aof::continues_from_snapshot(p)
                || crate::persist::aof::new_path(p).exists()
        }
    };
    if base {
        let path = RUNTIME.rdb_path();
        if path.exists() {
            let started = Instant::now();
            let n = crate::persist::snapshot::load(&mut shard.store, &path, me, shards)?;
            println!(
                "corekv: shard {me}: loaded {n} keys from {} in {} ms",
                path.display(),
                started.elapsed().as_millis()
            );
        }
    }
    if let Some((path, fsync)) = &aof {
        let started = Instant::now();
        let mut n = crate::persist::aof::replay(&mut shard, path, &verdicts)?;
        let unfinished = crate::persist::aof::new_path(path);
        if unfinished.exists() {
            // A crash during a rotation: its records go on after the old log's, in one file.
            n += crate::persist::aof::replay(&mut shard, &unfinished, &verdicts)?;
            let bytes = std::fs::read(&unfinished).map_err(|e| e.to_string())?;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .map_err(|e| e.to_string())?;
            std::io::Write::write_all(&mut f, &bytes)
                .and_then(|_| f.sync_data())
                .map_err(|e| e.to_string())?;
            std::fs::remove_file(&unfinished).map_err(|e| e.to_string())?;
        }
        println!(
            "corekv: shard {me}: loaded {n} commands from {} in {} ms, {} keys",
            path.display(),
            started.elapsed().as_millis(),
            shard.store.len()
        );
        shard.aof = Some(crate::persist::aof::AofLog::new(*fsync));
        shard.store.record_evictions(true);
    }
    let ctx = Rc::new(Ctx::new(shard, req_tx, rep_tx));
    let flusher = aof.map(|(path, _)| {
        let durability = Rc::new(crate::persist::aof::Durability::default());
        let _ = ctx.durability.set(durability.clone());
        let stop = Rc::new(std::cell::Cell::new(false));
        let task = glommio::spawn_local(crate::persist::aof::run_flusher(
            ctx.clone(),
            path,
            durability,
            stop.clone(),
        ))
        .detach();
        (task, stop)
    });
    if let (Some(rq), Some(rp)) = (req_rx, rep_rx) {
        spawn_mesh_tasks(&ctx, rq, rp);
    }
    let sock = bind_listener(addr, info.tcp_backlog, true)?;
    // SAFETY: the fd is a freshly bound, listening socket that we own and hand over.
    let listener = unsafe { glommio::net::TcpListener::from_raw_fd(sock.into_raw_fd()) };
    let _ = ready.send(Ok(()));

    spawn_active_expiry(&ctx);
    spawn_stop_watch(&ctx);

    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            let _ = ctx.stop_signal.acquire(1).await;
            None
        })
        .await;
        match accepted {
            None => break,
            Some(Ok(stream)) => {
                let ctx = ctx.clone();
                glommio::spawn_local(conn::serve(ctx, stream)).detach();
            }
            Some(Err(e)) => {
                // EMFILE and friends: back off instead of spinning or dying; other shards go on.
                eprintln!("corekv: shard {me}: accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(listener);

    // Drain: wake every connection parked in a read; each finishes its batch and closes.
    conn::shutdown_reads(&ctx);
    let deadline = Instant::now() + Duration::from_millis(DRAIN_TIMEOUT_MS);
    while ctx.live_connections.get() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
    // Keep serving other shards' hops until every shard has drained.
    DRAINED.fetch_add(1, Ordering::SeqCst);
    while DRAINED.load(Ordering::SeqCst) < shards {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    // With save rules, shutting down takes a snapshot, as Redis does: shard 0 starts it, every
    // shard writes its part (their background tasks have stopped), and all wait for the file.
    if RUNTIME.has_save_rules.load(Ordering::Relaxed) {
        let epoch = crate::persist::snapshot::epoch();
        if me == 0 {
            while crate::persist::snapshot::in_progress() {
                glommio::timer::sleep(Duration::from_millis(2)).await;
            }
            if let Err(e) = crate::persist::snapshot::start(shards, RUNTIME.rdb_path()) {
                eprintln!("corekv: no snapshot at shutdown: {e}");
            }
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while crate::persist::snapshot::epoch() == epoch && Instant::now() < deadline {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        snapshot_part(&ctx).await;
        while crate::persist::snapshot::in_progress() {
            glommio::timer::sleep(Duration::from_millis(2)).await;
        }
    }
    // No connection is left anywhere, so no write can come: write and fsync the rest of the log.
    if let Some((task, stop)) = flusher {
        stop.set(true);
        if let Some(log) = ctx.shard.borrow_mut().aof.as_mut() {
            log.wake_flusher();
        }
        let _ = task.await;
    }
    ctx.close_meshes();
    Ok(())
}

fn spawn_stop_watch(ctx: &Rc<Ctx>) {
    let ctx = ctx.clone();
    glommio::spawn_local(async move {
        while !STOP.load(Ordering::Relaxed) {
            glommio::timer::sleep(Duration::from_millis(STOP_POLL_MS)).await;
        }
        ctx.stopping.set(true);
        ctx.stop_signal.close();
    })
    .detach();
}

/// This shard's part of a save: walk the store a step at a time (it keeps serving in between)
/// and stream the entries to the writer thread; a full channel means the writer is behind, so
/// wait and retry rather than buffer.
async fn snapshot_part(ctx: &Rc<Ctx>) {
    use crate::persist::snapshot::{epoch, sender, Msg};
    let current = epoch();
    if ctx.snapshot_epoch.replace(current) == current {
        return; // already wrote (or is writing) its part of this snapshot
    }
    let Some(tx) = sender() else { return };
    let keys = {
        let mut sh = ctx.shard.borrow_mut();
        sh.store.snapshot_begin();
        // The log starts over from this point once the snapshot is complete (BGREWRITEAOF).
        if let Some(log) = sh.aof.as_mut() {
            log.begin_rotation(current);
        }
        sh.store.len() as u64
    };
    if !send_to_writer(&tx, Msg::Begin(ctx.id, keys)).await {
        return;
    }
    loop {
        let mut entries = Vec::new();
        let done = ctx
            .shard
            .borrow_mut()
            .store
            .snapshot_step(SNAPSHOT_STEP, &mut entries);
        if !send_to_writer(&tx, Msg::Entries(entries)).await {
            return;
        }
        if done {
            send_to_writer(&tx, Msg::Done(ctx.id)).await;
            return;
        }
        glommio::yield_if_needed().await;
    }
}

/// Sends to the snapshot writer without blocking the executor: a full channel means the writer
/// is behind, so wait a little and retry. False when the writer is gone.
async fn send_to_writer(
    tx: &std::sync::mpsc::SyncSender<crate::persist::snapshot::Msg>,
    mut msg: crate::persist::snapshot::Msg,
) -> bool {
    loop {
        match tx.try_send(msg) {
            Ok(()) => return true,
            Err(std::sync::mpsc::TrySendError::Full(m)) => {
                msg = m;
                glommio::timer::sleep(Duration::from_micros(200)).await;
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return false,
        }
    }
}

/// Frees expired keys nobody touches: every 1/hz s, examine keys with a TTL in small steps for at
/// most [`ACTIVE_EXPIRE_BUDGET_US`], continuing while more than a quarter of a step was expired
/// (the Redis heuristic). Runs in a low-share task queue so requests always come first.
fn spawn_active_expiry(ctx: &Rc<Ctx>) {
    let tq = glommio::executor().create_task_queue(
        glommio::Shares::Static(50),
        glommio::Latency::NotImportant,
        "active-expiry",
    );
    let ctx = ctx.clone();
    let task = async move {
        while !ctx.stopping.get() {
            let hz = RUNTIME.hz.load(Ordering::Relaxed).max(1);
            glommio::timer::sleep(Duration::from_millis(1000 / hz)).await;
            if ctx.id == 0 {
                crate::persist::snapshot::check_save_rules(ctx.shards);
            }
            if crate::persist::snapshot::epoch() != ctx.snapshot_epoch.get() && !ctx.stopping.get()
            {
                snapshot_part(&ctx).await;
            }
            if !crate::persist::snapshot::in_progress() {
                if let Some(log) = ctx.shard.borrow_mut().aof.as_mut().filter(|l| l.rotating) {
                    log.wake_flusher();
                }
            }
            let start = Instant::now();
            loop {
                let (examined, expired) = {
                    let now = crate::cmd::server::now_ms();
                    ctx.shard
                        .borrow_mut()
                        .store
                        .active_expire(ACTIVE_EXPIRE_STEP, now)
                };
                if examined == 0
                    || expired * 4 < examined
                    || start.elapsed().as_micros() > ACTIVE_EXPIRE_BUDGET_US
                {
                    break;
                }
                glommio::yield_if_needed().await;
            }
            // Pick up CONFIG SET maxmemory / policy made on another shard, and evict in the
            // background while over the limit (writes evict only a little each).
            {
                let mut sh = ctx.shard.borrow_mut();
                let shards = sh.shards;
                RUNTIME.apply_memory_limits(&mut sh.store, shards);
            }
            loop {
                let evicted = {
                    let now = crate::cmd::server::now_ms();
                    ctx.shard
                        .borrow_mut()
                        .store
                        .evict_step(ACTIVE_EXPIRE_STEP, now)
                };
                if evicted == 0 {
                    break;
                }
                glommio::yield_if_needed().await;
            }
        }
    };
    match glommio::spawn_local_into(task, tq) {
        Ok(t) => {
            t.detach();
        }
        Err(e) => eprintln!("corekv: cannot start active expiry: {e}"),
    }
}
