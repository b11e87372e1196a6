// Which subscription plans may book, and whether they pay: a configurable table.

/** How one plan books. */
export interface PlanRule {
  /** `pay`: Stripe Checkout; `free`: booked at once; `reject`: SUBSCRIPTION_REQUIRED. */
  mode: 'pay' | 'free' | 'reject';
  /**
   * The patient must already be the doctor's patient (PatientDirectory.hasRelation).
   * @defaultValue false
   */
  relationRequired?: boolean;
  /**
   * With `mode: 'pay'`: this many bookings are free before the patient starts paying
   * (counted over the patient's free bookings that were not cancelled).
   * @defaultValue 0
   */
  freeQuota?: number;
}

/** Plan name → rule. Plans not in the table are rejected like `none`. */
export type PlanTable = Record<string, PlanRule>;

/** The original system's table: none rejected, trial and standard plans pay, VISE is free with a relation. */
export const DEFAULT_PLANS: Readonly<PlanTable> = Object.freeze({
  none: { mode: 'reject' },
  freeTrial: { mode: 'pay' },
  standard: { mode: 'pay' },
  standardPlus: { mode: 'pay' },
  vise: { mode: 'free', relationRequired: true },
});

export type BookingMode = 'paid' | 'free';

export type PlanDecision = { outcome: 'reject' } | { outcome: 'book'; mode: BookingMode; relationRequired: boolean };

/**
 * Decides how a patient on `plan` books, given how many free bookings they already used.
 * Pure: the caller counts `freeBookingsUsed` from the store.
 */
export function decidePlan(plans: PlanTable, plan: string, freeBookingsUsed: number): PlanDecision {
  const rule = Object.hasOwn(plans, plan) ? plans[plan] : undefined;
  if (rule === undefined || rule.mode === 'reject') return { outcome: 'reject' };
  const relationRequired = rule.relationRequired ?? false;
  if (rule.mode === 'free') return { outcome: 'book', mode: 'free', relationRequired };
  const quota = rule.freeQuota ?? 0;
  return {
    outcome: 'book',
    mode: freeBookingsUsed < quota ? 'free' : 'paid',
    relationRequired,
  };
}

/** Throws a readable message when a host-supplied plan table is malformed. */
export function assertValidPlanTable(plans: PlanTable): void {
  for (const [name, rule] of Object.entries(plans)) {
    if (rule === null || typeof rule !== 'object' || !['pay', 'free', 'reject'].includes(rule.mode)) {
      throw new TypeError(`plans.${name}.mode must be 'pay', 'free' or 'reject'`);
    }
    if (rule.freeQuota !== undefined && !(Number.isSafeInteger(rule.freeQuota) && rule.freeQuota >= 0)) {
      throw new TypeError(`plans.${name}.freeQuota must be a whole number >= 0`);
    }
  }
}
