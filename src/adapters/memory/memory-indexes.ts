// The memory store's sorted indexes: kept in step with every committed row change, so each read walks only what it can match.
import type { BookingRow, LedgerRow, OutboxRow, PaymentRow, ScheduleRow } from './rows.js';
import { PartitionedIndex, SortedIndex } from './sorted-index.js';

/** The tables the indexes follow, and their row types. */
export interface IndexedRows {
  schedules: ScheduleRow;
  bookings: BookingRow;
  payments: PaymentRow;
  ledger: LedgerRow;
  outbox: OutboxRow;
}

/** The (partition, key) an entry sits at in one index, or null when the row is not in it. */
type Placement = { partition: string; key: number } | null;

const at = (partition: string, key: number): Placement => ({ partition, key });

/**
 * Every sorted index over the committed rows. Serializable transactions change the committed
 * maps directly and report each change (and its undo) here; snapshot transactions report theirs
 * when they commit. Reads inside a snapshot transaction, which see their own snapshot, do not
 * use these (they scan their view).
 */
export class MemoryIndexes {
  // Slots by (startTime, id): per doctor and per status. A query naming neither merges the few
  // status partitions (one index fewer to keep per slot: about 17 bytes and a move per change).
  readonly schedulesByDoctor: PartitionedIndex;
  readonly schedulesByStatus: PartitionedIndex;
  // Bookings by (createdAt, id): per doctor, patient, slot, checkout session and status (a query
  // naming none of these merges the status partitions, as for slots); and per status by
  // (slotStart, id), for the reminder sweep's window. The doctor's index holds the rows themselves
  // (see Entry): each change of a booking puts its new row there (a search of one partition), and
  // a doctor's listing page reads no table.
  readonly bookingsByDoctor: PartitionedIndex<BookingRow>;
  readonly bookingsByPatient: PartitionedIndex;
  readonly bookingsBySchedule: PartitionedIndex;
  readonly bookingsBySession: PartitionedIndex;
  readonly bookingsByStatus: PartitionedIndex;
  readonly bookingsBySlotStart: PartitionedIndex;
  // Payments by (createdAt, id): per booking, per status of a refund they hold, and all.
  readonly paymentsByBooking: PartitionedIndex;
  readonly paymentsByRefundStatus: PartitionedIndex;
  readonly payments = new SortedIndex();
  // Ledger lines in (createdAt, id) order: per doctor and per booking. The whole ledger, which
  // only a host lists, merges the doctors' partitions. A line is never changed once written, so
  // these hold the rows themselves, not their ids: a wallet page reads its lines without a table
  // lookup each (see Entry).
  readonly ledgerByDoctor: PartitionedIndex<LedgerRow>;
  readonly ledgerByBooking: PartitionedIndex<LedgerRow>;
  // Outbox records (by key) in (createdAt, key) order: per consumer and status, and per booking;
  // delivered ones also by (deliveredAt, key), for the retention clean-up. A query by status
  // alone, or by nothing, merges the few consumer partitions: every record sits in two indexes
  // (three once delivered), and each change of status moves one entry.
  readonly outboxByConsumerStatus: PartitionedIndex;
  readonly outboxByBooking: PartitionedIndex;
  readonly outboxDelivered = new SortedIndex();

  /**
   * `rows`: the committed tables these indexes follow. A partition of one entry keeps only its
   * id and reads the entry's key from the row (see PartitionedIndex).
   */
  constructor(rows: { readonly [N in keyof IndexedRows]: ReadonlyMap<string, IndexedRows[N]> }) {
    const slotStart = (id: string) => rows.schedules.get(id)?.startTime;
    const bookingCreated = (id: string) => rows.bookings.get(id)?.createdAt;
    const paymentCreated = (id: string) => rows.payments.get(id)?.createdAt;
    const recordCreated = (key: string) => rows.outbox.get(key)?.createdAt;
    this.schedulesByDoctor = new PartitionedIndex(slotStart);
    this.schedulesByStatus = new PartitionedIndex(slotStart);
    this.bookingsByDoctor = new PartitionedIndex<BookingRow>((row) => row.createdAt);
    this.bookingsByPatient = new PartitionedIndex(bookingCreated);
    this.bookingsBySchedule = new PartitionedIndex(bookingCreated);
    this.bookingsBySession = new PartitionedIndex(bookingCreated);
    this.bookingsByStatus = new PartitionedIndex(bookingCreated);
    this.bookingsBySlotStart = new PartitionedIndex((id) => rows.bookings.get(id)?.slotStart);
    this.paymentsByBooking = new PartitionedIndex(paymentCreated);
    this.paymentsByRefundStatus = new PartitionedIndex(paymentCreated);
    this.ledgerByDoctor = new PartitionedIndex<LedgerRow>((line) => line.createdAt);
    this.ledgerByBooking = new PartitionedIndex<LedgerRow>((line) => line.createdAt);
    this.outboxByConsumerStatus = new PartitionedIndex(recordCreated);
    this.outboxByBooking = new PartitionedIndex(recordCreated);
  }

  /** A row of `table` went from `before` to `after` (undefined: absent). */
  changed<N extends keyof IndexedRows>(table: N, id: string, before: unknown, after: unknown): void {
    const b = before as IndexedRows[N] | undefined;
    const a = after as IndexedRows[N] | undefined;
    switch (table) {
      case 'schedules':
        this.schedule(id, b as ScheduleRow | undefined, a as ScheduleRow | undefined);
        return;
      case 'bookings':
        this.booking(id, b as BookingRow | undefined, a as BookingRow | undefined);
        return;
      case 'payments':
        this.payment(id, b as PaymentRow | undefined, a as PaymentRow | undefined);
        return;
      case 'ledger':
        this.ledgerLine(b as LedgerRow | undefined, a as LedgerRow | undefined);
        return;
      case 'outbox':
        this.outboxRecord(id, b as OutboxRow | undefined, a as OutboxRow | undefined);
        return;
    }
  }

  private schedule(id: string, b: ScheduleRow | undefined, a: ScheduleRow | undefined): void {
    this.schedulesByDoctor.move(b ? at(b.doctorId, b.startTime) : null, a ? at(a.doctorId, a.startTime) : null, id);
    this.schedulesByStatus.move(b ? at(b.status, b.startTime) : null, a ? at(a.status, a.startTime) : null, id);
  }

  private booking(id: string, b: BookingRow | undefined, a: BookingRow | undefined): void {
    const row = a ?? b;
    if (row !== undefined) {
      this.bookingsByDoctor.move(b ? at(b.doctorId, b.createdAt) : null, a ? at(a.doctorId, a.createdAt) : null, row);
    }
    this.bookingsByPatient.move(b ? at(b.patientId, b.createdAt) : null, a ? at(a.patientId, a.createdAt) : null, id);
    this.bookingsBySchedule.move(
      b ? at(b.scheduleId, b.createdAt) : null,
      a ? at(a.scheduleId, a.createdAt) : null,
      id,
    );
    this.bookingsBySession.move(
      b?.checkoutSessionId ? at(b.checkoutSessionId, b.createdAt) : null,
      a?.checkoutSessionId ? at(a.checkoutSessionId, a.createdAt) : null,
      id,
    );
    this.bookingsByStatus.move(b ? at(b.status, b.createdAt) : null, a ? at(a.status, a.createdAt) : null, id);
    this.bookingsBySlotStart.move(b ? at(b.status, b.slotStart) : null, a ? at(a.status, a.slotStart) : null, id);
  }

  private payment(id: string, b: PaymentRow | undefined, a: PaymentRow | undefined): void {
    this.paymentsByBooking.move(b ? at(b.bookingId, b.createdAt) : null, a ? at(a.bookingId, a.createdAt) : null, id);
    for (const status of ['pending', 'failed', 'succeeded'] as const) {
      const had = b?.refunds.some((r) => r.status === status) ?? false;
      const has = a?.refunds.some((r) => r.status === status) ?? false;
      this.paymentsByRefundStatus.move(
        had && b ? at(status, b.createdAt) : null,
        has && a ? at(status, a.createdAt) : null,
        id,
      );
    }
    moveIn(this.payments, b?.createdAt, a?.createdAt, id);
  }

  private ledgerLine(b: LedgerRow | undefined, a: LedgerRow | undefined): void {
    const line = a ?? b;
    if (line === undefined) return;
    this.ledgerByDoctor.move(b ? at(b.doctorId, b.createdAt) : null, a ? at(a.doctorId, a.createdAt) : null, line);
    this.ledgerByBooking.move(b ? at(b.bookingId, b.createdAt) : null, a ? at(a.bookingId, a.createdAt) : null, line);
  }

  private outboxRecord(key: string, b: OutboxRow | undefined, a: OutboxRow | undefined): void {
    // A lease taken or given back moves nothing (a record never changes its consumer, booking or time).
    if (b !== undefined && a !== undefined && b.status === a.status && b.deliveredAt === a.deliveredAt) return;
    const pair = (r: OutboxRow) => `${r.consumer}\u0000${r.status}`;
    this.outboxByConsumerStatus.move(b ? at(pair(b), b.createdAt) : null, a ? at(pair(a), a.createdAt) : null, key);
    this.outboxByBooking.move(
      b && b.bookingId !== null ? at(b.bookingId, b.createdAt) : null,
      a && a.bookingId !== null ? at(a.bookingId, a.createdAt) : null,
      key,
    );
    const delivered = (r: OutboxRow | undefined) =>
      r !== undefined && r.status === 'delivered' && r.deliveredAt !== null ? r.deliveredAt : undefined;
    moveIn(this.outboxDelivered, delivered(b), delivered(a), key);
  }
}

function moveIn(index: SortedIndex, before: number | undefined, after: number | undefined, id: string): void {
  if (before === after) return;
  if (before !== undefined) index.delete(before, id);
  if (after !== undefined) index.add(after, id);
}
