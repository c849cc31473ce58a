//! In-process handler tests: the real shard contexts, meshes and connection pipeline on a small
//! pool of unpinned glommio executors, driven with a manual clock. No sockets: batches of
//! commands go straight into `Pipeline::command` at a chosen `now`, so expiry edges and TTLs are
//! checked exactly, across shards, without sleeping.

use corekv::cmd::Args;
use corekv::shard::mesh::{spawn_mesh_tasks, Ctx};
use corekv::shard::pipeline::{prefetch, Flow, Pipeline};
use corekv::shard::slot::key_shard;
use corekv::shard::{ClientInfo, Hop, ServerInfo, Shard};
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorBuilder, Placement};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Body = Box<dyn FnOnce(Driver) -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// Runs `body` on shard 0 of `shards` unpinned executors joined in the real meshes.
fn with_shards(shards: usize, body: Body) {
    let requests: MeshBuilder<Box<Hop>, _> = MeshBuilder::full(shards, 64);
    let replies: MeshBuilder<Box<Hop>, _> = MeshBuilder::full(shards, 64);
    let info = Arc::new(ServerInfo {
        bind: "127.0.0.1".into(),
        port: 0,
        tcp_backlog: 0,
        started: Instant::now(),
    });
    let body = Arc::new(Mutex::new(Some(body)));
    let done = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..shards {
        let (requests, replies, info, body, done) = (
            requests.clone(),
            replies.clone(),
            info.clone(),
            body.clone(),
            done.clone(),
        );
        let h = LocalExecutorBuilder::new(Placement::Unbound)
            .io_memory(1 << 16)
            .spawn(move || async move {
                let ctx = if shards > 1 {
                    let (req_tx, req_rx) = requests.join().await.unwrap();
                    let (rep_tx, rep_rx) = replies.join().await.unwrap();
                    let me = req_tx.peer_id();
                    let ctx = Rc::new(Ctx::new(
                        Shard::new(me, shards, info),
                        Some(req_tx),
                        Some(rep_tx),
                    ));
                    spawn_mesh_tasks(&ctx, req_rx, rep_rx);
                    ctx
                } else {
                    Rc::new(Ctx::new(Shard::new(0, 1, info), None, None))
                };
                if ctx.id == 0 {
                    let body = body.lock().unwrap().take().unwrap();
                    let waiter = ctx.new_waiter();
                    let client = RefCell::new(ClientInfo {
                        authenticated: true,
                        ..ClientInfo::default()
                    });
                    let driver = Driver {
                        pipe: Pipeline::new(&ctx, waiter),
                        ctx: ctx.clone(),
                        client,
                    };
                    body(driver).await;
                    done.store(true, Ordering::SeqCst);
                }
                // Every shard serves hops until the test body is over.
                while !done.load(Ordering::SeqCst) {
                    glommio::timer::sleep(Duration::from_millis(1)).await;
                }
                ctx.close_meshes();
            })
            .unwrap();
        handles.push(h);
    }
    for h in handles {
        h.join().unwrap();
    }
}

struct Driver {
    ctx: Rc<Ctx>,
    pipe: Pipeline,
    client: RefCell<ClientInfo>,
}

impl Driver {
    /// Runs `cmds` as one pipelined batch at time `now`; returns all replies, concatenated.
    async fn batch(&mut self, now: u64, cmds: &[&[&str]]) -> String {
        let mut buf = Vec::new();
        let mut all_ranges = Vec::new();
        for c in cmds {
            let mut ranges = Vec::new();
            for a in *c {
                let start = buf.len();
                buf.extend_from_slice(a.as_bytes());
                ranges.push((start, buf.len()));
            }
            all_ranges.push(ranges);
        }
        let mut out = corekv::resp::reply::Out::new(self.pipe.resp3());
        for ranges in &all_ranges {
            let plan = prefetch::plan_one(&self.ctx, Args::new(&buf, ranges));
            let mut flow =
                self.pipe
                    .command(&self.ctx, &self.client, &buf, ranges, plan, now, &mut out);
            if flow == Flow::EndGroup {
                // A held group ends before this command: run it, then plan the command again.
                self.pipe
                    .finish(flow, &self.ctx, &self.client, &buf, ranges, now, &mut out)
                    .await;
                flow =
                    self.pipe
                        .command(&self.ctx, &self.client, &buf, ranges, plan, now, &mut out);
            }
            if !matches!(flow, Flow::Continue | Flow::Close) {
                while !self.pipe.flush(&self.ctx, &mut out).await {}
                self.pipe
                    .finish(flow, &self.ctx, &self.client, &buf, ranges, now, &mut out)
                    .await;
            }
        }
        self.pipe
            .run_group(&self.ctx, &self.client, now, &mut out)
            .await;
        while !self.pipe.flush(&self.ctx, &mut out).await {}
        String::from_utf8_lossy(&out).into_owned()
    }

    async fn one(&mut self, now: u64, cmd: &[&str]) -> String {
        self.batch(now, &[cmd]).await
    }
}

const T0: u64 = 1_700_000_000_000;

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key:{i}")).collect()
}

#[test]
fn expiry_edges_with_a_manual_clock_across_shards() {
    for shards in [1, 4] {
        with_shards(
            shards,
            Box::new(|mut d| {
                Box::pin(async move {
                    let ks = keys(20);
                    let sets: Vec<Vec<&str>> = ks
                        .iter()
                        .map(|k| vec!["SET", k.as_str(), "v", "PX", "100"])
                        .collect();
                    let sets: Vec<&[&str]> = sets.iter().map(Vec::as_slice).collect();
                    assert_eq!(d.batch(T0, &sets).await, "+OK\r\n".repeat(20));
                    let mut mget = vec!["MGET"];
                    mget.extend(ks.iter().map(String::as_str));
                    // One millisecond before the deadline every key is there, on every shard.
                    let live = format!("*20\r\n{}", "$1\r\nv\r\n".repeat(20));
                    assert_eq!(d.one(T0 + 99, &mget).await, live);
                    // At the deadline none is (a key expires when now >= its expiry).
                    let gone = format!("*20\r\n{}", "$-1\r\n".repeat(20));
                    assert_eq!(d.one(T0 + 100, &mget).await, gone);
                    assert_eq!(
                        d.one(T0 + 100, &["EXISTS", "key:0", "key:1", "key:2"])
                            .await,
                        ":0\r\n"
                    );
                })
            }),
        );
    }
}

#[test]
fn ttl_and_rename_are_exact_under_the_manual_clock() {
    for shards in [1, 4] {
        with_shards(
            shards,
            Box::new(move |mut d| {
                Box::pin(async move {
                    assert_eq!(d.one(T0, &["SET", "t", "v", "EX", "10"]).await, "+OK\r\n");
                    assert_eq!(d.one(T0 + 2500, &["PTTL", "t"]).await, ":7500\r\n");
                    // TTL rounds to the nearest second, like Redis.
                    assert_eq!(d.one(T0 + 2500, &["TTL", "t"]).await, ":8\r\n");
                    assert_eq!(d.one(T0 + 2501, &["TTL", "t"]).await, ":7\r\n");
                    // A rename between two shards (when there are several) keeps the deadline.
                    let dst = (0..100)
                        .map(|i| format!("dst{i}"))
                        .find(|k| {
                            shards == 1
                                || key_shard(k.as_bytes(), shards) != key_shard(b"t", shards)
                        })
                        .unwrap();
                    assert_eq!(d.one(T0 + 3000, &["RENAME", "t", &dst]).await, "+OK\r\n");
                    assert_eq!(d.one(T0 + 4000, &["PTTL", &dst]).await, ":6000\r\n");
                    assert_eq!(d.one(T0 + 4000, &["EXISTS", "t"]).await, ":0\r\n");
                    assert_eq!(d.one(T0 + 10_000, &["GET", &dst]).await, "$-1\r\n");
                })
            }),
        );
    }
}

#[test]
fn a_batch_mixing_local_and_remote_keys_keeps_command_order() {
    for shards in [1, 4] {
        with_shards(
            shards,
            Box::new(|mut d| {
                Box::pin(async move {
                    let got = d
                        .batch(
                            T0,
                            &[
                                &["SET", "a", "1"],
                                &["INCR", "a"],
                                &["SET", "b", "x"],
                                &["APPEND", "b", "y"],
                                &["MGET", "a", "b", "c"],
                                &["DEL", "a", "c"],
                                &["GET", "a"],
                                &["NOPE"],
                                &["MSETNX", "c", "1", "d", "2"],
                                &["MSETNX", "d", "3", "e", "4"],
                                &["MGET", "c", "d", "e"],
                                &["DBSIZE"],
                            ],
                        )
                        .await;
                    let want = concat!(
                        "+OK\r\n",
                        ":2\r\n",
                        "+OK\r\n",
                        ":2\r\n",
                        "*3\r\n$1\r\n2\r\n$2\r\nxy\r\n$-1\r\n",
                        ":1\r\n",
                        "$-1\r\n",
                        "-ERR unknown command 'NOPE', with args beginning with: \r\n",
                        ":1\r\n",
                        ":0\r\n",
                        "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n",
                        ":3\r\n",
                    );
                    assert_eq!(got, want);
                })
            }),
        );
    }
}

#[test]
fn big_replies_stop_hops_at_their_budget_without_losing_order() {
    for shards in [1, 4] {
        with_shards(
            shards,
            Box::new(|mut d| {
                Box::pin(async move {
                    // 600 KB values: two replies pass a hop's 1 MiB budget, so hops come back
                    // unfinished and are sent again, possibly several at once.
                    let vals: Vec<String> = (0..6)
                        .map(|i| char::from(b'a' + i).to_string().repeat(600_000))
                        .collect();
                    let ks = keys(6);
                    for (k, v) in ks.iter().zip(&vals) {
                        assert_eq!(d.one(T0, &["SET", k, v]).await, "+OK\r\n");
                    }
                    let mut cmds: Vec<Vec<&str>> = Vec::new();
                    let mut want = String::new();
                    let bulk = |v: &str| format!("${}\r\n{v}\r\n", v.len());
                    for round in 0..3 {
                        for (i, k) in ks.iter().enumerate() {
                            cmds.push(vec!["GET", k.as_str()]);
                            want.push_str(&bulk(&vals[i]));
                            cmds.push(vec!["INCR", "counter"]);
                            want.push_str(&format!(":{}\r\n", round * 6 + i + 1));
                        }
                        cmds.push(vec!["MGET", "key:5", "key:0", "nope", "key:3"]);
                        want.push_str(&format!(
                            "*4\r\n{}{}$-1\r\n{}",
                            bulk(&vals[5]),
                            bulk(&vals[0]),
                            bulk(&vals[3])
                        ));
                    }
                    let cmds: Vec<&[&str]> = cmds.iter().map(Vec::as_slice).collect();
                    let got = d.batch(T0, &cmds).await;
                    assert_eq!(got.len(), want.len());
                    assert!(got == want, "replies differ or are out of order");
                })
            }),
        );
    }
}

/// WATCH sees expiry: a watched key that existed and expired by EXEC time aborts the
/// transaction (Redis 6.0.9+), on every shard count, with the clock as a parameter.
#[test]
fn a_watched_key_that_expires_aborts_exec() {
    for shards in [1, 4] {
        with_shards(
            shards,
            Box::new(|mut d| {
                Box::pin(async move {
                    let ks = keys(8);
                    for k in &ks {
                        assert_eq!(d.one(T0, &["SET", k, "v", "PX", "100"]).await, "+OK\r\n");
                    }
                    let mut watch = vec!["WATCH"];
                    watch.extend(ks.iter().map(String::as_str));
                    assert_eq!(d.one(T0 + 1, &watch).await, "+OK\r\n");
                    let queue: &[&[&str]] = &[&["MULTI"], &["PING"]];
                    assert_eq!(d.batch(T0 + 1, queue).await, "+OK\r\n+QUEUED\r\n");
                    // Still alive at EXEC time: it runs.
                    assert_eq!(d.one(T0 + 99, &["EXEC"]).await, "*1\r\n+PONG\r\n");
                    // Watched again, then expired before EXEC: aborted.
                    assert_eq!(d.one(T0 + 2, &watch).await, "+OK\r\n");
                    assert_eq!(d.batch(T0 + 2, queue).await, "+OK\r\n+QUEUED\r\n");
                    assert_eq!(d.one(T0 + 100, &["EXEC"]).await, "*-1\r\n");
                    // A key that never existed and still does not is no change.
                    assert_eq!(d.one(T0 + 200, &["WATCH", "never"]).await, "+OK\r\n");
                    assert_eq!(d.batch(T0 + 200, queue).await, "+OK\r\n+QUEUED\r\n");
                    assert_eq!(d.one(T0 + 300, &["EXEC"]).await, "*1\r\n+PONG\r\n");
                })
            }),
        );
    }
}
