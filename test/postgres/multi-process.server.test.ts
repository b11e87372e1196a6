// Four Node processes, each with its own engine and pool on one PostgreSQL database: 250 concurrent books of one slot, then a mixed load, then the invariants over SQL.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { BookingEngine, type Schedule } from '../../src/index.js';
import { MemoryPatientDirectory, TestPaymentGateway } from '../../src/testing/index.js';
import { findViolations } from '../support/invariants.js';
import type { ProcessConfig } from './support/booking-process.js';
import { announcePostgresSkip } from './support/postgres-server.js';
import { type ServerTarget, serverAvailable, serverTarget, skippedWithoutServer } from './support/targets.js';

announcePostgresSkip('PostgreSQL multi-process test (test/postgres/multi-process.server.test.ts)');

const PROCESSES = 4;
const BOOKS = 250;
const START = '2030-03-01T08:00:00Z';
const DOCTORS = ['64b0000000000000000000d1', '64b0000000000000000000d2'];
const patientId = (i: number) => `64d0${i.toString(16).padStart(20, '0')}`;

type Message = { phase: string; [key: string]: unknown };

/** A booking process, with its replies queued by phase. */
class HostProcess {
  private readonly replies: Message[] = [];
  private waiting: ((m: Message) => void) | null = null;
  private stderr = '';
  readonly exited: Promise<number | null>;

  constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let message: Message;
      try {
        message = JSON.parse(line) as Message;
      } catch {
        return;
      }
      if (this.waiting) {
        this.waiting(message);
        this.waiting = null;
      } else this.replies.push(message);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4000);
    });
    this.exited = new Promise((resolve) => child.once('exit', resolve));
  }

  static start(config: ProcessConfig): HostProcess {
    const script = join(import.meta.dirname, 'support/booking-process.ts');
    return new HostProcess(
      spawn(process.execPath, ['--import', 'tsx', script], {
        env: { ...process.env, CARESLOT_PROCESS: JSON.stringify(config) },
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
  }

  /** The next reply, which must be `phase` (fails with the process's stderr otherwise). */
  async next(phase: string, timeoutMs = 60_000): Promise<Message> {
    const queued = this.replies.shift();
    const message =
      queued ??
      (await Promise.race([
        new Promise<Message>((resolve) => {
          this.waiting = resolve;
        }),
        this.exited.then((code) => ({ phase: 'exit', code }) as Message),
        new Promise<Message>((resolve) => setTimeout(() => resolve({ phase: 'timeout' }), timeoutMs)),
      ]));
    this.waiting = null;
    if (message.phase !== phase || message.error) {
      throw new Error(`process answered ${JSON.stringify(message)} instead of ${phase}:\n${this.stderr}`);
    }
    return message;
  }

  send(command: string): void {
    this.child.stdin?.write(`${command}\n`);
    if (command === 'exit') this.child.stdin?.end();
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

if (serverAvailable) {
  const t: ServerTarget = await serverTarget({ poolSize: 10 });
  const hosts: HostProcess[] = [];
  afterAll(async () => {
    for (const host of hosts) host.kill();
    await t.close();
  });

  describe('four host processes on one PostgreSQL database', () => {
    it(`books one slot exactly once for ${BOOKS} concurrent calls from ${PROCESSES} processes, keeps every invariant through a mixed load, and leaves nothing pending after reconcile`, async () => {
      const store = await t.store({ schema: 'careslot_processes' });
      // The parent publishes the slots with its own engine; the processes book them.
      const engine = new BookingEngine({
        store,
        payments: new TestPaymentGateway(),
        patients: new MemoryPatientDirectory(),
        clock: { now: () => new Date(START) },
      });
      const slot = (doctorId: string, hoursAhead: number): Promise<Schedule> => {
        const start = new Date(new Date(START).getTime() + hoursAhead * 3_600_000);
        return engine.createSchedule({
          doctorId,
          startTime: start,
          endTime: new Date(start.getTime() + 30 * 60_000),
          fee: { amount: 5000, currency: 'eur' },
          timeZone: 'Europe/Berlin',
        });
      };
      const contended = await slot(DOCTORS[0] as string, 72);
      const shared: string[] = [];
      for (let i = 0; i < 200; i++) shared.push((await slot(DOCTORS[i % 2] as string, 96 + i)).id);
      const all = Array.from({ length: BOOKS }, (_, i) => patientId(i));
      for (let p = 0; p < PROCESSES; p++) {
        hosts.push(
          HostProcess.start({
            pool: t.server.config(t.database),
            schema: store.schema,
            start: START,
            doctorIds: DOCTORS,
            patients: all,
            own: all.filter((_, i) => i % PROCESSES === p),
            contendSlot: contended.id,
            slots: shared,
            operations: 400,
            maxMs: 25_000,
            seed: 1000 + p,
          }),
        );
      }
      await Promise.all(hosts.map((h) => h.next('ready')));

      // 1. Every process fires its share of the 250 books at the same slot, all at once.
      for (const h of hosts) h.send('contend');
      const contend = await Promise.all(hosts.map((h) => h.next('contend')));
      const winners = contend.flatMap((m) => m.bookings as string[]);
      expect(winners).toHaveLength(1);
      const codes: Record<string, number> = {};
      for (const m of contend) {
        for (const [code, n] of Object.entries(m.codes as Record<string, number>)) codes[code] = (codes[code] ?? 0) + n;
      }
      expect(codes).toEqual({ SCHEDULE_UNAVAILABLE: BOOKS - 1 });
      const rows = await t.pool.query(`SELECT id, status FROM ${store.tables.bookings} WHERE doctor_schedule_id = $1`, [
        contended.id,
      ]);
      expect(rows.rows).toEqual([{ id: winners[0], status: 'pending' }]);

      // 2. A bounded mixed load from all four, then each lets its holds time out and sweeps.
      for (const h of hosts) h.send('mixed');
      const mixed = await Promise.all(hosts.map((h) => h.next('mixed', 90_000)));
      for (const h of hosts) h.send('settle');
      const settled = await Promise.all(hosts.map((h) => h.next('settle')));
      for (const h of hosts) h.send('exit');
      expect(await Promise.all(hosts.map((h) => h.exited))).toEqual(hosts.map(() => 0));

      const outcomes: Record<string, number> = {};
      for (const m of mixed) {
        expect(m.unexpected).toEqual([]);
        for (const [key, n] of Object.entries(m.outcomes as Record<string, number>))
          outcomes[key] = (outcomes[key] ?? 0) + n;
      }
      console.log('multi-process mixed load:', JSON.stringify(outcomes));
      for (const op of ['book', 'pay', 'decline', 'cancel', 'reschedule', 'refund'])
        expect(outcomes[op] ?? 0, `${op} operations`).toBeGreaterThan(3);

      // 3. The invariants, through the store and straight in SQL.
      const now = new Date(Math.max(...settled.map((m) => new Date(m.now as string).getTime())));
      expect(await findViolations(store, { now })).toEqual([]);
      const sql = async (text: string) => (await t.pool.query(text)).rows;
      const tb = store.tables;
      expect(
        await sql(`SELECT doctor_schedule_id FROM ${tb.bookings} WHERE status IN ('pending', 'scheduled')
                   GROUP BY doctor_schedule_id HAVING count(*) > 1`),
      ).toEqual([]);
      expect(await sql(`SELECT count(*)::int AS n FROM ${tb.bookings} WHERE status = 'pending'`)).toEqual([{ n: 0 }]);
      expect(await sql(`SELECT key FROM ${tb.ledger} GROUP BY key HAVING count(*) > 1`)).toEqual([]);
      // Each doctor's wallet (credits − debits) is what was paid and credited minus what was refunded.
      const wallets = await sql(`
        WITH wallet AS (
          SELECT doctor_id, sum(CASE kind WHEN 'credit' THEN amount ELSE -amount END) AS balance
          FROM ${tb.ledger} GROUP BY doctor_id
        ), owed AS (
          SELECT b.doctor_id, sum(p.amount - COALESCE((
            SELECT sum((r->>'amount')::bigint) FROM jsonb_array_elements(p.refunds) AS r WHERE r->>'status' = 'succeeded'
          ), 0)) AS balance
          FROM ${tb.payments} p JOIN ${tb.bookings} b ON b.id = p.reference_id
          WHERE p.credited GROUP BY b.doctor_id
        )
        SELECT w.doctor_id, w.balance::bigint::text AS wallet, COALESCE(o.balance, 0)::bigint::text AS owed
        FROM wallet w FULL JOIN owed o ON o.doctor_id = w.doctor_id`);
      expect(wallets.length).toBeGreaterThan(0);
      for (const w of wallets) expect(w.wallet).toBe(w.owed);
      expect(
        Number((await sql(`SELECT count(*)::int AS n FROM ${tb.bookings} WHERE status = 'scheduled'`))[0]?.n),
      ).toBeGreaterThan(0);
      // Holds timed out too (the processes' clocks moved on past them).
      expect(
        Number(
          (await sql(`SELECT count(*)::int AS n FROM ${tb.bookings} WHERE cancel_reason = 'payment_timeout'`))[0]?.n,
        ),
      ).toBeGreaterThan(0);
    }, 180_000);
  });
} else {
  skippedWithoutServer('multi-process test');
}
