// How much of a paid booking comes back when it is cancelled: a pure function of the rules and the time.

export interface CancellationPolicy {
  /**
   * A patient who cancels at least this many hours before the start gets everything back.
   * @defaultValue 24
   */
  fullRefundHoursBefore?: number;
  /**
   * A patient who cancels later, but before the start, gets this percentage back (rounded down
   * to whole minor units). After the start: nothing.
   * @defaultValue 50
   */
  lateRefundPercent?: number;
}

export const DEFAULT_CANCELLATION_POLICY: Readonly<Required<CancellationPolicy>> = Object.freeze({
  fullRefundHoursBefore: 24,
  lateRefundPercent: 50,
});

/**
 * The refund for a cancellation, in minor units, never more than `refundable`. Doctors and
 * admins always refund in full: the patient did not choose to lose the slot.
 */
export function refundForCancellation(args: {
  policy: Required<CancellationPolicy>;
  actorRole: 'patient' | 'doctor' | 'admin' | 'system';
  refundable: number;
  startTime: Date;
  now: Date;
}): number {
  const { policy, refundable, startTime, now } = args;
  if (refundable <= 0) return 0;
  if (args.actorRole !== 'patient') return refundable;
  const hoursBefore = (startTime.getTime() - now.getTime()) / 3_600_000;
  if (hoursBefore >= policy.fullRefundHoursBefore) return refundable;
  if (hoursBefore > 0) return Math.floor((refundable * policy.lateRefundPercent) / 100);
  return 0;
}

export function assertValidCancellationPolicy(policy: CancellationPolicy): Required<CancellationPolicy> {
  const full = policy.fullRefundHoursBefore ?? DEFAULT_CANCELLATION_POLICY.fullRefundHoursBefore;
  const percent = policy.lateRefundPercent ?? DEFAULT_CANCELLATION_POLICY.lateRefundPercent;
  if (typeof full !== 'number' || !Number.isFinite(full) || full < 0) {
    throw new TypeError('cancellation.fullRefundHoursBefore must be a number of hours >= 0');
  }
  if (typeof percent !== 'number' || !Number.isFinite(percent) || percent < 0 || percent > 100) {
    throw new TypeError('cancellation.lateRefundPercent must be between 0 and 100');
  }
  return { fullRefundHoursBefore: full, lateRefundPercent: percent };
}
