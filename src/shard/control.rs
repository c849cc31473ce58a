//! The control channel between the server layer (the main thread) and the shards.
//!
//! ```text
//!   signal thread --Stop--> main thread (server::run) <--Ready / Failed / Stop / Drained-- shards
//!                           main thread --Stop / AllDrained--> every shard's control task
//!   snapshot writer thread --SnapshotDone--> every shard's control task
//! ```
//! Shutdown is a conversation, not a flag polled with sleeps: SIGTERM or SHUTDOWN asks the
//! server to stop; the server tells every shard; each shard stops accepting, drains its
//! connections and reports `Drained`; once all have, the server answers `AllDrained` and each
//! shard closes its side of the meshes (until then it keeps serving other shards' hops, so no
//! hop is cut short). The channel is `flume`'s (already in the tree under glommio): its async
//! receive wakes a glommio task from the main thread through glommio's foreign-waker path.

/// What a shard (or the signal thread) tells the server.
#[derive(Debug)]
pub enum ToServer {
    /// Shard `n` listens and has loaded its data.
    Ready(usize),
    /// A shard could not start.
    Failed(String),
    /// SIGINT, SIGTERM or SHUTDOWN: stop the server.
    Stop,
    /// Shard `n` has stopped accepting and its connections are gone.
    Drained(usize),
}

/// What the server tells each shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToShard {
    /// Stop accepting, let connections finish their batch, report `Drained`.
    Stop,
    /// Every shard has drained: no hop can come any more.
    AllDrained,
    /// A snapshot's file is complete (or failed): SAVE answers, the log finishes its rotation.
    SnapshotDone,
}

/// A shard's (or the signal thread's) handle on the channel to the server.
#[derive(Clone)]
pub struct Control {
    to_server: flume::Sender<ToServer>,
    to_shards: std::sync::Arc<Vec<flume::Sender<ToShard>>>,
}

impl Control {
    pub fn new(to_server: flume::Sender<ToServer>, to_shards: Vec<flume::Sender<ToShard>>) -> Self {
        Control {
            to_server,
            to_shards: std::sync::Arc::new(to_shards),
        }
    }

    /// Tells every shard (from any thread).
    pub fn broadcast(&self, msg: ToShard) {
        for s in self.to_shards.iter() {
            let _ = s.send(msg);
        }
    }

    /// Asks the server to stop, as SIGTERM does.
    pub fn request_stop(&self) {
        self.send(ToServer::Stop);
    }

    pub fn send(&self, msg: ToServer) {
        // The server thread outlives every shard; a failed send means it is already gone.
        let _ = self.to_server.send(msg);
    }
}
