//! Replays scripts/compat/commands.txt against redis-server (Debian's package) and against
//! corekv at 1 and 4 shards, and requires the raw replies, error texts included, to be equal
//! byte for byte (see scripts/compat.py for the directives the script uses).

mod common;
use std::process::Command;

#[test]
fn replies_match_redis_server_byte_for_byte() {
    if !common::have_tool("redis-server") || !common::have_tool("python3") {
        return;
    }
    let out = Command::new("python3")
        .args([
            "scripts/compat.py",
            "--corekv",
            env!("CARGO_BIN_EXE_corekv"),
            "--shards",
            "1",
            "4",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run scripts/compat.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "corekv differs from redis-server:\n{text}"
    );
    assert!(text.contains("0 differences"), "{text}");
}
