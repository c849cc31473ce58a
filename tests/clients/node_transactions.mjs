// node-redis and ioredis against corekv, their default usage of transactions: `multi()...exec()`,
// and ioredis's WATCH. Run by tests/clients.rs: node tests/clients/node_transactions.mjs PORT
//
// node-redis with its defaults, and again with RESP3 asked for (HELLO 3); ioredis speaks RESP2.
import { createClient } from 'redis';
import Redis from 'ioredis';

const port = Number(process.argv[2]);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const check = (ok, what) => {
  if (!ok) {
    console.error('FAIL', what);
    process.exit(1);
  }
};

let r;
for (const opts of [{}, { RESP: 3 }]) {
  const c = createClient({ socket: { host: '127.0.0.1', port }, ...opts });
  c.on('error', (e) => { console.error('node-redis error', e); process.exit(1); });
  await c.connect();
  await c.flushAll();
  r = await c.multi().set('n:a', '1').incr('n:a').incrBy('n:b', 5)
    .mGet(['n:a', 'n:b', 'n:none']).exec();
  check(same(r, ['OK', 2, 5, ['2', '5', null]]), 'node-redis multi: ' + JSON.stringify(r));
  // A queue-time error discards the transaction.
  let failed = false;
  try {
    await c.multi().set('n:never', '1').addCommand(['NOSUCHCOMMAND']).exec();
  } catch (e) {
    failed = true;
  }
  check(failed && (await c.get('n:never')) === null, 'node-redis EXECABORT');
  await c.quit();
}
console.log('node-redis ok');

const io = new Redis({ host: '127.0.0.1', port });
const other = new Redis({ host: '127.0.0.1', port });
r = await io.multi().set('io:a', 'x').incr('io:c').get('io:a').exec();
check(same(r, [[null, 'OK'], [null, 1], [null, 'x']]), 'ioredis multi: ' + JSON.stringify(r));
await io.watch('io:w', 'io:c');
await other.set('io:w', 'changed');
r = await io.multi().set('io:c', '100').exec();
check(r === null && (await io.get('io:c')) === '1', 'ioredis WATCH abort: ' + JSON.stringify(r));
r = await io.pipeline().set('io:p', '1').incr('io:p').exec();
check(same(r, [[null, 'OK'], [null, 2]]), 'ioredis pipeline: ' + JSON.stringify(r));
io.disconnect();
other.disconnect();
console.log('ioredis ok');
