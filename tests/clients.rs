//! Real client libraries in their default usage, installed by the test setup from their
//! registries (scripts/test: `pip install redis`, `npm install` in tests/clients): redis-py's
//! transactional `pipeline()` and `transaction()`, its `Lock` and `register_script` (Lua),
//! node-redis's and ioredis's `multi()`, rate-limiter-flexible's Lua limiter over both, and
//! pub/sub through redis-py (RESP3 and RESP2), node-redis (defaults and RESP3) and ioredis,
//! against the real server at 1 and 4 shards.

mod common;
use common::*;
use std::process::Command;

fn have_python_module(name: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {name}")])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 module {name} is required in CI (scripts/test installs it)"
        );
        eprintln!("skipping: python3 module {name} is not installed (pip install {name})");
    }
    ok
}

/// Runs `program script PORT` against a fresh server at every shard count; returns each run's
/// output after checking it exited 0.
fn run_client(program: &str, script: &str, what: &str) -> Vec<String> {
    SHARD_COUNTS
        .iter()
        .map(|&shards| {
            let s = Server::start(shards);
            let out = Command::new(program)
                .args([script, &s.port.to_string()])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .unwrap_or_else(|e| panic!("run {program}: {e}"));
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "{what} at {shards} shards:\n{text}");
            text
        })
        .collect()
}

#[test]
fn redis_py_pipelines_and_transactions() {
    if !have_tool("python3") || !have_python_module("redis") {
        return;
    }
    for text in run_client(
        "python3",
        "tests/clients/redis_py_transactions.py",
        "redis-py",
    ) {
        assert!(text.contains("ok"), "{text}");
    }
}

#[test]
fn redis_py_locks_and_scripts() {
    if !have_tool("python3") || !have_python_module("redis") {
        return;
    }
    for text in run_client("python3", "tests/clients/redis_py_scripts.py", "redis-py") {
        assert!(text.contains("ok"), "{text}");
    }
}

/// A job queue on lists with blocking pops, a leaderboard on sorted sets and unique-visitor
/// counts with HyperLogLog, through redis-py in RESP3 and RESP2.
#[test]
fn redis_py_queues_leaderboards_and_visitor_counts() {
    if !have_tool("python3") || !have_python_module("redis") {
        return;
    }
    for text in run_client(
        "python3",
        "tests/clients/redis_py_collections.py",
        "redis-py",
    ) {
        assert!(text.contains("ok"), "{text}");
    }
}

fn have_node_modules() -> bool {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node_modules");
    let ok = have_tool("node")
        && ["redis", "ioredis", "rate-limiter-flexible"]
            .iter()
            .all(|m| dir.join(m).exists());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "node-redis, ioredis and rate-limiter-flexible are required in CI (scripts/test runs npm install)"
        );
        eprintln!("skipping: run npm install in tests/clients");
    }
    ok
}

#[test]
fn node_redis_and_ioredis_multi() {
    if !have_node_modules() {
        return;
    }
    for text in run_client(
        "node",
        "tests/clients/node_transactions.mjs",
        "node clients",
    ) {
        assert!(
            text.contains("node-redis ok") && text.contains("ioredis ok"),
            "{text}"
        );
    }
}

#[test]
fn rate_limiter_flexible_over_ioredis_and_node_redis() {
    if !have_node_modules() {
        return;
    }
    for text in run_client("node", "tests/clients/node_rate_limit.mjs", "rate limiter") {
        assert!(
            text.contains("ioredis rate limit ok") && text.contains("node-redis rate limit ok"),
            "{text}"
        );
    }
}

#[test]
fn redis_py_pubsub() {
    if !have_tool("python3") || !have_python_module("redis") {
        return;
    }
    for text in run_client("python3", "tests/clients/redis_py_pubsub.py", "redis-py") {
        assert!(text.contains("redis-py pubsub ok"), "{text}");
    }
}

#[test]
fn node_redis_resp3_and_ioredis_pubsub() {
    if !have_node_modules() {
        return;
    }
    for text in run_client("node", "tests/clients/node_pubsub.mjs", "node pubsub") {
        assert!(
            text.contains("node-redis pubsub ok") && text.contains("ioredis pubsub ok"),
            "{text}"
        );
    }
}

#[test]
fn node_redis_client_side_cache() {
    if !have_node_modules() {
        return;
    }
    for text in run_client("node", "tests/clients/node_caching.mjs", "node caching") {
        assert!(text.contains("node-redis client-side cache ok"), "{text}");
    }
}
