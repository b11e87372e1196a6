// The doctor's ledger: one credit per paid booking, one debit per refund of credited money, and the balance.
import type { Booking, LedgerEntry, PaymentTransaction, RefundRecord } from '../domain/entities.js';
import { sumByCurrency } from '../domain/money.js';
import type { StoreOperations } from '../ports/booking-store.js';
import type { EngineContext } from './context.js';
import { parseId } from './validation.js';

export interface Wallet {
  doctorId: string;
  /** Credits minus debits, per currency, in minor units. */
  balances: Record<string, number>;
  entries: LedgerEntry[];
}

/** Credits the doctor for a paid booking; keyed per booking, so a replay credits nothing more. */
export function creditBooking(
  ctx: EngineContext,
  tx: StoreOperations,
  booking: Booking,
  payment: { amount: number; currency: string },
): Promise<boolean> {
  return tx.appendLedgerEntry({
    key: `credit:${booking.id}`,
    doctorId: booking.doctorId,
    bookingId: booking.id,
    kind: 'credit',
    amount: payment.amount,
    currency: payment.currency,
    createdAt: ctx.now(),
  });
}

/** Debits the doctor for a refund that succeeded; keyed per refund, so a replay debits nothing more. */
export function debitRefund(
  ctx: EngineContext,
  tx: StoreOperations,
  booking: Booking,
  payment: PaymentTransaction,
  refund: RefundRecord,
): Promise<boolean> {
  return tx.appendLedgerEntry({
    key: `refund:${refund.id}`,
    doctorId: booking.doctorId,
    bookingId: booking.id,
    kind: 'debit',
    amount: refund.amount,
    currency: payment.currency,
    createdAt: ctx.now(),
  });
}

/** The doctor's ledger and balances per currency. */
export async function getWallet(ctx: EngineContext, doctorIdInput: string): Promise<Wallet> {
  const doctorId = parseId(doctorIdInput, 'doctorId');
  const entries = await ctx.store.findLedgerEntries({ doctorId });
  const signed = entries.map((e) => ({ amount: e.kind === 'credit' ? e.amount : -e.amount, currency: e.currency }));
  return { doctorId, balances: sumByCurrency(signed), entries };
}
