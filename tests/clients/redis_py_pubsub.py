"""redis-py's pub/sub in its default usage against corekv (redis-py 8 speaks RESP3): `pubsub()`
with subscribe / psubscribe and get_message, a message handler run by `run_in_thread`, the
`listen()` generator, and PUBSUB queries; with a RESP2 client too. Run by tests/clients.rs:

    python3 tests/clients/redis_py_pubsub.py PORT
"""
import sys
import threading
import time

import redis

port = int(sys.argv[1])


def wait_message(p, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = p.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if m is not None:
            return m
    raise AssertionError("no message")


for protocol in (None, 2):
    kw = {} if protocol is None else {"protocol": protocol}
    r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True, **kw)
    # Subscribers on several connections (spread over the server's cores).
    subs = [r.pubsub() for _ in range(6)]
    for i, p in enumerate(subs):
        if i % 2 == 0:
            p.subscribe("py:events")
        else:
            p.psubscribe("py:*")
    for p in subs:
        m = p.get_message(timeout=2)
        assert m and m["type"] in ("subscribe", "psubscribe"), m
    assert r.pubsub_numsub("py:events") == [("py:events", 3)], r.pubsub_numsub("py:events")
    assert r.pubsub_numpat() == 1
    assert r.pubsub_channels() == ["py:events"], r.pubsub_channels()
    for n in range(50):
        assert r.publish("py:events", f"e{n}") == 6
    for i, p in enumerate(subs):
        got = [wait_message(p) for _ in range(50)]
        assert [m["data"] for m in got] == [f"e{n}" for n in range(50)], (i, got[:3])
        if i % 2 == 1:
            assert all(m["type"] == "pmessage" and m["pattern"] == "py:*" for m in got)
        p.close()

    # A handler in a background thread (run_in_thread), as applications use it.
    seen = []
    done = threading.Event()

    def handler(m):
        seen.append(m["data"])
        if len(seen) == 20:
            done.set()

    p = r.pubsub(ignore_subscribe_messages=True)
    p.subscribe(**{"py:jobs": handler})
    worker = p.run_in_thread(sleep_time=0.01)
    deadline = time.time() + 5
    while r.pubsub_numsub("py:jobs")[0][1] != 1 and time.time() < deadline:
        time.sleep(0.01)
    for n in range(20):
        r.publish("py:jobs", str(n))
    assert done.wait(5), seen
    assert seen == [str(n) for n in range(20)], seen
    worker.stop()
    worker.join(2)
    p.close()

    # listen(): the generator yields confirmations, then messages.
    p = r.pubsub()
    p.subscribe("py:listen")
    it = p.listen()
    assert next(it)["type"] == "subscribe"
    r.publish("py:listen", "hello")
    m = next(it)
    assert (m["type"], m["channel"], m["data"]) == ("message", "py:listen", "hello"), m
    p.unsubscribe()
    assert next(it)["type"] == "unsubscribe"
    p.close()
    r.close()
print("redis-py pubsub ok")
