// The example host's PostgreSQL modes: CARESLOT_DATA_DIR keeps the embedded demo's data in PGlite files across restarts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCareslot } from '../../examples/express/careslot.js';
import { DEMO_DOCTORS, DEMO_PATIENTS } from '../../examples/express/demo-users.js';
import { ManualClock } from '../../src/testing/index.js';
import { pgliteTemplate } from './support/pglite.js';

describe('the example host on PGlite (CARESLOT_DATA_DIR)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'careslot-example-data-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('says it runs on PGlite, and finds its slots and bookings again after a restart', async () => {
    // A data folder a previous run left (saves PGlite's initdb here).
    execFileSync('tar', ['-xf', await pgliteTemplate(), '-C', dir]);
    const clock = new ManualClock('2030-03-01T08:00:00Z');
    const env = { CARESLOT_DATA_DIR: dir };
    const first = await createCareslot(env, { clock, timers: false });
    expect(first.mode).toBe('embedded');
    expect(first.parts.store).toMatch(
      /^PostgresStore on PGlite \(files in .*careslot-example-data-.*kept across restarts\)$/,
    );
    const slot = await first.engine.createSchedule({
      doctorId: DEMO_DOCTORS[0].id,
      startTime: '2030-03-03T09:00:00Z',
      endTime: '2030-03-03T09:30:00Z',
      fee: { amount: 5000, currency: 'eur' },
      timeZone: 'Europe/Berlin',
    });
    const { booking } = await first.engine.book({ patientId: DEMO_PATIENTS[0].id, scheduleId: slot.id });
    await first.close();

    const second = await createCareslot(env, { clock, timers: false });
    expect(await second.engine.getSchedule(slot.id)).toMatchObject({ id: slot.id });
    expect(await second.engine.getBooking(booking.id)).toMatchObject({ id: booking.id, status: booking.status });
    await second.close();
  });

  it('refuses CARESLOT_DATA_DIR with the real services, whose worker is another process', async () => {
    await expect(
      createCareslot({
        CARESLOT_DATA_DIR: dir,
        DATABASE_URL: 'postgres://localhost/x',
      }),
    ).rejects.toThrow(/Set one store/);
    await expect(
      createCareslot({
        CARESLOT_DATA_DIR: dir,
        MONGODB_URI: 'mongodb://localhost/x',
        REDIS_URL: 'redis://localhost',
        STRIPE_SECRET_KEY: 'sk_test_x',
        STRIPE_WEBHOOK_SECRET: 'whsec_x',
      }),
    ).rejects.toThrow(/CARESLOT_DATA_DIR \(PGlite\) serves one process/);
  });
});
