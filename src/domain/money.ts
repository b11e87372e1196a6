// Money as integer minor units plus a lowercase ISO 4217 currency code.

export interface Money {
  /** Integer amount in the currency's minor unit (cents for usd). */
  amount: number;
  /** Lowercase ISO 4217 code, e.g. `usd`. */
  currency: string;
}

/** Stripe's documented ceiling for a single charge in most currencies (eight digits). */
export const MAX_AMOUNT = 99_999_999;

export function isMinorUnits(amount: unknown): amount is number {
  return typeof amount === 'number' && Number.isSafeInteger(amount) && amount >= 0;
}

export function sameMoney(a: Money, b: Money): boolean {
  return a.amount === b.amount && a.currency === b.currency;
}

/** Sums amounts per currency; never mixes currencies into one number. */
export function sumByCurrency(items: readonly Money[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const item of items) totals[item.currency] = (totals[item.currency] ?? 0) + item.amount;
  return totals;
}
