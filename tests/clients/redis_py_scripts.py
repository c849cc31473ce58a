"""redis-py's scripting in its default usage against corekv: `Lock` (SET NX PX, then Lua
scripts for release, extend and reacquire, through register_script: EVALSHA with the NOSCRIPT
fallback), `register_script` directly, and many threads contending for one lock, which must
never be held by two at once. Run by tests/clients.rs:

    python3 tests/clients/redis_py_scripts.py PORT
"""
import sys
import threading
import time

import redis

port = int(sys.argv[1])
# The library's defaults (redis-py 8 speaks RESP3: HELLO 3).
r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
r.flushall()
r.script_flush()

# A Lock: acquire, extend, reacquire, release (each of the last three is a Lua script).
lock = r.lock("py:lock", timeout=5)
assert lock.acquire(blocking=False), "first acquire"
assert not r.lock("py:lock", timeout=5).acquire(blocking=False), "second holder"
assert lock.extend(5), "extend"
assert 5000 < r.pttl("py:lock") <= 10000, r.pttl("py:lock")
assert lock.reacquire(), "reacquire"
assert 4000 < r.pttl("py:lock") <= 5000, r.pttl("py:lock")
lock.release()
assert r.get("py:lock") is None, "released"
try:
    lock.release()
    raise AssertionError("releasing an unheld lock must fail")
except redis.exceptions.LockError:
    pass

# register_script: EVALSHA first, EVAL's fallback on NOSCRIPT, after a SCRIPT FLUSH too.
incr_by = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
assert incr_by(keys=["py:n"], args=[5]) == 5
r.script_flush()
assert incr_by(keys=["py:n"], args=[2]) == 7
assert r.script_exists(incr_by.sha) == [True]

# Contention: 8 threads, each taking the lock 25 times; inside it, a read-modify-write of a
# counter that loses updates unless the lock excludes the others.
r.set("py:counter", 0)
errors = []


def worker():
    c = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    try:
        for _ in range(25):
            with c.lock("py:mutex", timeout=10, blocking_timeout=30, sleep=0.001):
                v = int(c.get("py:counter"))
                c.set("py:counter", v + 1)
    except Exception as e:  # noqa: BLE001 - reported by the main thread
        errors.append(repr(e))


threads = [threading.Thread(target=worker) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, errors
assert r.get("py:counter") == "200", r.get("py:counter")
print("ok")
