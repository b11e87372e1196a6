// Races of the no-show, reminder and cancellation-policy use cases; part of the race suite every store runs.
import { describe, expect, it } from 'vitest';
import { isBookingError, JOB_NAMES } from '../../src/index.js';
import { DOCTOR, type Fixture, PATIENTS } from '../support/engine-fixture.js';
import { findViolations } from '../support/invariants.js';
import type { RaceFixtureFactory } from './race-suite.js';

const N = 10;
const ROUNDS = 3;

function codes(settled: readonly PromiseSettledResult<unknown>[]): string[] {
  return settled.flatMap((r) => {
    if (r.status === 'fulfilled') return [];
    const error = r.reason as Error;
    return [isBookingError(error) && error.code !== 'STORE_ERROR' ? error.code : `${error?.name}: ${error?.message}`];
  });
}

async function paid(f: Fixture, startInMinutes: number) {
  const slot = await f.slot(startInMinutes);
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
  return f.engine.getBooking(booking.id);
}

export function describePolicyRaces(label: string, fixture: RaceFixtureFactory): void {
  describe(`${label}: no-shows, reminders, cancellation`, () => {
    it('a booking ends one way when no-show marks, undos, cancellations and the end-of-slot job race', async () => {
      const f = await fixture({ noShowGraceMinutes: 30 });
      const doctor = { role: 'doctor' as const, id: DOCTOR };
      for (let round = 0; round < ROUNDS; round++) {
        const booking = await paid(f, 60 + round * 240);
        f.clock.set(new Date(booking.slotEnd.getTime() + (round === 2 ? 30 : 5) * 60_000));
        const settled = await Promise.allSettled([
          ...Array.from({ length: N }, () => f.engine.markNoShow({ bookingId: booking.id, actor: doctor })),
          f.engine.undoNoShow({ bookingId: booking.id, actor: doctor }),
          f.engine.cancelBooking({ bookingId: booking.id, actor: doctor }),
          f.engine.runJob(JOB_NAMES.completeBooked, { scheduleId: booking.scheduleId }),
        ]);
        expect(
          codes(settled).every((c) => c === 'INVALID_TRANSITION' || c === 'NOT_ALLOWED'),
          codes(settled).join(),
        ).toBe(true);
        // Every call that succeeded left exactly one history step, and no other call did.
        const final = await f.engine.getBooking(booking.id);
        const ok = settled.map((r) => r.status === 'fulfilled');
        const marked = ok.slice(0, N).filter(Boolean).length;
        expect(final.history.filter((h) => h.to === 'no_show').length).toBe(marked);
        expect(final.history.filter((h) => h.from === 'no_show' && h.to === 'scheduled').length).toBe(ok[N] ? 1 : 0);
        expect(final.status === 'cancelled').toBe(ok[N + 1]);
        expect(await findViolations(f.store, { now: f.clock.now() }), `round ${round}`).toEqual([]);
      }
    });

    it('a reminder racing a reschedule goes out at most once per slot time, and never for a time the booking left', async () => {
      const f = await fixture({ reminders: [{ beforeMinutes: 60 }] });
      for (let round = 0; round < ROUNDS; round++) {
        const booking = await paid(f, 24 * 60 + round * 600);
        const target = await f.slot(24 * 60 + round * 600 + 300);
        f.clock.set(new Date(booking.slotStart.getTime() - 50 * 60_000));
        await Promise.allSettled([
          ...Array.from({ length: N }, () => f.engine.runJob(JOB_NAMES.reminder, { bookingId: booking.id })),
          f.engine.reschedule({
            bookingId: booking.id,
            newScheduleId: target.id,
            actor: { role: 'doctor', id: DOCTOR },
          }),
          f.engine.reconcile(),
        ]);
        const final = await f.engine.getBooking(booking.id);
        const sent = f.notifications.filter((n) => n.type === 'appointmentReminder' && n.data.bookingId === booking.id);
        expect(sent.length).toBeLessThanOrEqual(1);
        expect(final.remindersSent ?? []).toHaveLength(sent.length);
        for (const n of sent) expect(n.data.startTime).toBe(booking.slotStart.toISOString());
        expect(await findViolations(f.store, { now: f.clock.now() }), `round ${round}`).toEqual([]);
      }
    });
  });
}
