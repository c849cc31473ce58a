"""redis-py against corekv, the library's default usage of transactions: `pipeline()` (MULTI/EXEC
by default), `transaction()` with WATCH and retries, a non-transactional pipeline. Run by tests/clients.rs:

    python3 tests/clients/redis_py_transactions.py PORT
"""
import sys
import threading

import redis

port = int(sys.argv[1])
# The library's defaults (redis-py 8 speaks RESP3: HELLO 3).
r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
r.flushall()

# pipeline(): transactional by default; replies come back as one list, errors in place.
with r.pipeline() as p:
    p.set("py:a", "1").incr("py:a").incrby("py:b", 5).mget("py:a", "py:b", "py:none")
    assert p.execute() == [True, 2, 5, ["2", "5", None]], "pipeline()"

with r.pipeline() as p:
    p.set("py:s", "x").incr("py:s").get("py:s")
    res = p.execute(raise_on_error=False)
    assert res[0] is True and isinstance(res[1], redis.ResponseError) and res[2] == "x", res

# A queue-time error discards the transaction (EXECABORT), nothing is applied.
with r.pipeline() as p:
    p.set("py:never", "1")
    p.execute_command("NOSUCHCOMMAND")
    try:
        p.execute()
        raise AssertionError("EXECABORT expected")
    except redis.ResponseError as e:
        assert "EXECABORT" in str(e) or "unknown command" in str(e), e
assert r.get("py:never") is None

# transaction(): WATCH, read, MULTI/EXEC, retried by redis-py when a watched key changed.
r.set("py:counter", 0)
r.set("py:mirror", 0)


def bump(pipe):
    v = int(pipe.get("py:counter"))
    pipe.multi()
    pipe.set("py:counter", v + 1)
    pipe.set("py:mirror", v + 1)


def worker():
    c = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    for _ in range(50):
        c.transaction(bump, "py:counter", "py:mirror")


threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert r.get("py:counter") == "200" and r.get("py:mirror") == "200", (
    r.get("py:counter"), r.get("py:mirror"))

# Non-transactional pipeline still works.
with r.pipeline(transaction=False) as p:
    for i in range(100):
        p.set(f"py:k{i}", i)
    assert all(p.execute())
assert r.mget([f"py:k{i}" for i in range(100)]) == [str(i) for i in range(100)]

print("redis-py", redis.__version__, "ok")
