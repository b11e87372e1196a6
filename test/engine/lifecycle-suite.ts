// The rest of the lifecycle as a suite any store runs: cancellation, refunds, rescheduling, freeTrial quota, anti-hoarding.
import { describe, expect, it } from 'vitest';
import type { Actor, PaymentEvent } from '../../src/index.js';
import { JOB_NAMES } from '../../src/index.js';
import {
  type createFixture,
  DOCTOR,
  type Fixture,
  OTHER_DOCTOR,
  PATIENTS,
  rejectionOf,
} from '../support/engine-fixture.js';

type F = Fixture;

/** Builds an engine fixture on the store under test (fresh, empty). */
export type FixtureFactory = (options?: Parameters<typeof createFixture>[0]) => Promise<Fixture>;
const patient: Actor = { role: 'patient', id: PATIENTS.standard };
const doctor = { role: 'doctor' as const, id: DOCTOR };
const admin = { role: 'admin' as const, id: 'admin-1' };

/** A scheduled, paid booking `startInMinutes` from now. */
async function paidBooking(f: F, startInMinutes = 48 * 60, patientId: string = PATIENTS.standard) {
  const slot = await f.slot(startInMinutes);
  const { booking } = await f.engine.book({ patientId, scheduleId: slot.id });
  const event = f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? '');
  await f.engine.handlePaymentEvent(event);
  return { slot, booking, event };
}

export function describeLifecycle(label: string, fixture: FixtureFactory): void {
  describe(label, () => {
    describe('cancelBooking', () => {
      it('cancels a pending booking: checkout expired first, hold released, no refund', async () => {
        const f = await fixture();
        const slot = await f.slot();
        const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
        const result = await f.engine.cancelBooking({ bookingId: booking.id, actor: patient });
        expect(result.refund).toBeNull();
        expect(result.booking).toMatchObject({ status: 'cancelled', cancelReason: 'by_patient' });
        expect(result.booking.history.at(-1)?.actor).toEqual(patient);
        expect(f.gateway.sessionForBooking(booking.id)?.status).toBe('expired');
        expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
        expect(f.scheduler.pending().map((j) => j.id)).not.toContain(`hold-${booking.id}`);
      });

      it('refunds in full when the patient cancels at least 24 hours ahead, frees the slot and debits the wallet once', async () => {
        const f = await fixture();
        const { slot, booking } = await paidBooking(f, 48 * 60);
        const result = await f.engine.cancelBooking({ bookingId: booking.id, actor: patient });
        expect(result.refund).toMatchObject({ amount: 5000, status: 'succeeded', id: `cancel-${booking.id}` });
        expect(result.booking).toMatchObject({ status: 'cancelled', paymentStatus: 'refunded', amountRefunded: 5000 });
        expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'available', bookedBy: null });
        expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 0 });
        const jobs = f.scheduler.pending();
        expect(jobs.map((j) => j.id)).not.toContain(`complete-${slot.id}`);
        expect(jobs.map((j) => j.id)).toContain(`expire-${slot.id}`);
        expect(f.notifications.filter((n) => n.type === 'appointmentCancelled').map((n) => n.recipient.role)).toEqual([
          'patient',
          'doctor',
        ]);
        expect(f.notifications.filter((n) => n.type === 'paymentRefunded')).toHaveLength(1);
      });

      it('refunds the late percentage when the patient cancels within 24 hours, rounded down', async () => {
        const f = await fixture({ cancellation: { lateRefundPercent: 33 } });
        const { booking } = await paidBooking(f, 10 * 60);
        const result = await f.engine.cancelBooking({ bookingId: booking.id, actor: patient });
        expect(result.refund?.amount).toBe(1650);
        expect(result.booking).toMatchObject({ paymentStatus: 'partially_refunded', amountRefunded: 1650 });
        expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 3350 });
      });

      it('refunds nothing when the patient cancels after the start, and keeps the slot booked', async () => {
        const f = await fixture();
        const { slot, booking } = await paidBooking(f, 60);
        f.clock.advanceMinutes(70);
        const result = await f.engine.cancelBooking({ bookingId: booking.id, actor: patient });
        expect(result.refund).toBeNull();
        expect(result.booking).toMatchObject({ status: 'cancelled', paymentStatus: 'paid' });
        expect((await f.engine.getSchedule(slot.id)).status).toBe('booked');
        expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
      });

      it('always refunds in full when the doctor or an admin cancels, even within 24 hours', async () => {
        const f = await fixture();
        const a = await paidBooking(f, 60);
        const b = await paidBooking(f, 120, PATIENTS.other);
        expect((await f.engine.cancelBooking({ bookingId: a.booking.id, actor: doctor })).refund?.amount).toBe(5000);
        const byAdmin = await f.engine.cancelBooking({ bookingId: b.booking.id, actor: admin });
        expect(byAdmin.refund?.amount).toBe(5000);
        expect(byAdmin.booking.cancelReason).toBe('by_admin');
      });

      it('refuses anyone but the patient, the doctor or an admin with NOT_ALLOWED', async () => {
        const f = await fixture();
        const { booking } = await paidBooking(f);
        for (const actor of [
          { role: 'patient' as const, id: PATIENTS.other },
          { role: 'doctor' as const, id: OTHER_DOCTOR },
        ]) {
          expect(await rejectionOf(f.engine.cancelBooking({ bookingId: booking.id, actor }))).toMatchObject({
            code: 'NOT_ALLOWED',
            status: 403,
          });
        }
        expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
      });

      it('refuses to cancel twice with INVALID_TRANSITION and refunds only once', async () => {
        const f = await fixture();
        const { booking } = await paidBooking(f);
        await f.engine.cancelBooking({ bookingId: booking.id, actor: patient });
        const error = await rejectionOf(f.engine.cancelBooking({ bookingId: booking.id, actor: patient }));
        expect(error).toMatchObject({ code: 'INVALID_TRANSITION', status: 409 });
        expect(f.gateway.refunds).toHaveLength(1);
      });

      it('cancels concurrently only once', async () => {
        const f = await fixture();
        const { booking } = await paidBooking(f);
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, () => f.engine.cancelBooking({ bookingId: booking.id, actor: patient })),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect(f.gateway.refunds).toHaveLength(1);
        expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 0 });
      });

      it('cancels the paid booking with its refund when the patient had paid just before cancelling a pending one', async () => {
        const f = await fixture();
        const slot = await f.slot(48 * 60);
        const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
        f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''); // webhook still in flight
        const result = await f.engine.cancelBooking({ bookingId: booking.id, actor: patient });
        expect(result.booking).toMatchObject({ status: 'cancelled', paymentStatus: 'refunded' });
        expect(result.refund?.amount).toBe(5000);
        expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 0 });
      });

      it('refunds a payment whose webhook arrives after the patient cancelled, instead of reviving the booking', async () => {
        const f = await fixture();
        const slot = await f.slot(48 * 60);
        const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
        const sessionId = f.gateway.sessionForBooking(booking.id)?.id ?? '';
        await f.engine.cancelBooking({ bookingId: booking.id, actor: patient });
        const session = f.gateway.sessions.get(sessionId);
        if (session) session.status = 'open'; // the provider took the money in a race with the expiry
        const outcome = await f.engine.handlePaymentEvent(f.gateway.pay(sessionId));
        expect(outcome.outcome).toBe('late_refund');
        expect(await f.engine.getBooking(booking.id)).toMatchObject({ status: 'cancelled', paymentStatus: 'refunded' });
        expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
      });

      it('rejects a malformed actor with INVALID_INPUT', async () => {
        const f = await fixture();
        const { booking } = await paidBooking(f);
        await expect(
          f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'janitor', id: 'x' } as never }),
        ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      });
    });

    describe('refund', () => {
      it('refunds partially then the rest, never more than paid, and debits the wallet by the same amounts', async () => {
        const f = await fixture();
        const { booking } = await paidBooking(f);
        const first = await f.engine.refund({ bookingId: booking.id, amount: 2000, reason: 'goodwill' });
        expect(first.booking).toMatchObject({ paymentStatus: 'partially_refunded', amountRefunded: 2000 });
        const tooMuch = await rejectionOf(f.engine.refund({ bookingId: booking.id, amount: 3001 }));
        expect(tooMuch).toMatchObject({ code: 'INVALID_INPUT' });
        const rest = await f.engine.refund({ bookingId: booking.id });
        expect(rest.refund.amount).toBe(3000);
        expect(rest.booking).toMatchObject({ paymentStatus: 'refunded', amountRefunded: 5000 });
        expect(await rejectionOf(f.engine.refund({ bookingId: booking.id }))).toMatchObject({
          code: 'INVALID_TRANSITION',
        });
        expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 0 });
        expect(f.gateway.refunds.map((r) => r.amount)).toEqual([2000, 3000]);
      });

      it('returns the first refund for a repeated idempotency key', async () => {
        const f = await fixture();
        const { booking } = await paidBooking(f);
        const a = await f.engine.refund({ bookingId: booking.id, amount: 1000, idempotencyKey: 'r-1' });
        const b = await f.engine.refund({ bookingId: booking.id, amount: 1000, idempotencyKey: 'r-1' });
        expect(b.refund.id).toBe(a.refund.id);
        expect(f.gateway.refunds).toHaveLength(1);
        expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 4000 });
      });

      it('never refunds more than paid when refunds race', async () => {
        const f = await fixture();
        const { booking } = await paidBooking(f);
        const results = await Promise.allSettled(
          Array.from({ length: 5 }, () => f.engine.refund({ bookingId: booking.id, amount: 2000 })),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
        expect(f.gateway.refunds.reduce((sum, r) => sum + r.amount, 0)).toBe(4000);
        expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 1000 });
      });

      it('records a refund the provider refused, surfaces it, and the sweep makes it later exactly once', async () => {
        const f = await fixture();
        const { booking } = await paidBooking(f);
        f.gateway.failNext('refund');
        const error = await rejectionOf(f.engine.refund({ bookingId: booking.id, amount: 1500 }));
        expect(error).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR' });
        expect((await f.engine.getBooking(booking.id)).paymentStatus).toBe('paid');
        expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
        f.clock.advanceMinutes(2);
        expect((await f.engine.reconcile()).refundsRetried).toBe(1);
        expect((await f.engine.reconcile()).refundsRetried).toBe(0);
        expect(await f.engine.getBooking(booking.id)).toMatchObject({
          paymentStatus: 'partially_refunded',
          amountRefunded: 1500,
        });
        expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 3500 });
        expect(f.gateway.refunds).toHaveLength(1);
      });

      it('does not debit twice when the provider also reports the refund made through the API', async () => {
        const f = await fixture();
        const { booking, event } = await paidBooking(f);
        const { refund } = await f.engine.refund({ bookingId: booking.id, amount: 1000 });
        const paymentId = event.type === 'payment.succeeded' ? event.payment.paymentId : '';
        const echo: PaymentEvent = {
          type: 'refund.updated',
          id: 'evt_refund_echo',
          paymentId,
          providerRefundId: refund.providerRefundId ?? '',
          refundId: refund.id,
          amount: 1000,
          currency: 'eur',
          status: 'succeeded',
        };
        expect((await f.engine.handlePaymentEvent(echo)).outcome).toBe('refund_updated');
        expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 4000 });
        expect((await f.engine.getBooking(booking.id)).amountRefunded).toBe(1000);
      });

      it('refuses to refund a free booking', async () => {
        const f = await fixture();
        const slot = await f.slot();
        const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
        expect(await rejectionOf(f.engine.refund({ bookingId: booking.id }))).toMatchObject({
          code: 'INVALID_TRANSITION',
        });
      });

      it.each([
        ['a fractional amount', { amount: 10.5 }],
        ['a negative amount', { amount: -5 }],
        ['an operator object as id', { bookingId: { $gt: '' } }],
      ])('rejects %s with INVALID_INPUT', async (_, override) => {
        const f = await fixture();
        const { booking } = await paidBooking(f);
        await expect(f.engine.refund({ bookingId: booking.id, ...override } as never)).rejects.toMatchObject({
          code: 'INVALID_INPUT',
        });
      });
    });

    describe('reschedule', () => {
      it('moves a scheduled booking to another slot of the same doctor: no second payment, jobs moved, both told', async () => {
        const f = await fixture();
        const { slot, booking } = await paidBooking(f, 48 * 60);
        const target = await f.slot(72 * 60);
        const result = await f.engine.reschedule({ bookingId: booking.id, newScheduleId: target.id, actor: patient });
        expect(result.booking).toMatchObject({
          scheduleId: target.id,
          slotStart: target.startTime,
          status: 'scheduled',
          paymentStatus: 'paid',
        });
        expect(await f.engine.getSchedule(target.id)).toMatchObject({ status: 'booked', bookedBy: PATIENTS.standard });
        expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'available', bookedBy: null });
        const jobIds = f.scheduler.pending().map((j) => j.id);
        expect(jobIds).toContain(`complete-${target.id}`);
        expect(jobIds).not.toContain(`complete-${slot.id}`);
        expect(jobIds).toContain(`expire-${slot.id}`);
        expect(f.gateway.sessions.size).toBe(1);
        expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
        expect(result.booking.history.at(-1)).toMatchObject({ reason: `rescheduled_from:${slot.id}`, actor: patient });
        expect(f.notifications.filter((n) => n.type === 'appointmentRescheduled').map((n) => n.recipient.role)).toEqual(
          ['patient', 'doctor'],
        );
        // The booking completes at the new slot's end.
        f.clock.set(target.endTime);
        await f.scheduler.runDue();
        expect((await f.engine.getBooking(booking.id)).status).toBe('completed');
      });

      it('leaves the booking where it was when the target slot is taken first', async () => {
        const f = await fixture();
        const { slot, booking } = await paidBooking(f, 48 * 60);
        const target = await f.slot(72 * 60);
        const [moved, rival] = await Promise.allSettled([
          f.engine.reschedule({ bookingId: booking.id, newScheduleId: target.id, actor: patient }),
          f.engine.book({ patientId: PATIENTS.other, scheduleId: target.id }),
        ]);
        const winners = [moved, rival].filter((r) => r.status === 'fulfilled');
        expect(winners).toHaveLength(1);
        const current = await f.engine.getBooking(booking.id);
        if (moved.status === 'rejected') {
          expect((moved.reason as { code: string }).code).toBe('SCHEDULE_UNAVAILABLE');
          expect(current.scheduleId).toBe(slot.id);
          expect((await f.engine.getSchedule(slot.id)).status).toBe('booked');
        } else {
          expect(current.scheduleId).toBe(target.id);
        }
        expect(await f.store.countBookings({ scheduleId: target.id, status: ['pending', 'scheduled'] })).toBe(1);
      });

      it('refuses a taken slot, another doctor, a different fee, the deadline and strangers', async () => {
        const f = await fixture();
        const { booking } = await paidBooking(f, 48 * 60);
        const taken = await f.slot(72 * 60);
        await f.engine.book({ patientId: PATIENTS.vise, scheduleId: taken.id });
        const foreign = await f.slot(72 * 60, { doctorId: OTHER_DOCTOR });
        const pricier = await f.slot(96 * 60, { amount: 7000 });
        const move = (newScheduleId: string, actor = patient) =>
          rejectionOf(f.engine.reschedule({ bookingId: booking.id, newScheduleId, actor }));
        expect((await move(taken.id)).code).toBe('SCHEDULE_UNAVAILABLE');
        expect((await move(foreign.id)).code).toBe('INVALID_INPUT');
        expect((await move(pricier.id)).code).toBe('INVALID_INPUT');
        expect((await move(pricier.id, { role: 'patient', id: PATIENTS.other })).code).toBe('NOT_ALLOWED');
        expect((await move('64b0000000000000000000ee')).code).toBe('SCHEDULE_NOT_FOUND');
        f.clock.advanceMinutes(47 * 60);
        const ok = await f.slot(120 * 60);
        expect((await move(ok.id)).code).toBe('NOT_ALLOWED');
        expect((await f.engine.getBooking(booking.id)).scheduleId).toBe(booking.scheduleId);
      });

      it("allows a different fee with rescheduleFee 'any'", async () => {
        const f = await fixture({ rescheduleFee: 'any' });
        const { booking } = await paidBooking(f, 48 * 60);
        const pricier = await f.slot(96 * 60, { amount: 7000 });
        const { booking: moved } = await f.engine.reschedule({
          bookingId: booking.id,
          newScheduleId: pricier.id,
          actor: doctor,
        });
        expect(moved.price).toEqual({ amount: 5000, currency: 'eur' });
      });

      it('refuses to reschedule a pending booking', async () => {
        const f = await fixture();
        const slot = await f.slot(48 * 60);
        const target = await f.slot(72 * 60);
        const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
        const error = await rejectionOf(
          f.engine.reschedule({ bookingId: booking.id, newScheduleId: target.id, actor: patient }),
        );
        expect(error.code).toBe('INVALID_TRANSITION');
      });
    });

    describe('freeTrial quota', () => {
      const plans = {
        none: { mode: 'reject' as const },
        freeTrial: { mode: 'pay' as const, freeQuota: 1 },
        standard: { mode: 'pay' as const },
        standardPlus: { mode: 'pay' as const },
        vise: { mode: 'free' as const, relationRequired: true },
      };

      it('makes the first trial booking free and the next one paid', async () => {
        const f = await fixture({ plans });
        const a = await f.slot(24 * 60);
        const b = await f.slot(48 * 60);
        const first = await f.engine.book({ patientId: PATIENTS.trial, scheduleId: a.id });
        expect(first.booking).toMatchObject({ mode: 'free', status: 'scheduled' });
        const second = await f.engine.book({ patientId: PATIENTS.trial, scheduleId: b.id });
        expect(second.booking).toMatchObject({ mode: 'paid', status: 'pending' });
        expect(second.paymentUrl).toBeDefined();
      });

      it('gives the free booking back to the quota when it is cancelled', async () => {
        const f = await fixture({ plans });
        const a = await f.slot(24 * 60);
        const b = await f.slot(48 * 60);
        const first = await f.engine.book({ patientId: PATIENTS.trial, scheduleId: a.id });
        await f.engine.cancelBooking({ bookingId: first.booking.id, actor: { role: 'patient', id: PATIENTS.trial } });
        expect((await f.engine.book({ patientId: PATIENTS.trial, scheduleId: b.id })).booking.mode).toBe('free');
      });

      it('counts the quota exactly under concurrent bookings', async () => {
        const f = await fixture({ plans });
        const slots = await Promise.all(Array.from({ length: 10 }, (_, i) => f.slot(24 * 60 * (i + 1))));
        const results = await Promise.all(
          slots.map((s) => f.engine.book({ patientId: PATIENTS.trial, scheduleId: s.id }).catch((e) => e)),
        );
        const modes = results.map((r) => (r as { booking?: { mode: string } }).booking?.mode);
        expect(modes.filter((m) => m === 'free')).toHaveLength(1);
      });
    });

    describe('anti-hoarding', () => {
      it('lets a patient hold at most 3 unpaid bookings at once by default', async () => {
        const f = await fixture();
        const slots = await Promise.all(Array.from({ length: 5 }, (_, i) => f.slot(24 * 60 * (i + 1))));
        for (const s of slots.slice(0, 3)) await f.engine.book({ patientId: PATIENTS.standard, scheduleId: s.id });
        const error = await rejectionOf(
          f.engine.book({ patientId: PATIENTS.standard, scheduleId: slots[3]?.id ?? '' }),
        );
        expect(error).toMatchObject({ code: 'NOT_ALLOWED', status: 403 });
        expect((await f.engine.getSchedule(slots[3]?.id ?? '')).status).toBe('available');
        // Paying for one frees a place.
        const [held] = await f.engine.listBookings({ patientId: PATIENTS.standard, status: 'pending' });
        await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(held?.id ?? '')?.id ?? ''));
        await expect(
          f.engine.book({ patientId: PATIENTS.standard, scheduleId: slots[3]?.id ?? '' }),
        ).resolves.toBeDefined();
      });

      it('holds the limit under 20 concurrent bookings by one patient', async () => {
        const f = await fixture({ maxPendingPerPatient: 2 });
        const slots = await Promise.all(Array.from({ length: 20 }, (_, i) => f.slot(24 * 60 * (i + 1))));
        await Promise.allSettled(slots.map((s) => f.engine.book({ patientId: PATIENTS.standard, scheduleId: s.id })));
        expect(await f.store.countBookings({ patientId: PATIENTS.standard, status: 'pending' })).toBe(2);
        expect(await f.store.countBookings({ patientId: PATIENTS.standard })).toBe(2);
      });

      it('does not count free bookings as holds', async () => {
        const f = await fixture({ maxPendingPerPatient: 1 });
        const a = await f.slot(24 * 60);
        const b = await f.slot(48 * 60);
        await f.engine.book({ patientId: PATIENTS.vise, scheduleId: a.id });
        await expect(f.engine.book({ patientId: PATIENTS.vise, scheduleId: b.id })).resolves.toBeDefined();
      });
    });

    describe('end-of-slot job after cancellation', () => {
      it('expires a slot freed by a cancellation at its end time', async () => {
        const f = await fixture();
        const { slot, booking } = await paidBooking(f, 48 * 60);
        await f.engine.cancelBooking({ bookingId: booking.id, actor: patient });
        f.clock.set(slot.endTime);
        await f.scheduler.runDue();
        expect((await f.engine.getSchedule(slot.id)).status).toBe('expired');
        expect(await f.engine.runJob(JOB_NAMES.completeBooked, { scheduleId: slot.id })).toBe('already_expired');
      });
    });
  });
}
