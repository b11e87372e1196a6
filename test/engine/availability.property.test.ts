// Properties of computed slots through the public API: what findSlots lists is bookable, what book accepts was listed, buffers, time off, notice and horizon hold.
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import type { ComputedSlot, SetAvailabilityInput, Weekday } from '../../src/index.js';
import { createFixture, DOCTOR, type Fixture } from '../support/engine-fixture.js';
import { findViolations } from '../support/invariants.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
const ZONES = ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Australia/Lord_Howe', 'UTC', 'Asia/Kolkata'];
const DAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const RUNS = { numRuns: 40, seed: 20_301_202 };

/** Starts near the 2030 clock changes of every zone (and elsewhere), so windows cross them. */
const CLOCK_STARTS = [
  ...ZONES.flatMap((zone) =>
    [3, 4, 10, 11].map((month) => DateTime.fromObject({ year: 2030, month, day: 1 }, { zone }).toMillis()),
  ),
  Date.UTC(2030, 5, 15),
];

const hhmm = (minutes: number) =>
  minutes === 1440
    ? '24:00'
    : `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

const scenario = fc.record({
  zone: fc.constantFrom(...ZONES),
  start: fc.constantFrom(...CLOCK_STARTS),
  startOffsetDays: fc.integer({ min: 0, max: 40 }),
  windows: fc.uniqueArray(
    fc.record({
      days: fc.uniqueArray(fc.constantFrom(...DAYS), { minLength: 1, maxLength: 7 }),
      from: fc.integer({ min: 0, max: 92 }).map((q) => q * 15),
      length: fc.integer({ min: 4, max: 40 }).map((q) => q * 15),
    }),
    { minLength: 1, maxLength: 2, selector: (w) => w.from },
  ),
  slotMinutes: fc.constantFrom(15, 20, 30, 45, 60),
  stepMinutes: fc.option(fc.constantFrom(10, 15, 30), { nil: undefined }),
  bufferBeforeMinutes: fc.integer({ min: 0, max: 20 }),
  bufferAfterMinutes: fc.integer({ min: 0, max: 20 }),
  minNoticeMinutes: fc.integer({ min: 0, max: 600 }),
  horizonDays: fc.integer({ min: 1, max: 6 }),
  steps: fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('bookListed' as const), pick: fc.nat() }),
      fc.record({
        kind: fc.constant('bookAt' as const),
        minutes: fc.integer({ min: 0, max: 5 * 1440 }).map((m) => m - (m % 5)),
      }),
      // Next to a booking made earlier, where buffers decide: the check must see that booking.
      fc.record({
        kind: fc.constant('bookNear' as const),
        pick: fc.nat(),
        offsetMinutes: fc.integer({ min: -90, max: 90 }).map((m) => m - (m % 5)),
      }),
      fc.record({
        kind: fc.constant('timeOff' as const),
        startMinutes: fc.integer({ min: 0, max: 4 * 1440 }),
        lengthMinutes: fc.integer({ min: 30, max: 1440 }),
      }),
      fc.record({ kind: fc.constant('advance' as const), minutes: fc.integer({ min: 1, max: 600 }) }),
    ),
    { minLength: 3, maxLength: 8 },
  ),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** Windows clipped so that two on one day never overlap (the generator may make them overlap). */
function weekly(s: Scenario): SetAvailabilityInput['weekly'] {
  const sorted = [...s.windows].sort((a, b) => a.from - b.from);
  const result: { days: Weekday[]; from: string; to: string }[] = [];
  let end = 0;
  for (const w of sorted) {
    const from = Math.max(w.from, end);
    const to = Math.min(1440, from + w.length);
    if (to - from < 60) continue;
    result.push({ days: w.days, from: hhmm(from), to: hhmm(to) });
    end = to;
  }
  return result.length > 0 ? result : [{ days: ['mon'], from: '09:00', to: '17:00' }];
}

let patientCount = 0;
/** A new patient on the free plan each time: no payment notice, no hold cap in the way. */
function freePatient(f: Fixture): string {
  const id = `64b0000000000000000${(0x10000 + patientCount++).toString(16).padStart(5, '0')}`;
  f.patients.addPatient({ id, name: `Prop ${id}`, plan: 'open' });
  return id;
}

async function listed(f: Fixture, from: Date, days: number): Promise<ComputedSlot[]> {
  const to = new Date(from.getTime() + days * DAY);
  const all: ComputedSlot[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await f.engine.findSlots({ doctorId: DOCTOR, from, to, limit: 1000, ...(cursor ? { cursor } : {}) });
    all.push(...page.slots);
    if (page.nextCursor === null) return all;
    cursor = page.nextCursor;
  }
}

describe('computed slots (property)', () => {
  it('lists only bookable slots and books only listed ones; buffers, time off, notice and horizon hold', async () => {
    const seen = { booked: 0, refused: 0, refusedNear: 0, listedAcrossClockChange: 0 };
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const start = new Date(s.start + s.startOffsetDays * DAY + 7 * MINUTE);
        const f = createFixture({ start: start.toISOString(), plans: { open: { mode: 'free' } } });
        const rules = {
          doctorId: DOCTOR,
          timeZone: s.zone,
          weekly: weekly(s),
          slotMinutes: s.slotMinutes,
          ...(s.stepMinutes === undefined ? {} : { stepMinutes: s.stepMinutes }),
          bufferBeforeMinutes: s.bufferBeforeMinutes,
          bufferAfterMinutes: s.bufferAfterMinutes,
          minNoticeMinutes: s.minNoticeMinutes,
          horizonDays: s.horizonDays,
          fee: { amount: 4200, currency: 'eur' },
        };
        await f.engine.setAvailability(rules);
        for (const step of s.steps) {
          const now = f.clock.now();
          const slots = await listed(f, now, 5);
          for (const slot of slots) {
            expect(slot.start.getTime()).toBeGreaterThanOrEqual(now.getTime() + s.minNoticeMinutes * MINUTE);
            expect(slot.start.getTime()).toBeLessThanOrEqual(now.getTime() + s.horizonDays * DAY);
            if (
              DateTime.fromJSDate(slot.start, { zone: s.zone }).offset !==
              DateTime.fromJSDate(slot.end, { zone: s.zone }).offset
            )
              seen.listedAcrossClockChange++;
          }
          if (step.kind === 'bookListed' && slots.length > 0) {
            const slot = slots[step.pick % slots.length] as ComputedSlot;
            const { booking } = await f.engine.book({
              patientId: freePatient(f),
              doctorId: DOCTOR,
              startTime: slot.start,
            });
            expect(booking).toMatchObject({ status: 'scheduled', slotStart: slot.start, slotEnd: slot.end });
            seen.booked++;
          } else if (step.kind === 'bookAt') {
            const at = new Date(Math.ceil(now.getTime() / (5 * MINUTE)) * 5 * MINUTE + step.minutes * MINUTE);
            const offered = slots.some((slot) => slot.start.getTime() === at.getTime());
            const outcome = await f.engine.book({ patientId: freePatient(f), doctorId: DOCTOR, startTime: at }).then(
              () => 'booked',
              (error: { code?: string }) => error.code,
            );
            expect(outcome).toBe(offered ? 'booked' : 'SCHEDULE_UNAVAILABLE');
            if (offered) seen.booked++;
            else seen.refused++;
          } else if (step.kind === 'bookNear') {
            const made = await f.engine.listBookings({ doctorId: DOCTOR, status: 'scheduled', limit: 1000 });
            const anchor = made[step.pick % Math.max(1, made.length)];
            // Candidates on the grid of a listed slot, around an existing booking's edges.
            const grid = slots[step.pick % Math.max(1, slots.length)];
            if (anchor && grid) {
              const edge =
                step.offsetMinutes < 0 ? anchor.slotStart.getTime() - s.slotMinutes * MINUTE : anchor.slotEnd.getTime();
              const raw = edge + step.offsetMinutes * MINUTE;
              const stepMs = (s.stepMinutes ?? s.slotMinutes) * MINUTE;
              const at = new Date(grid.start.getTime() + Math.round((raw - grid.start.getTime()) / stepMs) * stepMs);
              const offered = slots.some((slot) => slot.start.getTime() === at.getTime());
              const outcome = await f.engine.book({ patientId: freePatient(f), doctorId: DOCTOR, startTime: at }).then(
                () => 'booked',
                (error: { code?: string }) => error.code,
              );
              expect(outcome, at.toISOString()).toBe(offered ? 'booked' : 'SCHEDULE_UNAVAILABLE');
              if (offered) seen.booked++;
              else seen.refusedNear++;
            }
          } else if (step.kind === 'timeOff') {
            const from = new Date(now.getTime() + step.startMinutes * MINUTE);
            await f.engine.addTimeOff({
              doctorId: DOCTOR,
              start: from,
              end: new Date(from.getTime() + step.lengthMinutes * MINUTE),
              onConflict: 'cancelAndRefund',
            });
          } else if (step.kind === 'advance') {
            await f.advance(step.minutes);
          }
          expect(await findViolations(f.store, { now: f.clock.now() })).toEqual([]);
        }
        // Whatever happened, no two live bookings of the doctor overlap including buffers.
        const live = (await f.engine.listBookings({ doctorId: DOCTOR, status: 'scheduled', limit: 1000 })).sort(
          (a, b) => a.slotStart.getTime() - b.slotStart.getTime(),
        );
        const gap = (s.bufferBeforeMinutes + s.bufferAfterMinutes) * MINUTE;
        for (let i = 1; i < live.length; i++) {
          const earlier = live[i - 1]!;
          const later = live[i]!;
          expect(later.slotStart.getTime() - earlier.slotEnd.getTime()).toBeGreaterThanOrEqual(gap);
        }
      }),
      RUNS,
    );
    // The generator reaches what matters: bookings made, times refused, slots across a clock change.
    expect(seen.booked).toBeGreaterThan(15);
    expect(seen.refused).toBeGreaterThan(15);
    expect(seen.refusedNear).toBeGreaterThan(5);
  }, 300_000);
});
