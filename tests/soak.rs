//! A short, bounded soak (scripts/soak): 60 concurrent clients on loopback sending valid and
//! invalid commands, pipelines, malformed frames, half frames and connection churn for 15 s
//! against the real server at 4 shards; then it checks every key it wrote (no acknowledged
//! write lost), that the server still answers, that RSS came back after FLUSHALL, and that
//! SIGTERM exits 0.

mod common;
use std::process::Command;

#[test]
fn soak_leaves_the_server_correct_and_its_memory_bounded() {
    if !common::have_tool("python3") {
        return;
    }
    let out = Command::new("python3")
        .args([
            "scripts/soak",
            "--seconds",
            "15",
            "--clients",
            "60",
            "--shards",
            "4",
            "--binary",
            env!("CARGO_BIN_EXE_corekv"),
            "--quiet",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run scripts/soak");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "soak failed:\n{text}");
    assert!(text.contains("PASS"), "{text}");
}
