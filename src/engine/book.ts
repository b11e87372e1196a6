// The booking use case: plan check, slot claim, and the free or paid path.
import type { Actor, Booking, Schedule } from '../domain/entities.js';
import { BookingError, isBookingError } from '../domain/errors.js';
import { holdEnd } from '../domain/payment-rules.js';
import { type BookingMode, decidePlan, type PlanRule } from '../domain/plan-policy.js';
import type { StoreOperations } from '../ports/booking-store.js';
import type { Patient } from '../ports/patient-directory.js';
import { confirmationEffects } from './confirm.js';
import type { Effect, EngineContext } from './context.js';
import { scheduleHoldTimeout } from './jobs.js';
import { cancelPending } from './release.js';
import { bookSchema, parseInput } from './validation.js';

export interface BookInput {
  patientId: string;
  scheduleId: string;
  /**
   * Makes retries safe: the same patient and key return the first call's booking instead of
   * making another. Reusing a key for a different slot is INVALID_INPUT.
   */
  idempotencyKey?: string;
  /** Where Checkout sends the patient after paying. @defaultValue the engine's `successUrl` */
  successUrl?: string;
  /** Where Checkout sends the patient who gives up. @defaultValue the engine's `cancelUrl` */
  cancelUrl?: string;
}

export interface BookResult {
  booking: Booking;
  /** The hosted payment page; only on the paid path while the booking is pending. */
  paymentUrl?: string;
}

function present(booking: Booking): BookResult {
  return booking.status === 'pending' && booking.paymentUrl ? { booking, paymentUrl: booking.paymentUrl } : { booking };
}

const unavailable = (reason: string) => new BookingError('SCHEDULE_UNAVAILABLE', reason);

/** Checks outside the transaction: the plan may book at all, and the relation when the plan needs one. */
async function checkPlan(ctx: EngineContext, patient: Patient, schedule: Schedule): Promise<PlanRule> {
  const rule = Object.hasOwn(ctx.options.plans, patient.plan) ? ctx.options.plans[patient.plan] : undefined;
  if (rule === undefined || rule.mode === 'reject') {
    throw new BookingError('SUBSCRIPTION_REQUIRED', 'Subscribe to book', { details: { plan: patient.plan } });
  }
  if (rule.relationRequired) {
    const related = await ctx.patients.hasRelation({ doctorId: schedule.doctorId, patientId: patient.id });
    if (!related) {
      throw new BookingError('RELATION_REQUIRED', 'Free booking needs an existing doctor–patient relation', {
        details: { plan: patient.plan },
      });
    }
  }
  return rule;
}

/**
 * Inside the transaction, after locking the patient: the per-patient counts that decide the
 * path (free quota) and cap unpaid holds are exact even under concurrent bookings.
 */
async function decideInside(
  ctx: EngineContext,
  tx: StoreOperations,
  patient: Patient,
  rule: PlanRule,
): Promise<BookingMode> {
  await tx.lockPatient(patient.id);
  const freeUsed =
    rule.freeQuota !== undefined && rule.freeQuota > 0
      ? await tx.countBookings({ patientId: patient.id, mode: 'free', status: ['pending', 'scheduled', 'completed'] })
      : 0;
  const decision = decidePlan(ctx.options.plans, patient.plan, freeUsed);
  if (decision.outcome === 'reject') throw new BookingError('SUBSCRIPTION_REQUIRED', 'Subscribe to book');
  if (decision.mode === 'paid') {
    const holds = await tx.countBookings({ patientId: patient.id, status: 'pending' });
    if (holds >= ctx.options.maxPendingPerPatient) {
      throw new BookingError(
        'NOT_ALLOWED',
        `You already hold ${holds} unpaid bookings; pay for or cancel one before booking another`,
        { details: { maxPendingPerPatient: ctx.options.maxPendingPerPatient } },
      );
    }
  }
  return decision.mode;
}

/** The booking this patient already holds on this slot, or for this idempotency key. */
async function existingFor(ctx: EngineContext, patientId: string, scheduleId: string, idempotencyKey?: string) {
  if (idempotencyKey !== undefined) {
    const byKey = await ctx.store.findBookingByIdempotencyKey({ patientId, idempotencyKey });
    if (byKey) {
      if (byKey.scheduleId !== scheduleId) {
        throw new BookingError('INVALID_INPUT', 'idempotencyKey was already used for a different slot', {
          details: { bookingId: byKey.id },
        });
      }
      return byKey;
    }
  }
  const active = await ctx.store.findActiveBooking(scheduleId);
  return active?.patientId === patientId ? active : null;
}

export async function book(ctx: EngineContext, input: BookInput): Promise<BookResult> {
  const args = parseInput(bookSchema, input, 'book');
  const earlier = await existingFor(ctx, args.patientId, args.scheduleId, args.idempotencyKey);
  if (earlier) return present(earlier);

  const patient = await ctx.patients.getPatient(args.patientId);
  if (!patient) throw new BookingError('PATIENT_NOT_FOUND', `No patient ${args.patientId}`);
  const schedule = await ctx.store.getSchedule(args.scheduleId);
  if (!schedule) throw new BookingError('SCHEDULE_NOT_FOUND', 'Schedule not found');
  if (schedule.startTime <= ctx.now()) throw unavailable('This slot has already started');
  if (schedule.status !== 'available') {
    // Taken, maybe by this very patient's first call committing since we looked: a retry gets its booking.
    const winner = await existingFor(ctx, args.patientId, args.scheduleId, args.idempotencyKey);
    if (winner) return present(winner);
    throw unavailable('This slot is not available');
  }
  const rule = await checkPlan(ctx, patient, schedule);

  const now = ctx.now();
  const actor: Actor = { role: 'patient', id: patient.id };
  let booking: Booking;
  try {
    booking = await ctx.commit(
      async (tx) => {
        const mode = await decideInside(ctx, tx, patient, rule);
        const free = mode === 'free';
        const claimed = await ctx.moveSlot(
          tx,
          free
            ? { id: schedule.id, from: 'available', to: 'booked', bookedBy: patient.id }
            : { id: schedule.id, from: 'available', to: 'pending' },
        );
        if (!claimed) throw unavailable('This slot is not available');
        if (claimed.startTime <= now) throw unavailable('This slot has already started');
        const minNotice = ctx.options.minNoticeMinutes;
        if (!free && claimed.startTime.getTime() - now.getTime() < minNotice * 60_000) {
          throw new BookingError('SCHEDULE_UNAVAILABLE', 'This slot starts too soon to pay for it online', {
            details: { minNoticeMinutes: minNotice },
          });
        }
        const status = free ? 'scheduled' : 'pending';
        const inserted = await tx.insertBooking({
          patientId: patient.id,
          doctorId: claimed.doctorId,
          scheduleId: claimed.id,
          slotStart: claimed.startTime,
          slotEnd: claimed.endTime,
          timeZone: claimed.timeZone,
          mode,
          plan: patient.plan,
          price: claimed.fee,
          status,
          paymentStatus: 'unpaid',
          cancelReason: null,
          paymentTransactionId: null,
          checkoutSessionId: null,
          paymentUrl: null,
          holdExpiresAt: free ? null : holdEnd(now, ctx.options.holdMinutes, claimed.startTime),
          idempotencyKey: args.idempotencyKey ?? null,
          amountRefunded: 0,
          history: [ctx.history(null, status, 'unpaid', actor, free ? `free_${patient.plan}` : 'checkout_started')],
        });
        // Throwing rolls the slot claim back: another active booking or this key won the race.
        if (!inserted) throw unavailable('This slot is not available');
        return inserted;
      },
      bookedEffects(ctx, now),
    );
  } catch (error) {
    if (isBookingError(error) && error.code === 'SCHEDULE_UNAVAILABLE') {
      const winner = await existingFor(ctx, args.patientId, args.scheduleId, args.idempotencyKey);
      if (winner) return present(winner);
    }
    throw error;
  }

  if (booking.mode === 'free') return { booking };
  return startCheckout(ctx, booking, schedule, patient, args);
}

/**
 * What follows a new booking, in its transaction's outbox: free, it is confirmed at once; paid,
 * the hold timer goes in before the provider call, so a crash in between still times the hold out.
 */
function bookedEffects(ctx: EngineContext, now: Date): (booking: Booking) => Effect[] {
  return (booking) =>
    booking.mode === 'free'
      ? [ctx.emitEffect('booking.created', { booking }), ...confirmationEffects(ctx, booking, null)]
      : [
          ctx.emitEffect('booking.created', { booking }),
          scheduleHoldTimeout(ctx, booking, booking.holdExpiresAt ?? now),
        ];
}

async function startCheckout(
  ctx: EngineContext,
  booking: Booking,
  schedule: Schedule,
  patient: Patient,
  args: { successUrl?: string | undefined; cancelUrl?: string | undefined },
): Promise<BookResult> {
  const provider = ctx.payments.provider;
  let session: { sessionId: string; url: string };
  try {
    const stored = await ctx.store.getPaymentCustomer({ patientId: patient.id, provider });
    const customerId = await ctx.payments.ensureCustomer({ patient, customerId: stored?.customerId ?? null });
    if (customerId !== null && stored?.customerId !== customerId) {
      await ctx.store.transaction((tx) => tx.savePaymentCustomer({ patientId: patient.id, provider, customerId }));
    }
    const successUrl = args.successUrl ?? ctx.options.successUrl;
    const cancelUrl = args.cancelUrl ?? ctx.options.cancelUrl;
    session = await ctx.payments.createCheckout({
      booking,
      schedule,
      patient,
      customerId,
      ...(successUrl === undefined ? {} : { successUrl }),
      ...(cancelUrl === undefined ? {} : { cancelUrl }),
      holdExpiresAt: booking.holdExpiresAt ?? ctx.now(),
      idempotencyKey: `checkout-${booking.id}`,
    });
  } catch (error) {
    // Compensate at once: the slot must not stay held for a checkout that never opened.
    await cancelPending(ctx, { bookingId: booking.id, event: null, sessionId: null, reason: 'payment_provider_error' });
    if (isBookingError(error)) throw error;
    throw new BookingError('PAYMENT_PROVIDER_ERROR', 'Could not start the payment', { cause: error });
  }

  const updated = await ctx.store.transaction((tx) =>
    tx.updateBookingIf({
      id: booking.id,
      expectedStatus: 'pending',
      set: { checkoutSessionId: session.sessionId, paymentUrl: session.url },
    }),
  );
  if (updated) return { booking: updated, paymentUrl: session.url };

  // The hold ended while the session was being created: close it so nobody pays for nothing.
  const current = await ctx.store.getBooking(booking.id);
  if (current?.status === 'scheduled') return { booking: current };
  await ctx.runEffects([
    {
      name: 'expire:orphan_checkout',
      bookingId: booking.id,
      spec: { kind: 'checkout.expire', sessionId: session.sessionId },
    },
  ]);
  throw unavailable('The hold on this slot ended before the payment page opened; please book again');
}
