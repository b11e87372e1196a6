// Money as integer minor units plus a lowercase ISO 4217 currency code.

export interface Money {
  /** Integer amount in the currency's minor unit (cents for usd). */
  amount: number;
  /** Lowercase ISO 4217 code, e.g. `usd`. */
  currency: string;
}

/** Stripe's documented ceiling for a single charge in most currencies (eight digits). */
export const MAX_AMOUNT = 99_999_999;

/** How many minor-unit digits a currency has, as `Intl` knows it (eur 2, jpy 0, kwd 3). */
export function minorUnitDigits(currency: string): number {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

const moneyFormats = new Map<string, Intl.NumberFormat>();

/**
 * Money for people, with the currency's own minor-unit digits (`Intl.NumberFormat`):
 * `{ amount: 5000, currency: 'eur' }` → `€50.00`; `{ amount: 5000, currency: 'jpy' }` → `¥5,000`.
 * `locale` @defaultValue 'en'
 */
export function formatMoney(money: Money, locale = 'en'): string {
  const key = `${locale}:${money.currency}`;
  let format = moneyFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(locale, { style: 'currency', currency: money.currency.toUpperCase() });
    moneyFormats.set(key, format);
  }
  return format.format(money.amount / 10 ** minorUnitDigits(money.currency));
}

/** Sums amounts per currency; never mixes currencies into one number. */
export function sumByCurrency(items: readonly Money[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const item of items) totals[item.currency] = (totals[item.currency] ?? 0) + item.amount;
  return totals;
}
