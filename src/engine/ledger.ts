// The doctor's ledger: one credit per paid booking, one debit per refund of credited money, and the balance.
import type { Booking, LedgerEntry, PaymentTransaction, RefundRecord } from '../domain/entities.js';
import { BookingError } from '../domain/errors.js';
import type { KeysetCursor, StoreOperations } from '../ports/booking-store.js';
import type { EngineContext } from './context.js';
import { parseId, parseInput, walletPageSchema } from './validation.js';

export interface Wallet {
  doctorId: string;
  /** Credits minus debits, per currency, in minor units: over the whole ledger, not only this page. */
  balances: Record<string, number>;
  /** One page of the ledger, oldest first. */
  entries: LedgerEntry[];
  /** Pass as `cursor` for the next page; null when this page is the last. */
  nextCursor: string | null;
}

export interface WalletPage {
  /** Entries per page. @defaultValue 100 (at most 1000) */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
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

/**
 * The doctor's balances per currency and one page of the ledger, read in one transaction so the
 * page and the balances agree. Every read is bounded: the store sums the balances itself.
 */
export async function getWallet(
  ctx: EngineContext,
  doctorIdInput: string,
  pageInput: WalletPage = {},
): Promise<Wallet> {
  const doctorId = parseId(doctorIdInput, 'doctorId');
  const page = parseInput(walletPageSchema, pageInput, 'getWallet');
  const limit = page.limit ?? 100;
  const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
  const { balances, entries } = await ctx.store.transaction(async (tx) => ({
    balances: await tx.ledgerBalances({ doctorId }),
    entries: await tx.findLedgerEntries({ doctorId, limit, ...(after === undefined ? {} : { after }) }),
  }));
  const last = entries.at(-1);
  return { doctorId, balances, entries, nextCursor: entries.length === limit && last ? encodeCursor(last) : null };
}

// A cursor is the last entry's (createdAt, id), opaque to hosts: base64url of `<epoch ms>.<id>`.
function encodeCursor(entry: KeysetCursor): string {
  return Buffer.from(`${entry.createdAt.getTime()}.${entry.id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): KeysetCursor {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^(\d{1,15})\.(.+)$/.exec(text);
  if (match === null || Buffer.from(text, 'utf8').toString('base64url') !== cursor) {
    throw new BookingError('INVALID_INPUT', 'getWallet: cursor is not a nextCursor careslot returned', {
      details: { field: 'cursor' },
    });
  }
  return { createdAt: new Date(Number(match[1])), id: match[2] as string };
}
