//! Driving a busy script (see `cmd::script::busy`): the task that started it resumes it slice
//! after slice, letting the executor run the shard's other tasks in between (they answer
//! `-BUSY` for its keys), until it ends.

use super::mesh::Ctx;
use crate::resp::reply::Out;
use std::time::Duration;

/// How long the shard's other work runs between two slices of a busy script.
pub const PAUSE: Duration = Duration::from_micros(100);

/// Resumes this shard's suspended script until it ends; its reply goes into `out`.
pub async fn drive(ctx: &Ctx, out: &mut Out) {
    loop {
        // A timer, not a plain yield: the reactor must run to read other clients' sockets.
        glommio::timer::sleep(PAUSE).await;
        let mut sh = ctx.shard.borrow_mut();
        if crate::cmd::script::resume(&mut sh, out) {
            return;
        }
    }
}
