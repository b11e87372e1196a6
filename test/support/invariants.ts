// Whole-store invariants: checked after every engine-suite test (see engine-fixture.ts) and after faults and load.
import {
  type Booking,
  canTransitionBooking,
  isActiveBookingStatus,
  type LedgerEntry,
  type PaymentTransaction,
  type Schedule,
  type StoreReads,
} from '../../src/index.js';

/** The reads the checker needs; any store (or a hand-built stand-in over records) has them. */
export type InvariantReads = Pick<
  StoreReads,
  | 'findSchedules'
  | 'findBookings'
  | 'findPaymentTransactions'
  | 'findLedgerEntries'
  | 'ledgerBalances'
  | 'findTimeOff'
  | 'findAvailability'
>;

const LIVE: readonly Schedule['status'][] = ['available', 'pending', 'booked'];

/**
 * Returns every violation found (empty when the store is consistent), one line each:
 * - slots: `endTime > startTime`; no two live (available/pending/booked) slots of one doctor
 *   overlap; at most one active (pending/scheduled) booking per slot, and no active booking on a
 *   missing slot;
 * - slot status matches its booking: `pending` ⇔ exactly one active booking, which is pending;
 *   `booked` ⇔ exactly one active booking, scheduled, by `bookedBy` (once the slot has started,
 *   a booking of `bookedBy` that was cancelled after the start or completed also counts);
 *   `available` and `expired` slots have no active booking, and `available` ones no `bookedBy`;
 * - money: one ledger line per key; each doctor's wallet (credits − debits, per currency)
 *   equals the credited payments minus their succeeded refunds, and the store's running total
 *   (`ledgerBalances`) equals that sum of lines; per payment, succeeded refunds
 *   and pending plus succeeded refunds stay ≤ the amount paid; a booking's `amountRefunded` is
 *   its payment's succeeded refunds; a paid-mode booking is never scheduled while unpaid;
 * - every booking's history is a chain from null to its current status, each step one the
 *   domain's state machine allows (`canTransitionBooking`);
 * - availability: no active booking and no free slot overlaps its doctor's time off; a slot
 *   materialized from rules keeps its version's buffers to every live slot that existed when it
 *   was made (its `createdAt`), and slots made after it keep theirs to it when they came from
 *   rules too.
 */
export async function findViolations(store: InvariantReads, options: { now: Date }): Promise<string[]> {
  const violations: string[] = [];
  const schedules = await store.findSchedules({});
  const bookings = await store.findBookings({});
  const ledger = await store.findLedgerEntries({});

  checkSlots(schedules, violations);
  checkSlotsAgainstBookings(schedules, bookings, options.now, violations);

  const payments: { booking: Booking; payment: PaymentTransaction }[] = [];
  for (const booking of bookings) {
    for (const payment of await store.findPaymentTransactions({ bookingId: booking.id })) {
      payments.push({ booking, payment });
    }
  }
  checkMoney(bookings, payments, ledger, violations);
  await checkRunningTotals(store, ledger, violations);
  for (const booking of bookings) checkHistory(booking, violations);
  await checkAvailability(store, schedules, bookings, violations);
  return violations;
}

const FOREVER = { from: new Date(-8.64e15), to: new Date(8.64e15) };

async function checkAvailability(
  store: InvariantReads,
  schedules: readonly Schedule[],
  bookings: readonly Booking[],
  violations: string[],
): Promise<void> {
  const doctors = new Set(schedules.map((s) => s.doctorId));
  for (const b of bookings) doctors.add(b.doctorId);
  for (const doctorId of doctors) {
    const timeOff = await store.findTimeOff({ doctorId });
    for (const off of timeOff) {
      for (const b of bookings) {
        if (
          b.doctorId === doctorId &&
          isActiveBookingStatus(b.status) &&
          b.slotStart < off.end &&
          off.start < b.slotEnd
        )
          violations.push(`booking ${b.id} is ${b.status} during time off ${off.id}`);
      }
      for (const s of schedules) {
        if (s.doctorId === doctorId && s.status === 'available' && s.startTime < off.end && off.start < s.endTime)
          violations.push(`slot ${s.id} is available during time off ${off.id}`);
      }
    }
    const versions = new Map(
      (await store.findAvailability({ doctorId, ...FOREVER })).map((v) => [v.id, v.rules] as const),
    );
    // Freed computed slots are not busy for the rules (they are offered again), so they are no partner.
    const live = schedules.filter(
      (s) =>
        s.doctorId === doctorId && LIVE.includes(s.status) && !(s.status === 'available' && s.availabilityId != null),
    );
    for (const made of live) {
      const rules = made.availabilityId == null ? undefined : versions.get(made.availabilityId);
      if (!rules) continue;
      for (const other of live) {
        if (other.id === made.id || other.createdAt > made.createdAt) continue;
        const gapBefore = made.startTime.getTime() - other.endTime.getTime();
        const gapAfter = other.startTime.getTime() - made.endTime.getTime();
        const tooClose =
          other.startTime < made.startTime
            ? gapBefore < rules.bufferBeforeMinutes * 60_000
            : gapAfter < rules.bufferAfterMinutes * 60_000;
        if (tooClose)
          violations.push(`computed slot ${made.id} is within its buffers of slot ${other.id} that existed before it`);
      }
    }
  }
}

function checkSlots(schedules: readonly Schedule[], violations: string[]): void {
  for (const s of schedules) {
    if (!(s.endTime.getTime() > s.startTime.getTime()))
      violations.push(
        `slot ${s.id} ends at ${s.endTime.toISOString()}, not after its start ${s.startTime.toISOString()}`,
      );
  }
  const liveByDoctor = new Map<string, Schedule[]>();
  for (const s of schedules) {
    if (LIVE.includes(s.status)) liveByDoctor.set(s.doctorId, [...(liveByDoctor.get(s.doctorId) ?? []), s]);
  }
  for (const [doctorId, live] of liveByDoctor) {
    const sorted = [...live].sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
    // Sorted by start, a slot overlaps an earlier one exactly when it starts before the latest end so far.
    let latest: Schedule | null = null;
    for (const s of sorted) {
      if (latest && s.startTime < latest.endTime)
        violations.push(`doctor ${doctorId} has overlapping live slots ${latest.id} and ${s.id}`);
      if (!latest || s.endTime > latest.endTime) latest = s;
    }
  }
}

function checkSlotsAgainstBookings(
  schedules: readonly Schedule[],
  bookings: readonly Booking[],
  now: Date,
  violations: string[],
): void {
  const slotIds = new Set(schedules.map((s) => s.id));
  const active = new Map<string, Booking[]>();
  for (const b of bookings) {
    if (!isActiveBookingStatus(b.status)) continue;
    active.set(b.scheduleId, [...(active.get(b.scheduleId) ?? []), b]);
    if (!slotIds.has(b.scheduleId)) violations.push(`booking ${b.id} is ${b.status} on a missing slot ${b.scheduleId}`);
  }
  for (const s of schedules) {
    const holders = active.get(s.id) ?? [];
    if (holders.length > 1) violations.push(`slot ${s.id} has ${holders.length} active bookings`);
    const holder = holders[0];
    switch (s.status) {
      case 'pending':
        if (holder?.status !== 'pending') violations.push(`slot ${s.id} is pending without a pending booking`);
        break;
      case 'booked':
        if (s.bookedBy === null) violations.push(`slot ${s.id} is booked without booked_by`);
        if (holder) {
          if (holder.status !== 'scheduled')
            violations.push(`slot ${s.id} is booked but its active booking ${holder.id} is ${holder.status}`);
          else if (s.bookedBy !== holder.patientId) violations.push(`slot ${s.id} booked_by mismatch`);
        } else if (s.startTime > now) {
          violations.push(`future slot ${s.id} is booked without a scheduled booking`);
        } else if (!bookings.some((b) => b.scheduleId === s.id && b.patientId === s.bookedBy)) {
          // Cancelled after the start (or completed): the slot stays booked by that patient.
          violations.push(`started slot ${s.id} is booked by ${s.bookedBy} who has no booking of it`);
        }
        break;
      case 'available':
        if (holder) violations.push(`slot ${s.id} is available but booking ${holder.id} holds it`);
        if (s.bookedBy !== null) violations.push(`slot ${s.id} is available but booked_by is ${s.bookedBy}`);
        break;
      case 'expired':
        if (holder) violations.push(`slot ${s.id} is expired but booking ${holder.id} is still ${holder.status}`);
        break;
    }
  }
}

function checkMoney(
  bookings: readonly Booking[],
  payments: readonly { booking: Booking; payment: PaymentTransaction }[],
  ledger: readonly LedgerEntry[],
  violations: string[],
): void {
  const keys = new Map<string, number>();
  for (const e of ledger) keys.set(e.key, (keys.get(e.key) ?? 0) + 1);
  for (const [key, count] of keys) if (count > 1) violations.push(`ledger key ${key} appears ${count} times`);

  // Per doctor and currency: what the ledger says, and what the payments say it should say.
  const wallet = new Map<string, number>();
  const expected = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, amount: number) => map.set(key, (map.get(key) ?? 0) + amount);
  for (const e of ledger) add(wallet, `${e.doctorId} ${e.currency}`, e.kind === 'credit' ? e.amount : -e.amount);

  for (const { booking, payment } of payments) {
    const succeeded = payment.refunds.filter((r) => r.status === 'succeeded').reduce((sum, r) => sum + r.amount, 0);
    const committed = payment.refunds.filter((r) => r.status !== 'failed').reduce((sum, r) => sum + r.amount, 0);
    if (succeeded > payment.amount) violations.push(`payment ${payment.id} refunded ${succeeded} of ${payment.amount}`);
    else if (committed > payment.amount)
      violations.push(`payment ${payment.id} has ${committed} refunded or pending of ${payment.amount}`);
    if (payment.credited) add(expected, `${booking.doctorId} ${payment.currency}`, payment.amount - succeeded);
    if (payment.id === booking.paymentTransactionId && booking.amountRefunded !== succeeded) {
      violations.push(`booking ${booking.id} says ${booking.amountRefunded} refunded, payment says ${succeeded}`);
    }
  }
  for (const key of new Set([...wallet.keys(), ...expected.keys()])) {
    const [doctorId, currency] = key.split(' ');
    const balance = wallet.get(key) ?? 0;
    const owed = expected.get(key) ?? 0;
    if (balance !== owed)
      violations.push(`doctor ${doctorId} wallet ${balance} ${currency} != paid minus refunded ${owed} ${currency}`);
  }

  for (const b of bookings) {
    if (b.status === 'scheduled' && b.mode === 'paid' && b.paymentStatus === 'unpaid') {
      violations.push(`booking ${b.id} is scheduled but unpaid`);
    }
  }
}

/** Each doctor's running totals are exactly the sum of their ledger lines, currency by currency. */
async function checkRunningTotals(store: InvariantReads, ledger: readonly LedgerEntry[], violations: string[]) {
  const sums = new Map<string, Record<string, number>>();
  for (const e of ledger) {
    const of = sums.get(e.doctorId) ?? {};
    of[e.currency] = (of[e.currency] ?? 0) + (e.kind === 'credit' ? e.amount : -e.amount);
    sums.set(e.doctorId, of);
  }
  for (const [doctorId, sum] of sums) {
    const totals = await store.ledgerBalances({ doctorId });
    for (const currency of new Set([...Object.keys(sum), ...Object.keys(totals)])) {
      if ((totals[currency] ?? 0) !== (sum[currency] ?? 0)) {
        violations.push(
          `doctor ${doctorId} running total ${totals[currency] ?? 'absent'} ${currency} != sum of lines ${sum[currency] ?? 0} ${currency}`,
        );
      }
    }
  }
}

function checkHistory(b: Booking, violations: string[]): void {
  let previous: Booking['status'] | null = null;
  for (const [i, h] of b.history.entries()) {
    if (h.from !== previous)
      violations.push(`booking ${b.id} history step ${i} starts from ${h.from}, expected ${previous}`);
    if (!canTransitionBooking(h.from, h.to))
      violations.push(`booking ${b.id} history step ${i} (${h.from} → ${h.to}) is not an allowed transition`);
    previous = h.to;
  }
  if (previous !== b.status) violations.push(`booking ${b.id} history ends at ${previous} but status is ${b.status}`);
}
