"""redis-py in its default usage (RESP3 in redis-py 8) and with RESP2 against corekv: a job
queue with BRPOP consumers on several connections, a reliable queue with BLMOVE / LMOVE, a
leaderboard on sorted sets (scores come back as floats, pairs as tuples), and unique-visitor
counts with HyperLogLog. Run by tests/clients.rs:

    python3 tests/clients/redis_py_collections.py PORT
"""
import sys
import threading

import redis

port = int(sys.argv[1])

for protocol in (None, 2):
    kw = {} if protocol is None else {"protocol": protocol}
    r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True, **kw)
    r.flushall()

    # A job queue: consumers wait in BRPOP on two queues, producers push.
    got, lock = [], threading.Lock()

    def consume():
        c = redis.Redis(host="127.0.0.1", port=port, decode_responses=True, **kw)
        while True:
            item = c.brpop(["jobs:high", "jobs:low"], timeout=1)
            if item is None:
                return
            queue, job = item
            assert queue in ("jobs:high", "jobs:low"), item
            with lock:
                got.append(job)

    consumers = [threading.Thread(target=consume) for _ in range(3)]
    for t in consumers:
        t.start()
    p = redis.Redis(host="127.0.0.1", port=port, decode_responses=True, **kw)
    with p.pipeline(transaction=False) as pipe:
        for i in range(500):
            pipe.lpush("jobs:high" if i % 3 == 0 else "jobs:low", f"job-{i}")
        pipe.execute()
    for t in consumers:
        t.join()
    assert sorted(got) == sorted(f"job-{i}" for i in range(500)), len(got)
    assert len(set(got)) == 500

    # A reliable queue: move to a processing list, acknowledge with LREM.
    r.rpush("tasks", "a", "b", "c")
    assert r.blmove("tasks", "processing", timeout=1, src="LEFT", dest="RIGHT") == "a"
    assert r.lmove("tasks", "processing", "LEFT", "RIGHT") == "b"
    assert r.brpoplpush("tasks", "processing", timeout=1) == "c"
    assert r.lrange("processing", 0, -1) == ["c", "a", "b"]
    assert r.lrem("processing", 1, "b") == 1
    assert r.blpop(["tasks"], timeout=0.1) is None
    assert r.lpos("processing", "a") == 1
    assert r.linsert("processing", "BEFORE", "a", "x") == 3
    assert r.lrange("processing", 0, -1) == ["c", "x", "a"]
    assert r.lmpop(2, "nothing", "processing", direction="RIGHT", count=2) == ["processing", ["a", "x"]]

    # A leaderboard.
    assert r.zadd("board", {"ann": 10, "bob": 20, "cid": 15}) == 3
    assert r.zincrby("board", 7.5, "ann") == 17.5
    assert r.zscore("board", "ann") == 17.5
    assert r.zrevrange("board", 0, 1, withscores=True) == [("bob", 20.0), ("ann", 17.5)]
    assert r.zrank("board", "cid") == 0
    assert r.zrevrank("board", "cid") == 2
    assert r.zrangebyscore("board", 16, "+inf", start=0, num=1) == ["ann"]
    assert r.zcount("board", "-inf", "+inf") == 3
    assert r.zadd("board", {"dan": 5}, nx=True) == 1
    assert r.zadd("board", {"dan": 50}, xx=True, ch=True) == 1
    assert r.zpopmin("board") == [("cid", 15.0)]
    assert r.bzpopmax(["board"], timeout=1) == ("board", "dan", 50.0)
    r.zadd("week", {"ann": 1, "eve": 3})
    assert r.zunionstore("total", {"board": 1, "week": 10}) == 3
    assert r.zrange("total", 0, -1, withscores=True) == [("bob", 20.0), ("ann", 27.5), ("eve", 30.0)]
    assert r.zinter(["board", "week"], withscores=True) == [("ann", 18.5)]
    assert r.zmscore("board", ["ann", "nobody"]) == [17.5, None]
    assert r.zrandmember("board") in ("ann", "bob")

    # Unique visitors.
    with r.pipeline(transaction=False) as pipe:
        for day in range(3):
            for v in range(day * 500, day * 500 + 1000):
                pipe.pfadd(f"visitors:{day}", f"user-{v}")
        pipe.execute()
    assert abs(r.pfcount("visitors:0") - 1000) < 30, r.pfcount("visitors:0")
    total = r.pfcount("visitors:0", "visitors:1", "visitors:2")
    assert abs(total - 2000) < 60, total
    r.pfmerge("visitors:all", "visitors:0", "visitors:1", "visitors:2")
    assert r.pfcount("visitors:all") == total
    r.close()

print("ok")
