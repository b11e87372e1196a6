// One host process for the wallet-balance race: its own pool and store on the shared database; on "go" it appends its ledger lines, all at once, and reports.
import { createInterface } from 'node:readline';
import pg from 'pg';
import { PostgresStore } from '../../../src/adapters/postgres/index.js';
import { isBookingError, type NewLedgerEntry } from '../../../src/index.js';

/** What the parent test passes in CARESLOT_LEDGER_PROCESS (JSON). */
export interface LedgerProcessConfig {
  pool: pg.PoolConfig;
  schema: string;
  poolSize: number;
  maxAttempts: number;
  /** Dates as ISO strings. */
  entries: (Omit<NewLedgerEntry, 'createdAt'> & { createdAt: string })[];
}

const config = JSON.parse(process.env.CARESLOT_LEDGER_PROCESS ?? '{}') as LedgerProcessConfig;
const send = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`);

const pool = new pg.Pool({ ...config.pool, max: config.poolSize, idleTimeoutMillis: 0 });
pool.on('error', () => {});
const store = new PostgresStore({
  pool,
  schema: config.schema,
  transactionOptions: { maxAttempts: config.maxAttempts },
});
await store.ready();
// Connections opened before the signal, so the appends start together.
const warm = await Promise.all(Array.from({ length: config.poolSize }, () => pool.connect()));
for (const client of warm) client.release();
send({ phase: 'ready' });

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() !== 'go') break;
  const settled = await Promise.allSettled(
    config.entries.map((e) =>
      store.transaction((tx) => tx.appendLedgerEntry({ ...e, createdAt: new Date(e.createdAt) })),
    ),
  );
  const added: string[] = [];
  const errors: string[] = [];
  for (const [i, r] of settled.entries()) {
    if (r.status === 'fulfilled') {
      if (r.value) added.push(config.entries[i]?.key ?? '');
    } else errors.push(isBookingError(r.reason) ? `${r.reason.code}: ${r.reason.message}` : String(r.reason));
  }
  send({ phase: 'done', added, errors });
  break;
}
await pool.end();
process.exit(0);
