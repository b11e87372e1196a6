// Input schemas for the public methods (zod): bad input becomes INVALID_INPUT, never a throw from deep inside.
import { z } from 'zod';
import type { Actor } from '../domain/entities.js';
import { BookingError } from '../domain/errors.js';
import { MAX_AMOUNT } from '../domain/money.js';
import { isValidTimeZone } from '../domain/time.js';

/** Ids are opaque strings here; a store may reject ones it cannot parse (MongoDB: ObjectId). */
export const idSchema = z.string().trim().min(1, 'must not be empty').max(128, 'must be at most 128 characters');

const instantSchema = z
  .union([z.date(), z.iso.datetime({ offset: true })])
  .transform((value) => (value instanceof Date ? new Date(value.getTime()) : new Date(value)))
  .refine((value) => !Number.isNaN(value.getTime()), 'must be a valid date');

const urlSchema = z.url({ protocol: /^https?$/ }).max(2048);

export const moneySchema = z.object({
  amount: z
    .int('must be a whole number of minor units (e.g. cents)')
    .positive('must be greater than 0')
    .max(MAX_AMOUNT, `must be at most ${MAX_AMOUNT}`),
  currency: z
    .string()
    .regex(/^[A-Za-z]{3}$/, 'must be a three-letter ISO 4217 code')
    .transform((value) => value.toLowerCase()),
});

export const actorSchema: z.ZodType<Actor> = z.object({
  role: z.enum(['patient', 'doctor', 'admin', 'system']),
  id: idSchema,
});

export const createScheduleSchema = z
  .object({
    doctorId: idSchema,
    startTime: instantSchema,
    endTime: instantSchema,
    fee: moneySchema,
    timeZone: z.string().refine(isValidTimeZone, 'must be an IANA time zone such as Europe/Berlin'),
  })
  .refine((input) => input.endTime > input.startTime, { message: 'endTime must be after startTime', path: ['endTime'] })
  .refine((input) => input.endTime.getTime() - input.startTime.getTime() <= 86_400_000, {
    message: 'a slot may last at most 24 hours',
    path: ['endTime'],
  });

export const bookSchema = z
  .object({
    patientId: idSchema,
    scheduleId: idSchema.optional(),
    doctorId: idSchema.optional(),
    startTime: instantSchema.optional(),
    idempotencyKey: z.string().min(1).max(255).optional(),
    successUrl: urlSchema.optional(),
    cancelUrl: urlSchema.optional(),
  })
  .superRefine((input, ctx) => {
    const published = input.scheduleId !== undefined;
    const computed = input.doctorId !== undefined || input.startTime !== undefined;
    if (published && computed) {
      ctx.addIssue({
        code: 'custom',
        path: ['scheduleId'],
        message: 'give scheduleId, or doctorId and startTime, not both',
      });
    } else if (!published && !computed) {
      ctx.addIssue({ code: 'custom', path: ['scheduleId'], message: 'is required (or doctorId and startTime)' });
    } else if (computed) {
      if (input.doctorId === undefined)
        ctx.addIssue({ code: 'custom', path: ['doctorId'], message: 'is required with startTime' });
      if (input.startTime === undefined)
        ctx.addIssue({ code: 'custom', path: ['startTime'], message: 'is required with doctorId' });
    }
  });

export const setAvailabilitySchema = z.object({
  doctorId: idSchema,
  fee: moneySchema,
  effectiveFrom: instantSchema.optional(),
});

export const clearAvailabilitySchema = z.object({ doctorId: idSchema, effectiveFrom: instantSchema.optional() });

export const getAvailabilitySchema = z.object({ doctorId: idSchema, at: instantSchema.optional() });

export const findSlotsSchema = z.object({
  doctorId: idSchema,
  from: instantSchema,
  to: instantSchema,
  limit: z.int().min(1).max(1000).optional(),
  cursor: z.string().min(1).max(200).optional(),
});

export const addTimeOffSchema = z.object({
  doctorId: idSchema,
  start: instantSchema,
  end: instantSchema,
  reason: z.string().min(1).max(500).optional(),
  onConflict: z.enum(['reject', 'cancelAndRefund']).optional(),
});

export const removeTimeOffSchema = z.object({ timeOffId: idSchema });

export const listTimeOffSchema = z.object({
  doctorId: idSchema,
  from: instantSchema.optional(),
  to: instantSchema.optional(),
  limit: z.int().min(1).max(1000).optional(),
});

export const listSchedulesSchema = z.object({
  doctorId: idSchema.optional(),
  status: z.enum(['available', 'pending', 'booked', 'expired']).optional(),
  from: instantSchema.optional(),
  to: instantSchema.optional(),
  limit: z.int().min(1).max(1000).optional(),
});

export const listBookingsSchema = z.object({
  patientId: idSchema.optional(),
  doctorId: idSchema.optional(),
  scheduleId: idSchema.optional(),
  status: z.enum(['pending', 'scheduled', 'completed', 'cancelled', 'no_show']).optional(),
  limit: z.int().min(1).max(1000).optional(),
});

export const walletPageSchema = z.object({
  limit: z.int().min(1).max(1000).optional(),
  cursor: z.string().min(1).max(400).optional(),
});

/** Parses `input` or throws INVALID_INPUT naming every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }));
  const summary = issues.map((i) => (i.path ? `${i.path} ${i.message}` : i.message)).join('; ');
  throw new BookingError('INVALID_INPUT', `${what}: ${summary}`, { details: { issues } });
}

export function parseId(value: unknown, what: string): string {
  return parseInput(idSchema, value, what);
}

export const refundSchema = z.object({
  bookingId: idSchema,
  amount: z.int('must be a whole number of minor units').positive('must be greater than 0').max(MAX_AMOUNT).optional(),
  reason: z.string().min(1).max(500).optional(),
  idempotencyKey: z.string().min(1).max(200).optional(),
  actor: actorSchema.optional(),
});

export const cancelSchema = z.object({
  bookingId: idSchema,
  actor: actorSchema,
  reason: z.string().min(1).max(500).optional(),
});

export const quoteCancellationSchema = z.object({ bookingId: idSchema, actor: actorSchema });

export const bookingActorSchema = z.object({ bookingId: idSchema, actor: actorSchema });

export const withdrawScheduleSchema = z.object({ scheduleId: idSchema, actor: actorSchema });

export const rescheduleSchema = z.object({
  bookingId: idSchema,
  newScheduleId: idSchema,
  actor: actorSchema,
});

const providerId = z.string().min(1).max(255);
const eventRef = { id: providerId, bookingId: providerId.nullable(), sessionId: providerId.nullable() };
const minorUnits = z.int('must be a whole number of minor units').min(0).max(MAX_AMOUNT);
const currency = z.string().regex(/^[a-z]{3}$/, 'must be a lowercase three-letter ISO 4217 code');

/** A normalized provider event, as a PaymentGateway produces it. */
export const paymentEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('payment.succeeded'),
    ...eventRef,
    payment: z.object({ paymentId: providerId, amount: minorUnits.nullable(), currency }),
  }),
  z.object({ type: z.literal('payment.failed'), ...eventRef, reason: z.string().max(500).optional() }),
  z.object({ type: z.literal('checkout.expired'), ...eventRef }),
  z.object({
    type: z.literal('refund.updated'),
    id: providerId,
    paymentId: providerId,
    providerRefundId: providerId,
    refundId: providerId.nullable(),
    amount: minorUnits,
    currency,
    status: z.enum(['succeeded', 'pending', 'failed']),
  }),
]);
