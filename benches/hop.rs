//! The cross-core hop: one `Hop` carrying 1, 16 or 256 SET commands sent from shard 0 to shard
//! 1 over the request mesh, executed there, and sent back over the reply mesh (a full round
//! trip), on two executors of the real `Ctx`/mesh code. With `spin` the executors spin 50 us
//! before parking (`--spin-before-park`), which is what a busy server looks like; `park` is an
//! idle peer that must be woken.
//!
//! The executors are unpinned so that the bench runs anywhere; on the 2-core CI machine the two
//! shards share the cores with criterion itself, so compare runs on the same machine only.

use corekv::cmd::CmdId;
use corekv::shard::mesh::{spawn_mesh_tasks, Ctx};
use corekv::shard::{Hop, ServerInfo, Shard};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorBuilder, Placement};
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request to the driver thread: run `iters` round trips of a hop with `cmds` commands.
struct Job {
    cmds: usize,
    iters: u64,
    done: mpsc::Sender<Duration>,
}

fn start_pair(spin: Duration) -> mpsc::Sender<Option<Job>> {
    let (jobs_tx, jobs_rx) = mpsc::channel::<Option<Job>>();
    let requests: MeshBuilder<Box<Hop>, _> = MeshBuilder::full(2, 1024);
    let replies: MeshBuilder<Box<Hop>, _> = MeshBuilder::full(2, 1024);
    let info = Arc::new(ServerInfo {
        bind: "127.0.0.1".into(),
        port: 0,
        tcp_backlog: 0,
        started: Instant::now(),
    });
    let jobs_rx = Arc::new(std::sync::Mutex::new(Some(jobs_rx)));
    for _ in 0..2 {
        let (requests, replies, info, jobs_rx) = (
            requests.clone(),
            replies.clone(),
            info.clone(),
            jobs_rx.clone(),
        );
        LocalExecutorBuilder::new(Placement::Unbound)
            .io_memory(1 << 20)
            .spin_before_park(spin)
            .spawn(move || async move {
                let (req_tx, req_rx) = requests.join().await.unwrap();
                let (rep_tx, rep_rx) = replies.join().await.unwrap();
                let me = req_tx.peer_id();
                let ctx = Rc::new(Ctx::new(
                    Shard::new(me, 2, info),
                    Some(req_tx),
                    Some(rep_tx),
                ));
                spawn_mesh_tasks(&ctx, req_rx, rep_rx);
                if me != 0 {
                    // The peer only serves hops until the driver closes the meshes.
                    futures_lite::future::pending::<()>().await;
                }
                let rx = jobs_rx.lock().unwrap().take().unwrap();
                let waiter = ctx.new_waiter();
                let mut back = Vec::new();
                let keys: Vec<Vec<u8>> = (0..256)
                    .map(|i| format!("key:{i:012}").into_bytes())
                    .collect();
                let value = vec![b'v'; 32];
                loop {
                    // Block the executor only between jobs; the peer keeps serving.
                    let job = match rx.try_recv() {
                        Ok(Some(job)) => job,
                        Ok(None) => break,
                        Err(mpsc::TryRecvError::Empty) => {
                            glommio::timer::sleep(Duration::from_micros(200)).await;
                            continue;
                        }
                        Err(mpsc::TryRecvError::Disconnected) => break,
                    };
                    let start = Instant::now();
                    for _ in 0..job.iters {
                        let mut hop = ctx.hop(waiter);
                        for k in keys.iter().take(job.cmds) {
                            hop.push_op(CmdId::Set, [&b"set"[..], k, &value].into_iter());
                        }
                        hop.dest = 1;
                        ctx.send(1, hop).await;
                        ctx.wait(waiter, 1, &mut back).await;
                        ctx.recycle(back.pop().unwrap());
                    }
                    let _ = job.done.send(start.elapsed());
                }
                ctx.close_meshes();
            })
            .unwrap();
    }
    jobs_tx
}

fn bench_hop(c: &mut Criterion) {
    for (mode, spin) in [
        ("spin", Duration::from_micros(50)),
        ("park", Duration::ZERO),
    ] {
        let jobs = start_pair(spin);
        let mut group = c.benchmark_group(format!("hop_round_trip_{mode}"));
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(3));
        for cmds in [1usize, 16, 256] {
            group.throughput(Throughput::Elements(cmds as u64));
            group.bench_with_input(BenchmarkId::from_parameter(cmds), &cmds, |b, &cmds| {
                b.iter_custom(|iters| {
                    let (done_tx, done_rx) = mpsc::channel();
                    jobs.send(Some(Job {
                        cmds,
                        iters,
                        done: done_tx,
                    }))
                    .unwrap();
                    done_rx.recv().unwrap()
                })
            });
        }
        group.finish();
        // Stop the driver so this pair's executors park for good before the next pair runs.
        let _ = jobs.send(None);
    }
}

criterion_group!(benches, bench_hop);
criterion_main!(benches);
