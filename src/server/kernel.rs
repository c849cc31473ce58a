//! The io_uring features corekv needs, checked once at start so that an old or locked-down
//! kernel gets one clear line instead of a failure deep in the runtime.
//!
//! Needed: io_uring itself (not disabled by `kernel.io_uring_disabled`, 6.6+) and multishot
//! poll, which the glommio patch arms once per connection (`IORING_POLL_ADD_MULTI`, Linux 5.13;
//! the kernel has no flag for it, so `IORING_FEAT_RSRC_TAGS`, new in the same release, stands in).
//! Used when present: cooperative task running (`IORING_SETUP_COOP_TASKRUN`, 5.19), without
//! which every socket completion interrupts the shard with an IPI (vendor/glommio/COREKV-PATCH.md,
//! change 1). So the minimum kernel is 5.13, and 5.19 or later is what the benchmarks ran on.

/// `io_uring_params` as the kernel lays it out: 10 words, then two 40-byte offset blocks.
#[repr(C)]
#[derive(Default)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    offsets: [u32; 20],
}

const FEAT_RSRC_TAGS: u32 = 1 << 10;
const SETUP_COOP_TASKRUN: u32 = 1 << 8;

/// Sets up a one-entry ring with `flags` and closes it; returns its features or the errno.
fn probe(flags: u32) -> Result<u32, i32> {
    let mut p = Params {
        flags,
        ..Params::default()
    };
    // SAFETY: io_uring_setup reads and writes exactly one io_uring_params, which `p` is.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, &mut p as *mut Params) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    // SAFETY: fd is the ring just created and owned here.
    unsafe { libc::close(fd as i32) };
    Ok(p.features)
}

/// Checks the kernel; an error is the reason the server cannot start. Missing optional
/// features are reported on stderr.
pub fn check() -> Result<(), String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let features = match probe(0) {
        Ok(f) => f,
        Err(libc::ENOSYS) => {
            return Err(format!(
                "this kernel ({release}) has no io_uring; corekv needs Linux 5.13 or later"
            ))
        }
        Err(libc::EPERM) => {
            return Err(
                "io_uring is disabled here (sysctl kernel.io_uring_disabled, or a seccomp \
                 profile of the container); corekv needs it: see tuning/README.md"
                    .into(),
            )
        }
        Err(e) => {
            return Err(format!(
                "cannot create an io_uring ring: {} (see tuning/README.md for the memlock limit)",
                std::io::Error::from_raw_os_error(e)
            ))
        }
    };
    if features & FEAT_RSRC_TAGS == 0 {
        return Err(format!(
            "this kernel ({release}) lacks io_uring multishot poll; corekv needs Linux 5.13 or later"
        ));
    }
    if probe(SETUP_COOP_TASKRUN).is_err() {
        eprintln!(
            "corekv: this kernel ({release}) lacks io_uring cooperative task running (5.19): \
             socket completions will interrupt the shards, which costs CPU per request"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_kernel_has_what_corekv_needs() {
        // CI's kernel must pass the check that the server runs at start.
        super::check().unwrap();
        assert!(super::probe(0).unwrap() & super::FEAT_RSRC_TAGS != 0);
    }
}
