//! The server layer: boot, recovery, the background duties, drain and shutdown.
//!
//! [`run`] starts one glommio executor per shard (pinned to its own CPU when there are enough),
//! joins them into the request and reply meshes, and has each shard recover its data
//! ([`recover`]), start its duties ([`cron`]) and listen (`net`). When every shard reports
//! Ready over the control channel (`shard::control`), the main thread prints one ready line
//! (tests and scripts wait for it, never sleep).
//!
//! Shutdown (SIGINT/SIGTERM/SHUTDOWN): the server tells every shard to stop; each stops
//! accepting, shuts down the read side of its connections (each finishes the batch it is
//! running and writes its replies), waits for them and reports Drained; once every shard has,
//! the server says AllDrained and each shard takes its part of the shutdown snapshot (with save
//! rules), writes the rest of its log and closes its side of the meshes, so no hop is ever cut
//! short.

pub mod cpus;
pub mod cron;
pub mod kernel;
pub mod recover;

use crate::config::{Config, Runtime, RUNTIME};
use crate::net;
use crate::shard::control::{Control, ToServer, ToShard};
use crate::shard::mesh::{spawn_mesh_tasks, Ctx};
use crate::shard::{Hop, ServerInfo, Shard};
use glommio::channels::channel_mesh::{Full, MeshBuilder};
use glommio::{LocalExecutorBuilder, Placement, PoolPlacement};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long shutdown waits for connections to finish their batch.
pub const DRAIN_TIMEOUT_MS: u64 = 5000;
/// Slots in each channel of the meshes (hops, not commands).
const MESH_CHANNEL_SLOTS: usize = 1024;
/// Memory glommio registers with io_uring per executor. Sockets do not use it, and the default
/// 10 MiB per executor would exceed a typical 8 MiB memlock limit at 4 shards.
const IO_MEMORY_BYTES: usize = 1 << 20;

/// Runs the server until it is stopped. Returns an error message for start-up failures.
pub fn run(cfg: Config) -> Result<(), String> {
    cfg.validate()?;
    Runtime::init(&cfg);
    check_memlock()?;
    kernel::check()?;
    let placed = cpus::place(cfg.shards, cfg.pin && !cfg.no_pin);
    let shards = placed.shards;
    RUNTIME.dirty.init(shards);

    // SO_REUSEPORT would let this process share a port another server (a second corekv of the
    // same user) already serves, and the kernel would split the clients between the two: check
    // first with a socket that cannot share, as redis-server refuses a busy port.
    if cfg.port != 0 {
        net::refuse_busy_port(SocketAddr::new(cfg.bind, cfg.port))?;
    }
    // Reserve the port on the main thread, so that with --port 0 every shard binds the same one.
    let reserved = net::bind_listener(SocketAddr::new(cfg.bind, cfg.port), cfg.tcp_backlog, false)?;
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
    crate::persist::snapshot::init_last_save(crate::clock::now_ms() / 1000);
    let (to_server, inbox) = flume::unbounded::<ToServer>();
    let (to_shards, mut inboxes): (Vec<_>, Vec<_>) =
        (0..shards).map(|_| flume::unbounded::<ToShard>()).unzip();
    let control = Control::new(to_server, to_shards.clone());
    signal_thread(control.clone())?;
    // Builders are cloned here, on the main thread: cloning inside executors is unsound in 0.9.
    let requests: MeshBuilder<Box<Hop>, _> = MeshBuilder::full(shards, MESH_CHANNEL_SLOTS);
    let replies: MeshBuilder<Box<Hop>, _> = MeshBuilder::full(shards, MESH_CHANNEL_SLOTS);
    let mut handles = Vec::with_capacity(shards);
    for i in 0..shards {
        let cpu = placed.pin_to.as_ref().map(|c| c[i]);
        let placement = match cpu {
            Some(cpu) => Placement::Fixed(cpu),
            None => Placement::Unbound,
        };
        let pool = if let Some(cpu) = cpu {
            PoolPlacement::Custom(vec![glommio::CpuSet::online()
                .map_err(|e| e.to_string())?
                .filter(|l| l.cpu == cpu)])
        } else {
            PoolPlacement::Unbound(1)
        };
        let (requests, replies, control, info) = (
            requests.clone(),
            replies.clone(),
            control.clone(),
            info.clone(),
        );
        let shard_inbox = inboxes.remove(0);
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
                let boot = Boot {
                    shards,
                    addr,
                    info,
                    requests,
                    replies,
                    control: control.clone(),
                    inbox: shard_inbox,
                    persistence,
                };
                if let Err(e) = shard_main(boot).await {
                    control.send(ToServer::Failed(e));
                }
            })
            .map_err(|e| format!("cannot start shard {i}: {e}"))?;
        handles.push(handle);
    }
    drop(control);
    // Start-up: every shard reports Ready (or why it failed). A stop asked for meanwhile is
    // passed on once all listen.
    let mut ready = 0;
    let mut stop_asked = false;
    while ready < shards {
        match inbox.recv_timeout(Duration::from_secs(1)) {
            Ok(ToServer::Ready(_)) => ready += 1,
            Ok(ToServer::Failed(e)) => return Err(e),
            Ok(ToServer::Stop) => stop_asked = true,
            Ok(ToServer::Drained(_)) => {}
            Err(flume::RecvTimeoutError::Disconnected) => {
                return Err("every shard stopped during start-up".into())
            }
            Err(flume::RecvTimeoutError::Timeout) => {}
        }
    }
    drop(reserved);
    println!(
        "corekv {} ready: listening on {addr}, {}",
        env!("CARGO_PKG_VERSION"),
        placed.why
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    drain(&inbox, &to_shards, stop_asked);
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

/// SIGINT/SIGTERM go to a plain thread, which asks the server to stop.
fn signal_thread(control: Control) -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("corekv-signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                control.request_stop();
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The main thread's side of shutdown: waits for a stop (unless one came during start-up),
/// tells every shard, waits until all drained and lets them finish.
fn drain(inbox: &flume::Receiver<ToServer>, to_shards: &[flume::Sender<ToShard>], stopping: bool) {
    let tell = |msg: ToShard| {
        for s in to_shards {
            let _ = s.send(msg);
        }
    };
    let mut stopping = stopping;
    if stopping {
        tell(ToShard::Stop);
    }
    let mut drained = 0;
    while drained < to_shards.len() {
        match inbox.recv() {
            Ok(ToServer::Stop) if !stopping => {
                stopping = true;
                tell(ToShard::Stop);
            }
            Ok(ToServer::Drained(_)) => drained += 1,
            Ok(ToServer::Failed(e)) => eprintln!("corekv: {e}"),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    tell(ToShard::AllDrained);
}

/// What a shard's thread starts with.
struct Boot {
    shards: usize,
    addr: SocketAddr,
    info: Arc<ServerInfo>,
    requests: MeshBuilder<Box<Hop>, Full>,
    replies: MeshBuilder<Box<Hop>, Full>,
    control: Control,
    inbox: flume::Receiver<ToShard>,
    persistence: Option<(
        PathBuf,
        crate::config::Fsync,
        Arc<crate::persist::txnlog::Verdicts>,
    )>,
}

/// Reports a shard that panicked before it was ready, so the main thread never waits for it
/// (a start-up error is reported with its message by the shard's thread).
struct StartGuard<'a> {
    control: &'a Control,
    ready: bool,
}

impl Drop for StartGuard<'_> {
    fn drop(&mut self) {
        if !self.ready && std::thread::panicking() {
            self.control
                .send(ToServer::Failed("a shard stopped during start-up".into()));
        }
    }
}

/// One shard's life: join the meshes, recover, listen, serve until told to stop, drain.
async fn shard_main(boot: Boot) -> Result<(), String> {
    let Boot {
        shards,
        addr,
        info,
        requests,
        replies,
        control,
        inbox,
        persistence,
    } = boot;
    let mut guard = StartGuard {
        control: &control,
        ready: false,
    };
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
    let mut shard = Shard::new(me, shards, info.clone());
    RUNTIME.apply_memory_limits(&mut shard.store, shards);
    let (log, verdicts) = match persistence {
        Some((dir, fsync, verdicts)) => (
            Some((crate::persist::aof::file_path(&dir, me, shards), fsync)),
            verdicts,
        ),
        None => (None, Arc::default()),
    };
    recover::recover(
        &mut shard,
        log.as_ref().map(|(p, _)| p.as_path()),
        &verdicts,
    )?;
    if let Some((_, fsync)) = &log {
        shard.aof = Some(crate::persist::aof::AofLog::new(*fsync));
        shard.store.record_evictions(true);
        shard.store.record_effects(true);
    }
    let ctx = Rc::new(Ctx::new(shard, req_tx, rep_tx));
    Ctx::set_this(&ctx);
    let _ = ctx.control.set(control.clone());
    let flusher = log.map(|(path, _)| {
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
        // Messages the server publishes on this core (scripts, keyspace events) reach the
        // subscribers of the other cores through this core's forwarder.
        glommio::spawn_local(crate::shard::fanout::forward(ctx.clone())).detach();
    }
    // Clients blocked on this core's keys are served by this task (`cmd::blocking`).
    glommio::spawn_local(crate::shard::pipeline::serve_blocked(ctx.clone())).detach();
    let listener = net::listen(addr, info.tcp_backlog)?;
    guard.ready = true;
    control.send(ToServer::Ready(me));

    cron::spawn(&ctx);
    let all_drained = Rc::new(glommio::sync::Semaphore::new(0));
    spawn_control_task(&ctx, inbox, all_drained.clone());

    net::accept_until_stopped(&ctx, listener).await;

    // Drain: wake every connection parked in a read; each finishes its batch and closes.
    net::conn::shutdown_reads(&ctx);
    if ctx.live_connections.get() > 0 {
        let closed = async {
            let _ = ctx.all_closed.acquire(1).await;
        };
        let timeout = glommio::timer::sleep(Duration::from_millis(DRAIN_TIMEOUT_MS));
        futures_lite::future::or(closed, async {
            timeout.await;
        })
        .await;
    }
    // Keep serving other shards' hops until every shard has drained.
    control.send(ToServer::Drained(me));
    let _ = all_drained.acquire(1).await;
    shutdown_snapshot(&ctx).await;
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

/// Receives the server's messages on this shard: Stop ends accepting and wakes every
/// connection's read; AllDrained lets shutdown go on.
fn spawn_control_task(
    ctx: &Rc<Ctx>,
    inbox: flume::Receiver<ToShard>,
    all_drained: Rc<glommio::sync::Semaphore>,
) {
    let ctx = ctx.clone();
    glommio::spawn_local(async move {
        while let Ok(msg) = inbox.recv_async().await {
            match msg {
                ToShard::Stop => {
                    ctx.stopping.set(true);
                    ctx.stop_signal.close();
                }
                ToShard::AllDrained => all_drained.signal(1),
                ToShard::SnapshotDone => ctx.snapshot_finished(),
            }
        }
        // Every sender is gone (never before AllDrained): do not hold shutdown up.
        all_drained.signal(1);
    })
    .detach();
}

/// With save rules, shutting down takes a snapshot, as Redis does: shard 0 starts it (its cut
/// reaches every shard at once, no connection is left), every shard writes its part (their
/// background duties have stopped), and all wait for the file.
async fn shutdown_snapshot(ctx: &Ctx) {
    use crate::persist::snapshot;
    if !RUNTIME.has_save_rules.load(Ordering::Relaxed) {
        return;
    }
    if ctx.id == 0 {
        // A save still running finishes first.
        if snapshot::in_progress() {
            ctx.snapshot_done_after(ctx.snapshots_done()).await;
        }
        if let Err(e) = crate::shard::pipeline::start_snapshot(ctx) {
            eprintln!("corekv: no snapshot at shutdown: {e}");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let begun = ctx.shard.borrow().snapshot_begun;
        if (begun == snapshot::epoch() && begun != ctx.snapshot_epoch.get())
            || Instant::now() >= deadline
        {
            break;
        }
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    let seen = ctx.snapshots_done();
    cron::snapshot_part(ctx).await;
    if snapshot::in_progress() {
        ctx.snapshot_done_after(seen).await;
    }
}
