// rate-limiter-flexible (its Lua increment script) over ioredis (defineCommand: EVALSHA with
// the NOSCRIPT fallback) and node-redis (EVAL) against corekv. Run by tests/clients.rs:
// node tests/clients/node_rate_limit.mjs PORT
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { createClient } from 'redis';
import Redis from 'ioredis';

const port = Number(process.argv[2]);
const check = (ok, what) => {
  if (!ok) {
    console.error('FAIL', what);
    process.exit(1);
  }
};

// Many concurrent consumers of one key: exactly `points` of them get through.
async function limits(limiter, name) {
  for (const user of ['alice', 'bob', 'carol', 'dave']) {
    const tries = await Promise.allSettled(
      Array.from({ length: 20 }, () => limiter.consume(user)));
    const passed = tries.filter((t) => t.status === 'fulfilled').length;
    const refused = tries.filter((t) => t.status === 'rejected');
    check(passed === 5, `${name}: ${passed} of 20 got through for ${user}, not 5`);
    check(refused.every((t) => t.reason && t.reason.msBeforeNext > 0
      && t.reason.remainingPoints === 0), `${name}: a refusal is not a RateLimiterRes`);
  }
  const res = await limiter.get('alice');
  check(res && res.consumedPoints === 20, `${name}: get: ${JSON.stringify(res)}`);
  await limiter.delete('alice');
  const again = await limiter.consume('alice', 2);
  check(again.remainingPoints === 3, `${name}: after delete: ${JSON.stringify(again)}`);
  await limiter.penalty('bob', 1);
  await limiter.reward('bob', 100);
  const bob = await limiter.consume('bob');
  check(bob.remainingPoints >= 0, `${name}: after reward: ${JSON.stringify(bob)}`);
}

const io = new Redis({ host: '127.0.0.1', port });
await io.flushall();
await limits(new RateLimiterRedis({ storeClient: io, points: 5, duration: 30, keyPrefix: 'io' }),
  'ioredis');
// The script cache flushed: EVALSHA answers NOSCRIPT, ioredis falls back to EVAL.
await io.script('FLUSH');
const after = await new RateLimiterRedis({ storeClient: io, points: 5, duration: 30, keyPrefix: 'io2' })
  .consume('erin');
check(after.remainingPoints === 4, 'ioredis after SCRIPT FLUSH: ' + JSON.stringify(after));
io.disconnect();
console.log('ioredis rate limit ok');

const c = createClient({ socket: { host: '127.0.0.1', port } });
c.on('error', (e) => { console.error('node-redis error', e); process.exit(1); });
await c.connect();
await limits(new RateLimiterRedis({ storeClient: c, useRedisPackage: true, points: 5,
  duration: 30, keyPrefix: 'nr' }), 'node-redis');
await c.quit();
console.log('node-redis rate limit ok');
