// Cancellation and reschedule rules as data: tiers, the patient cutoff, per-actor deadlines, and the quote a cancellation applies.
import type { BookingPolicy, CancellationTier } from './entities.js';

/**
 * How much of a paid booking a patient gets back when cancelling, by how long before the start.
 * Give `tiers` (the full form), or the one-tier shorthand `fullRefundHoursBefore` /
 * `lateRefundPercent`, which means `[{ hoursBefore: full, refundPercent: 100 }, { hoursBefore: 0,
 * refundPercent: late }]`.
 */
export interface CancellationPolicy {
  /**
   * Cancelling at least `hoursBefore` hours before the start gives back `refundPercent` of what
   * is refundable (rounded down to whole minor units); the tier with the largest `hoursBefore`
   * that applies wins; before every tier: nothing.
   * @defaultValue `[{ hoursBefore: 24, refundPercent: 100 }, { hoursBefore: 0, refundPercent: 50 }]`
   */
  tiers?: readonly CancellationTier[];
  /** Patients may not cancel a scheduled booking within this many hours of the start (NOT_ALLOWED). @defaultValue none */
  patientCutoffHours?: number;
  /** What a patient gets back at or after the start: nothing. @defaultValue 'none' */
  afterStart?: 'none';
  /** Shorthand: full refund up to this many hours before the start. @defaultValue 24 */
  fullRefundHoursBefore?: number;
  /** Shorthand: the percentage after that, before the start. @defaultValue 50 */
  lateRefundPercent?: number;
}

/** Who may move a booking how late, how often, and to what fee, without a second payment. */
export interface ReschedulePolicy {
  /** Patients may not reschedule within this many hours of the start. @defaultValue 2 */
  patientDeadlineHours?: number;
  /** The doctor and admins may not reschedule within this many hours of the start. @defaultValue 0 */
  staffDeadlineHours?: number;
  /** How many times one booking may be moved. @defaultValue no limit */
  maxPerBooking?: number;
  /** Target fees allowed: the `same`, `lowerOrEqual` (no partial refund), or `any`. @defaultValue 'same' */
  fee?: 'same' | 'lowerOrEqual' | 'any';
}

export const DEFAULT_CANCELLATION_POLICY: Readonly<
  Required<Pick<CancellationPolicy, 'fullRefundHoursBefore' | 'lateRefundPercent'>>
> = Object.freeze({ fullRefundHoursBefore: 24, lateRefundPercent: 50 });

const hours = (value: unknown, what: string): number => {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${what} must be a number of hours >= 0 (got ${String(value)})`);
  }
  return value;
};

const percent = (value: unknown, what: string): number => {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100) {
    throw new TypeError(`${what} must be between 0 and 100 (got ${String(value)})`);
  }
  return value;
};

/** The cancellation rules in full: tiers sorted by `hoursBefore`, largest first, each once. */
export function resolveCancellationPolicy(policy: CancellationPolicy): BookingPolicy['cancellation'] {
  if (policy === null || typeof policy !== 'object') throw new TypeError('cancellation must be an object');
  const shorthand = policy.fullRefundHoursBefore !== undefined || policy.lateRefundPercent !== undefined;
  if (policy.tiers !== undefined && shorthand) {
    throw new TypeError('cancellation: give tiers, or the fullRefundHoursBefore/lateRefundPercent shorthand, not both');
  }
  let tiers: CancellationTier[];
  if (policy.tiers !== undefined) {
    if (!Array.isArray(policy.tiers))
      throw new TypeError('cancellation.tiers must be an array of { hoursBefore, refundPercent }');
    tiers = policy.tiers.map((tier, i) => ({
      hoursBefore: hours(tier?.hoursBefore, `cancellation.tiers[${i}].hoursBefore`),
      refundPercent: percent(tier?.refundPercent, `cancellation.tiers[${i}].refundPercent`),
    }));
    const seen = new Set<number>();
    for (const tier of tiers) {
      if (seen.has(tier.hoursBefore))
        throw new TypeError(`cancellation.tiers has two tiers at ${tier.hoursBefore} hours before the start`);
      seen.add(tier.hoursBefore);
    }
  } else {
    const full = hours(
      policy.fullRefundHoursBefore ?? DEFAULT_CANCELLATION_POLICY.fullRefundHoursBefore,
      'cancellation.fullRefundHoursBefore',
    );
    const late = percent(
      policy.lateRefundPercent ?? DEFAULT_CANCELLATION_POLICY.lateRefundPercent,
      'cancellation.lateRefundPercent',
    );
    tiers =
      full === 0
        ? [{ hoursBefore: 0, refundPercent: 100 }]
        : [
            { hoursBefore: full, refundPercent: 100 },
            { hoursBefore: 0, refundPercent: late },
          ];
  }
  tiers.sort((a, b) => b.hoursBefore - a.hoursBefore);
  const afterStart = policy.afterStart ?? 'none';
  if (afterStart !== 'none') throw new TypeError(`cancellation.afterStart must be 'none' (got ${String(afterStart)})`);
  return {
    tiers,
    patientCutoffHours:
      policy.patientCutoffHours === undefined
        ? null
        : hours(policy.patientCutoffHours, 'cancellation.patientCutoffHours'),
    afterStart,
  };
}

/** The reschedule rules in full; the old `rescheduleDeadlineHours` / `rescheduleFee` options are their shorthand. */
export function resolveReschedulePolicy(
  policy: ReschedulePolicy | undefined,
  shorthand: { rescheduleDeadlineHours?: number | undefined; rescheduleFee?: ReschedulePolicy['fee'] | undefined },
): BookingPolicy['reschedule'] {
  if (
    policy !== undefined &&
    (shorthand.rescheduleDeadlineHours !== undefined || shorthand.rescheduleFee !== undefined)
  ) {
    throw new TypeError('give reschedule, or the rescheduleDeadlineHours/rescheduleFee shorthand, not both');
  }
  if (policy !== undefined && (policy === null || typeof policy !== 'object'))
    throw new TypeError('reschedule must be an object');
  const fee = policy?.fee ?? shorthand.rescheduleFee ?? 'same';
  if (!['same', 'lowerOrEqual', 'any'].includes(fee)) {
    const name = policy ? 'reschedule.fee' : 'rescheduleFee';
    throw new TypeError(`${name} must be 'same', 'lowerOrEqual' or 'any' (got ${String(fee)})`);
  }
  const max = policy?.maxPerBooking;
  if (max !== undefined && (!Number.isInteger(max) || max < 0)) {
    throw new TypeError(`reschedule.maxPerBooking must be a whole number >= 0 (got ${String(max)})`);
  }
  return {
    patientDeadlineHours: hours(
      policy?.patientDeadlineHours ?? shorthand.rescheduleDeadlineHours ?? 2,
      policy ? 'reschedule.patientDeadlineHours' : 'rescheduleDeadlineHours',
    ),
    staffDeadlineHours: hours(policy?.staffDeadlineHours ?? 0, 'reschedule.staffDeadlineHours'),
    maxPerBooking: max ?? null,
    fee,
  };
}

/** What cancelling would do: whether it is allowed, what comes back, what the doctor keeps, and why. */
export interface RefundQuote {
  allowed: boolean;
  /** Minor units given back. */
  refund: number;
  /** Minor units of what was refundable that the doctor keeps. */
  kept: number;
  /**
   * `staff` (doctors and admins refund in full), `tier` (see `tier`), `before_every_tier`,
   * `after_start`, `patient_cutoff` (not allowed), or `nothing_paid`.
   */
  reason: 'staff' | 'tier' | 'before_every_tier' | 'after_start' | 'patient_cutoff' | 'nothing_paid';
  /** The tier applied, when `reason` is `tier`. */
  tier: CancellationTier | null;
}

/**
 * The quote for cancelling a scheduled booking with `refundable` minor units left on its
 * payment, `hoursBefore = (startTime - now) / 1 h`: staff always get it all back for the
 * patient; a patient inside `patientCutoffHours` (hoursBefore < cutoff, before the start) may not
 * cancel; at or after the start nothing comes back; otherwise the first tier with
 * `hoursBefore >= tier.hoursBefore` gives `floor(refundable × percent / 100)`.
 */
export function quoteRefund(args: {
  rules: BookingPolicy['cancellation'];
  actorRole: 'patient' | 'doctor' | 'admin' | 'system';
  refundable: number;
  startTime: Date;
  now: Date;
}): RefundQuote {
  const { rules, refundable } = args;
  const hoursBefore = (args.startTime.getTime() - args.now.getTime()) / 3_600_000;
  const quote = (reason: RefundQuote['reason'], refund: number, tier: CancellationTier | null = null): RefundQuote => ({
    allowed: true,
    refund,
    kept: Math.max(0, refundable) - refund,
    reason,
    tier,
  });
  if (args.actorRole !== 'patient') return quote(refundable > 0 ? 'staff' : 'nothing_paid', Math.max(0, refundable));
  if (rules.patientCutoffHours !== null && hoursBefore > 0 && hoursBefore < rules.patientCutoffHours) {
    return { allowed: false, refund: 0, kept: 0, reason: 'patient_cutoff', tier: null };
  }
  if (refundable <= 0) return quote('nothing_paid', 0);
  if (hoursBefore <= 0) return quote('after_start', 0);
  const tier = rules.tiers.find((t) => hoursBefore >= t.hoursBefore) ?? null;
  if (!tier) return quote('before_every_tier', 0);
  return quote('tier', Math.floor((refundable * tier.refundPercent) / 100), tier);
}

/** The refund for a cancellation in minor units (`quoteRefund`'s `refund`; 0 where it is not allowed). */
export function refundForCancellation(args: Parameters<typeof quoteRefund>[0]): number {
  return quoteRefund(args).refund;
}
