// Races of the availability use cases: a computed slot booked at once, and bookings racing rule changes, time off and withdrawal; part of the race suite every store runs.
import { describe, expect, it } from 'vitest';
import { type BookResult, isBookingError, type Schedule, type SetAvailabilityInput } from '../../src/index.js';
import { DOCTOR, type Fixture } from '../support/engine-fixture.js';
import { findViolations } from '../support/invariants.js';
import type { RaceFixtureFactory } from './race-suite.js';

const N = 20;
const ROUNDS = 4;
const CROWD = 200;
const MINUTE = 60_000;
const DAY = 86_400_000;

/** Every day 08:00–20:00 in Berlin, 30-minute slots. */
const RULES: SetAvailabilityInput = {
  doctorId: DOCTOR,
  timeZone: 'Europe/Berlin',
  weekly: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '08:00', to: '20:00' }],
  slotMinutes: 30,
  fee: { amount: 5000, currency: 'eur' },
};

/** 09:00 Berlin (CET) on the `round`-th day after the fixture's first Monday, plus `minutes`. */
const when = (round: number, minutes = 0): Date =>
  new Date(Date.parse('2030-03-04T08:00:00Z') + round * DAY + minutes * MINUTE);

let patientCount = 0;
function addPatients(f: Fixture, count: number, plan: string, related = false): string[] {
  return Array.from({ length: count }, () => {
    patientCount++;
    const id = `64c1${patientCount.toString(16).padStart(20, '0')}`;
    f.patients.addPatient({ id, name: `Rival ${patientCount}`, plan });
    if (related) f.patients.addRelation({ doctorId: DOCTOR, patientId: id });
    return id;
  });
}

function outcomes(settled: readonly PromiseSettledResult<unknown>[]) {
  const made = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const codes = settled.flatMap((r) => {
    if (r.status === 'fulfilled') return [];
    const error = r.reason as Error;
    return [isBookingError(error) && error.code !== 'STORE_ERROR' ? error.code : `${error?.name}: ${error?.message}`];
  });
  return { made, codes };
}

async function expectConsistent(f: Fixture, round: number): Promise<void> {
  expect(await findViolations(f.store, { now: f.clock.now() }), `invariants after round ${round}`).toEqual([]);
}

const isActive = (status: string) => status === 'pending' || status === 'scheduled';

export function describeAvailabilityRaces(label: string, fixture: RaceFixtureFactory): void {
  describe(`${label}: availability`, () => {
    it(`gives a computed slot to exactly one of ${CROWD} patients booking it at once`, async () => {
      const f = await fixture();
      await f.engine.setAvailability(RULES);
      const paying = addPatients(f, CROWD / 2, 'standard');
      const free = addPatients(f, CROWD / 2, 'vise', true);
      const patients = paying.flatMap((p, i) => [p, free[i] as string]);
      const settled = await Promise.allSettled(
        patients.map((patientId) => f.engine.book({ patientId, doctorId: DOCTOR, startTime: when(0, 60) })),
      );
      const { made, codes } = outcomes(settled);
      expect(made).toHaveLength(1);
      expect(codes).toEqual(Array.from({ length: CROWD - 1 }, () => 'SCHEDULE_UNAVAILABLE'));
      const winner = (made[0] as BookResult).booking;
      const rows = await f.engine.listSchedules({ doctorId: DOCTOR });
      expect(rows.map((s) => s.id)).toEqual([winner.scheduleId]);
      expect((await f.engine.listBookings({ doctorId: DOCTOR, limit: 1000 })).map((b) => b.id)).toEqual([winner.id]);
      await expectConsistent(f, 0);
    }, 120_000);

    it('books each computed time under the old rules or the new ones, never a mix, when bookings race setAvailability', async () => {
      const f = await fixture();
      const old = await f.engine.setAvailability(RULES);
      // The new rules: 45-minute slots from 08:00, with a 15-minute buffer after each.
      const next: SetAvailabilityInput = { ...RULES, slotMinutes: 45, bufferAfterMinutes: 15 };
      let current = old;
      for (let round = 0; round < ROUNDS; round++) {
        const patients = addPatients(f, N, 'vise', true);
        // Half the patients ask for a time on the current grid, half on the other one.
        const times = patients.map((_, i) => when(round, i % 2 === 0 ? (i / 2) * 30 : ((i - 1) / 2) * 60));
        const change = round % 2 === 0 ? next : RULES;
        const settled = await Promise.allSettled([
          f.engine.setAvailability(change),
          ...patients.map((patientId, i) =>
            f.engine.book({ patientId, doctorId: DOCTOR, startTime: times[i] as Date }),
          ),
        ]);
        const [changed, ...books] = settled;
        expect(changed?.status).toBe('fulfilled');
        const record = (changed as PromiseFulfilledResult<typeof old>).value;
        const { codes } = outcomes(books);
        expect(
          codes.every((c) => c === 'SCHEDULE_UNAVAILABLE'),
          codes.join(','),
        ).toBe(true);
        // Every booking's slot came from the version before or the new one, and sits on that version's grid.
        const versions = new Map([
          [current.id, current.rules],
          [record.id, record.rules],
        ]);
        for (const b of await f.engine.listBookings({ doctorId: DOCTOR, status: 'scheduled', limit: 1000 })) {
          if (b.slotStart < when(round) || b.slotStart >= when(round + 1)) continue;
          const slot = await f.engine.getSchedule(b.scheduleId);
          const rules = versions.get(slot.availabilityId ?? '');
          expect(rules, `booking ${b.id} came from ${slot.availabilityId}`).toBeDefined();
          const offset = (b.slotStart.getTime() - when(round, -60).getTime()) / MINUTE;
          expect(offset % (rules?.slotMinutes ?? 1)).toBe(0);
          expect((b.slotEnd.getTime() - b.slotStart.getTime()) / MINUTE).toBe(rules?.slotMinutes);
        }
        current = record;
        await expectConsistent(f, round);
      }
    }, 120_000);

    for (const onConflict of ['reject', 'cancelAndRefund'] as const) {
      it(`never leaves a booking inside time off when bookings race addTimeOff (${onConflict})`, async () => {
        const f = await fixture();
        await f.engine.setAvailability(RULES);
        for (let round = 0; round < ROUNDS; round++) {
          const patients = addPatients(f, N, round % 2 === 0 ? 'standard' : 'vise', round % 2 === 1);
          const period = { start: when(round, 60), end: when(round, 60 + 5 * 30) };
          const settled = await Promise.allSettled([
            f.engine.addTimeOff({ doctorId: DOCTOR, ...period, onConflict }),
            // Inside the period, and just outside it on both sides.
            ...patients.map((patientId, i) =>
              f.engine.book({ patientId, doctorId: DOCTOR, startTime: when(round, 30 + (i % 7) * 30) }),
            ),
          ]);
          const [added, ...books] = settled;
          const { codes } = outcomes(books);
          expect(
            codes.every((c) => c === 'SCHEDULE_UNAVAILABLE'),
            codes.join(','),
          ).toBe(true);
          const timeOff = await f.engine.listTimeOff({ doctorId: DOCTOR, from: period.start, to: period.end });
          const active = (await f.engine.listBookings({ doctorId: DOCTOR, limit: 1000 })).filter(
            (b) => isActive(b.status) && b.slotStart < period.end && period.start < b.slotEnd,
          );
          if (added?.status === 'fulfilled') {
            expect(timeOff).toHaveLength(1);
            expect(active).toEqual([]);
          } else {
            // Only `reject` may refuse, and only because a booking got there first.
            expect(onConflict).toBe('reject');
            expect((added as PromiseRejectedResult).reason).toMatchObject({ code: 'SCHEDULE_UNAVAILABLE' });
            expect(timeOff).toEqual([]);
            expect(active.length).toBeGreaterThan(0);
          }
          await expectConsistent(f, round);
        }
      }, 120_000);
    }

    it('a published slot is either withdrawn or booked, never both, when bookings race withdrawSchedule and addTimeOff', async () => {
      const f = await fixture();
      for (let round = 0; round < ROUNDS; round++) {
        const slots: Schedule[] = [];
        for (let i = 0; i < 2; i++) {
          slots.push(
            await f.engine.createSchedule({
              doctorId: DOCTOR,
              startTime: when(round, i * 120),
              endTime: when(round, i * 120 + 30),
              fee: { amount: 5000, currency: 'eur' },
              timeZone: 'Europe/Berlin',
            }),
          );
        }
        const [withdrawn, covered] = slots as [Schedule, Schedule];
        const patients = addPatients(f, N, round % 2 === 0 ? 'standard' : 'vise', round % 2 === 1);
        const settled = await Promise.allSettled([
          f.engine.withdrawSchedule({ scheduleId: withdrawn.id, actor: { role: 'doctor', id: DOCTOR } }),
          f.engine.addTimeOff({ doctorId: DOCTOR, start: covered.startTime, end: covered.endTime }),
          ...patients.map((patientId, i) =>
            f.engine.book({ patientId, scheduleId: (i % 2 === 0 ? withdrawn : covered).id }),
          ),
        ]);
        const [withdraw, off, ...books] = settled;
        const { codes } = outcomes(books);
        expect(
          codes.every((c) => c === 'SCHEDULE_UNAVAILABLE' || c === 'SCHEDULE_NOT_FOUND'),
          codes.join(','),
        ).toBe(true);
        for (const [slot, result] of [
          [withdrawn, withdraw],
          [covered, off],
        ] as const) {
          const row = await f.store.getSchedule(slot.id);
          const holders = (await f.engine.listBookings({ scheduleId: slot.id })).filter((b) => isActive(b.status));
          if (result?.status === 'fulfilled') {
            expect(row, `slot ${slot.id} is gone`).toBeNull();
            expect(holders).toEqual([]);
          } else {
            expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'SCHEDULE_UNAVAILABLE' });
            expect(holders).toHaveLength(1);
          }
        }
        await expectConsistent(f, round);
      }
    }, 120_000);
  });
}
