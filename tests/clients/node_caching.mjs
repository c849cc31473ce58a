// node-redis's client-side cache (RESP3, CLIENT TRACKING, invalidation pushes) against corekv:
// a cached GET is served locally until another client changes the key on any shard, then read
// again; FLUSHALL empties the cache. Run by tests/clients.rs: node tests/clients/node_caching.mjs PORT
import { createClient, BasicClientSideCache } from 'redis';

const port = Number(process.argv[2]);
const check = (ok, what) => {
  if (!ok) {
    console.error('FAIL', what);
    process.exit(1);
  }
};
const until = async (f, what) => {
  for (let i = 0; i < 300; i++) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  check(false, what);
};

const cache = new BasicClientSideCache({ ttl: 0, maxEntries: 0, evictPolicy: 'LRU' });
const c = createClient({ socket: { host: '127.0.0.1', port }, RESP: 3, clientSideCache: cache });
const w = createClient({ socket: { host: '127.0.0.1', port } });
for (const x of [c, w]) {
  x.on('error', (e) => { console.error('node-redis error', e); process.exit(1); });
  await x.connect();
}
const keys = ['csc:a', 'csc:b', 'csc:c', 'csc:d', 'csc:e', 'csc:f'];
for (const k of keys) await w.set(k, 'v1');
for (const k of keys) check((await c.get(k)) === 'v1', 'first read ' + k);
const hits0 = cache.stats().hitCount;
for (const k of keys) check((await c.get(k)) === 'v1', 'cached read ' + k);
check(cache.stats().hitCount - hits0 === keys.length, 'served from cache: ' + JSON.stringify(cache.stats()));
// Another client changes the keys (spread over the shards): the cache drops them.
for (const k of keys) await w.set(k, 'v2');
for (const k of keys) {
  await until(async () => (await c.get(k)) === 'v2', 'invalidated ' + k);
}
await w.flushAll();
await until(async () => (await c.get('csc:a')) === null, 'flushall');
await c.quit();
await w.quit();
console.log('node-redis client-side cache ok');
