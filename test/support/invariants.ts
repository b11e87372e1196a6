// Whole-store invariants the reliability suite checks after faults and load.
import { type BookingStore, canTransitionBooking } from '../../src/index.js';

/**
 * Returns every violation found (empty when the store is consistent):
 * - at most one active (pending/scheduled) booking per slot, and slot status matching it;
 * - each doctor's wallet equals credited payments minus their succeeded refunds;
 * - every booking's history is a chain ending in its current status, each step one the
 *   domain's state machine allows (`canTransitionBooking`);
 * - a booking's refunded total equals the succeeded refunds of its payment.
 */
export async function findViolations(store: BookingStore, options: { now: Date }): Promise<string[]> {
  const violations: string[] = [];
  const schedules = await store.findSchedules({});
  const bookings = await store.findBookings({});
  const active = new Map<string, string[]>();
  for (const b of bookings) {
    if (b.status === 'pending' || b.status === 'scheduled')
      active.set(b.scheduleId, [...(active.get(b.scheduleId) ?? []), b.id]);
  }
  for (const s of schedules) {
    const holders = active.get(s.id) ?? [];
    if (holders.length > 1) violations.push(`slot ${s.id} has ${holders.length} active bookings`);
    const holder = bookings.find((b) => b.id === holders[0]);
    if (s.status === 'pending' && holder?.status !== 'pending')
      violations.push(`slot ${s.id} is pending without a pending booking`);
    if (s.status === 'available' && holder)
      violations.push(`slot ${s.id} is available but booking ${holder.id} holds it`);
    if (s.status === 'booked' && s.startTime > options.now && holder?.status !== 'scheduled') {
      violations.push(`future slot ${s.id} is booked without a scheduled booking`);
    }
    if (s.status === 'booked' && holder && s.bookedBy !== holder.patientId)
      violations.push(`slot ${s.id} booked_by mismatch`);
  }

  const expected = new Map<string, number>();
  for (const b of bookings) {
    const payments = await store.findPaymentTransactions({ bookingId: b.id });
    for (const p of payments) {
      const refunded = p.refunds.filter((r) => r.status === 'succeeded').reduce((sum, r) => sum + r.amount, 0);
      if (refunded > p.amount) violations.push(`payment ${p.id} refunded ${refunded} of ${p.amount}`);
      if (p.credited) expected.set(b.doctorId, (expected.get(b.doctorId) ?? 0) + p.amount - refunded);
      if (p.id === b.paymentTransactionId && b.amountRefunded !== refunded) {
        violations.push(`booking ${b.id} says ${b.amountRefunded} refunded, payment says ${refunded}`);
      }
    }
    if (b.status === 'scheduled' && b.mode === 'paid' && b.paymentStatus === 'unpaid') {
      violations.push(`booking ${b.id} is scheduled but unpaid`);
    }
    let previous: string | null = null;
    for (const [i, h] of b.history.entries()) {
      if (h.from !== previous)
        violations.push(`booking ${b.id} history step ${i} starts from ${h.from}, expected ${previous}`);
      if (!canTransitionBooking(h.from, h.to))
        violations.push(`booking ${b.id} history step ${i} (${h.from} → ${h.to}) is not an allowed transition`);
      previous = h.to;
    }
    if (previous !== b.status) violations.push(`booking ${b.id} history ends at ${previous} but status is ${b.status}`);
  }
  const doctors = new Set([...schedules.map((s) => s.doctorId), ...bookings.map((b) => b.doctorId)]);
  for (const doctorId of doctors) {
    const entries = await store.findLedgerEntries({ doctorId });
    const balance = entries.reduce((sum, e) => sum + (e.kind === 'credit' ? e.amount : -e.amount), 0);
    if (balance !== (expected.get(doctorId) ?? 0)) {
      violations.push(`doctor ${doctorId} wallet ${balance} != paid minus refunded ${expected.get(doctorId) ?? 0}`);
    }
  }
  return violations;
}
