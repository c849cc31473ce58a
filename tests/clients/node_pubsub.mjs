// node-redis (its defaults, and RESP3) and ioredis pub/sub against corekv: subscribe and
// pSubscribe on a duplicate() connection, messages in publish order, unsubscribe; ioredis's
// subscriber mode. Run by tests/clients.rs: node tests/clients/node_pubsub.mjs PORT
import { createClient } from 'redis';
import Redis from 'ioredis';

const port = Number(process.argv[2]);
const check = (ok, what) => {
  if (!ok) {
    console.error('FAIL', what);
    process.exit(1);
  }
};
const until = async (f, what) => {
  for (let i = 0; i < 500; i++) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  check(false, what);
};

for (const opts of [{}, { RESP: 3 }]) {
  const c = createClient({ socket: { host: '127.0.0.1', port }, ...opts });
  c.on('error', (e) => { console.error('node-redis error', e); process.exit(1); });
  await c.connect();
  const subs = [];
  const got = [];
  for (let i = 0; i < 4; i++) {
    const s = c.duplicate();
    s.on('error', (e) => { console.error('node-redis sub error', e); process.exit(1); });
    await s.connect();
    const mine = [];
    got.push(mine);
    if (i % 2 === 0) {
      await s.subscribe('node:ch', (m, ch) => mine.push(`${ch}:${m}`));
    } else {
      await s.pSubscribe('node:*', (m, ch) => mine.push(`${ch}:${m}`));
    }
    subs.push(s);
  }
  for (let n = 0; n < 30; n++) {
    const receivers = await c.publish('node:ch', `m${n}`);
    check(receivers === 4, `publish counted ${receivers}`);
  }
  await until(() => got.every((g) => g.length === 30), 'messages: ' + JSON.stringify(got.map((g) => g.length)));
  const want = [...Array(30).keys()].map((n) => `node:ch:m${n}`);
  check(got.every((g) => JSON.stringify(g) === JSON.stringify(want)), 'order: ' + JSON.stringify(got[0]));
  const numsub = await c.pubSubNumSub('node:ch');
  check(numsub['node:ch'] === 2, 'numsub ' + JSON.stringify(numsub));
  await subs[0].unsubscribe('node:ch');
  await until(async () => (await c.pubSubNumSub('node:ch'))['node:ch'] === 1, 'unsubscribe');
  // The subscribed connection still answers (RESP3 allows any command; PING in RESP2).
  for (const s of subs) {
    await s.quit();
  }
  await c.quit();
}
console.log('node-redis pubsub ok');

const sub = new Redis({ host: '127.0.0.1', port });
const pub = new Redis({ host: '127.0.0.1', port });
const seen = [];
sub.on('message', (ch, m) => seen.push(m));
sub.on('pmessage', (p, ch, m) => seen.push(`p:${m}`));
await sub.subscribe('io:ch');
await sub.psubscribe('io:*');
for (let n = 0; n < 10; n++) {
  check((await pub.publish('io:ch', String(n))) === 2, 'ioredis publish count');
}
await until(() => seen.length === 20, 'ioredis messages ' + seen.length);
check(seen.filter((m) => !m.startsWith('p:')).join(',') === '0,1,2,3,4,5,6,7,8,9', 'ioredis order ' + seen);
sub.disconnect();
pub.disconnect();
console.log('ioredis pubsub ok');
