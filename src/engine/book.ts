// The booking use case: plan check, slot claim, and the free or paid path.
import type { Actor, Booking, Schedule } from '../domain/entities.js';
import { BookingError, isBookingError } from '../domain/errors.js';
import { holdEnd } from '../domain/payment-rules.js';
import { type BookingMode, decidePlan, type PlanRule } from '../domain/plan-policy.js';
import type { StoreOperations } from '../ports/booking-store.js';
import type { Patient } from '../ports/patient-directory.js';
import { confirmationEffects } from './confirm.js';
import type { Effect, EngineContext } from './context.js';
import { cancelExpiry, scheduleExpiry, scheduleHoldTimeout } from './jobs.js';
import { assertNotAway, type ComputedSlot, computedSlotAt, isFreedComputedSlot } from './offered-slots.js';
import { cancelPending } from './release.js';
import { bookSchema, parseInput } from './validation.js';

/** Book a published slot (`scheduleId`) or a computed one (`doctorId` and `startTime`, from `findSlots`). */
export type BookInput = BookSlotInput | BookComputedInput;

export interface BookSlotInput extends BookOptions {
  patientId: string;
  scheduleId: string;
}

export interface BookComputedInput extends BookOptions {
  patientId: string;
  doctorId: string;
  /** A `start` that `findSlots` lists: a Date or an ISO-8601 string with offset. */
  startTime: Date | string;
}

export interface BookOptions {
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
async function checkPlan(ctx: EngineContext, patient: Patient, doctorId: string): Promise<PlanRule> {
  const rule = Object.hasOwn(ctx.options.plans, patient.plan) ? ctx.options.plans[patient.plan] : undefined;
  if (rule === undefined || rule.mode === 'reject') {
    throw new BookingError('SUBSCRIPTION_REQUIRED', 'Subscribe to book', { details: { plan: patient.plan } });
  }
  if (rule.relationRequired) {
    const related = await ctx.patients.hasRelation({ doctorId, patientId: patient.id });
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
  if (args.scheduleId === undefined) {
    return bookComputed(ctx, { ...args, doctorId: args.doctorId as string, startTime: args.startTime as Date });
  }
  const scheduleId = args.scheduleId;
  const earlier = await existingFor(ctx, args.patientId, scheduleId, args.idempotencyKey);
  if (earlier) return present(earlier);

  const patient = await ctx.patients.getPatient(args.patientId);
  if (!patient) throw new BookingError('PATIENT_NOT_FOUND', `No patient ${args.patientId}`);
  const schedule = await ctx.store.getSchedule(scheduleId);
  if (!schedule) throw new BookingError('SCHEDULE_NOT_FOUND', 'Schedule not found');
  if (schedule.startTime <= ctx.now()) throw unavailable('This slot has already started');
  // A freed computed slot is the rules' to offer: book its time as a computed slot.
  if (isFreedComputedSlot(schedule)) {
    return bookComputed(ctx, { ...args, doctorId: schedule.doctorId, startTime: schedule.startTime });
  }
  if (schedule.status !== 'available') {
    // Taken, maybe by this very patient's first call committing since we looked: a retry gets its booking.
    const winner = await existingFor(ctx, args.patientId, scheduleId, args.idempotencyKey);
    if (winner) return present(winner);
    throw unavailable('This slot is not available');
  }
  const rule = await checkPlan(ctx, patient, schedule.doctorId);

  const now = ctx.now();
  let booking: Booking;
  try {
    booking = await ctx.commit(
      async (tx) => {
        const mode = await decideInside(ctx, tx, patient, rule);
        // Time off is read, not written, here; no doctor lock is needed: addTimeOff deletes the free
        // slots it covers, so it and this claim write the same slot row and cannot both commit.
        await assertNotAway(tx, schedule);
        return claimSlot(ctx, tx, { scheduleId: schedule.id, patient, mode, now, idempotencyKey: args.idempotencyKey });
      },
      bookedEffects(ctx, now),
    );
  } catch (error) {
    if (isBookingError(error) && error.code === 'SCHEDULE_UNAVAILABLE') {
      const winner = await existingFor(ctx, args.patientId, scheduleId, args.idempotencyKey);
      if (winner) return present(winner);
    }
    throw error;
  }

  if (booking.mode === 'free') return { booking };
  return startCheckout(ctx, booking, schedule, patient, args);
}

/**
 * Claims a free slot for the patient inside the booking transaction and inserts the booking:
 * pending (paid) or scheduled (free). Throws SCHEDULE_UNAVAILABLE when the slot is taken,
 * started, or (paid) starts too soon to pay for it.
 */
async function claimSlot(
  ctx: EngineContext,
  tx: StoreOperations,
  args: { scheduleId: string; patient: Patient; mode: BookingMode; now: Date; idempotencyKey: string | undefined },
): Promise<Booking> {
  const { patient, now } = args;
  const free = args.mode === 'free';
  const actor: Actor = { role: 'patient', id: patient.id };
  const claimed = await ctx.moveSlot(
    tx,
    free
      ? { id: args.scheduleId, from: 'available', to: 'booked', bookedBy: patient.id }
      : { id: args.scheduleId, from: 'available', to: 'pending' },
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
    mode: args.mode,
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
    // A free booking is confirmed at once and keeps the rules in force now; a paid one at payment.
    policy: free ? ctx.currentPolicy() : null,
    remindersSent: [],
    history: [ctx.history(null, status, 'unpaid', actor, free ? `free_${patient.plan}` : 'checkout_started')],
  });
  // Throwing rolls the slot claim back: another active booking or this key won the race.
  if (!inserted) throw unavailable('This slot is not available');
  return inserted;
}

/** The booking this patient already holds at this doctor and start, or for this idempotency key. */
async function existingAt(
  ctx: EngineContext,
  args: { patientId: string; doctorId: string; startTime: Date; idempotencyKey?: string | undefined },
): Promise<Booking | null> {
  if (args.idempotencyKey !== undefined) {
    const byKey = await ctx.store.findBookingByIdempotencyKey({
      patientId: args.patientId,
      idempotencyKey: args.idempotencyKey,
    });
    if (byKey) {
      if (byKey.doctorId !== args.doctorId || byKey.slotStart.getTime() !== args.startTime.getTime()) {
        throw new BookingError('INVALID_INPUT', 'idempotencyKey was already used for a different slot', {
          details: { bookingId: byKey.id },
        });
      }
      return byKey;
    }
  }
  const held = await ctx.store.findSchedules({
    doctorId: args.doctorId,
    status: ['pending', 'booked'],
    startFrom: args.startTime,
    startBefore: new Date(args.startTime.getTime() + 1),
  });
  for (const slot of held) {
    const active = await ctx.store.findActiveBooking(slot.id);
    if (active?.patientId === args.patientId) return active;
  }
  return null;
}

/**
 * Books a slot computed from the doctor's rules. Inside the transaction, under the patient's and
 * the doctor's locks, the same computation `findSlots` runs decides whether `startTime` is
 * offered; then the slot row is materialized (replacing freed computed rows it overlaps) and
 * claimed as a published one is, so every later use case sees an ordinary slot.
 */
async function bookComputed(
  ctx: EngineContext,
  args: BookOptions & { patientId: string; doctorId: string; startTime: Date },
): Promise<BookResult> {
  const earlier = await existingAt(ctx, args);
  if (earlier) return present(earlier);
  const patient = await ctx.patients.getPatient(args.patientId);
  if (!patient) throw new BookingError('PATIENT_NOT_FOUND', `No patient ${args.patientId}`);
  if (args.startTime <= ctx.now()) throw unavailable('This time has already started');
  const rule = await checkPlan(ctx, patient, args.doctorId);

  const now = ctx.now();
  let made: { booking: Booking; slot: Schedule; replaced: Schedule[] };
  try {
    made = await ctx.commit(
      async (tx) => {
        const mode = await decideInside(ctx, tx, patient, rule);
        await tx.lockDoctor(args.doctorId);
        const offered: ComputedSlot = await computedSlotAt(tx, args.doctorId, args.startTime, now);
        const replaced = (
          await tx.findSchedules({
            doctorId: args.doctorId,
            status: 'available',
            startFrom: new Date(offered.start.getTime() - 86_400_000),
            startBefore: offered.end,
            endAfter: offered.start,
          })
        ).filter(isFreedComputedSlot);
        if (replaced.length > 0) {
          const deleted = await tx.deleteSchedulesIf({ ids: replaced.map((s) => s.id), expectedStatus: 'available' });
          if (deleted !== replaced.length) throw unavailable('This slot is not available');
        }
        const slot = await tx.insertSchedule({
          doctorId: args.doctorId,
          startTime: offered.start,
          endTime: offered.end,
          timeZone: offered.timeZone,
          fee: offered.fee,
          status: 'available',
          bookedBy: null,
          rolledOverFrom: null,
          availabilityId: offered.availabilityId,
        });
        const booking = await claimSlot(ctx, tx, {
          scheduleId: slot.id,
          patient,
          mode,
          now,
          idempotencyKey: args.idempotencyKey,
        });
        return { booking, slot, replaced };
      },
      ({ booking, slot, replaced }) => [
        // The materialized row ends like a published one: expired (and its booking completed) after its end.
        scheduleExpiry(ctx, slot, { bookingId: booking.id, scheduleId: slot.id }),
        ...replaced.map((s) => cancelExpiry(ctx, s.id, { scheduleId: s.id })),
        ...bookedEffects(ctx, now)(booking),
      ],
    );
  } catch (error) {
    if (isBookingError(error) && error.code === 'SCHEDULE_UNAVAILABLE') {
      const winner = await existingAt(ctx, args);
      if (winner) return present(winner);
    }
    throw error;
  }
  if (made.booking.mode === 'free') return { booking: made.booking };
  return startCheckout(ctx, made.booking, made.slot, patient, args);
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
