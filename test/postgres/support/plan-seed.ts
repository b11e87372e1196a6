// Bulk rows for the query-plan test: a clinic's worth of slots, bookings, payments, ledger lines, outbox records, time off and availability, written by SQL in a few statements.
import type { PostgresStore } from '../../../src/adapters/postgres/index.js';

/** How many rows the big tables get. */
export const SEED = {
  doctors: 100,
  slots: 20_000,
  bookings: 20_000,
  payments: 10_000,
  /** Spread over more doctors than the slots, so the balances table is big enough to matter too. */
  ledgerLines: 20_000,
  ledgerDoctors: 2_000,
  outbox: 20_000,
  timeOff: 5_000,
  availability: 2_000,
  events: 10_000,
  customers: 2_000,
} as const;

/**
 * The statements that fill a migrated, empty schema. Times spread from 120 days before `around`
 * to 80 days after it; statuses as a running clinic has them: past slots expired (a few booked
 * within the no-show grace, a few the sweep has not reached), future ones mostly available or
 * booked; bookings mostly completed or scheduled, a few pending; outbox records mostly delivered.
 * Seeded ids are 24 hex digits starting with `5e`, apart from the workload's `64b…` ones.
 */
export function seedStatements(store: PostgresStore, around: Date): string[] {
  const t = store.tables;
  const at = `'${around.toISOString()}'::timestamptz`;
  const id = (tag: string, n: string) => `'5e${tag}' || lpad(to_hex(${n}), 20, '0')`;
  const doctor = (n: string) => id('d0', n);
  // Slot i: doctor i % doctors, one day after another, at one of 16 half hours.
  const slotStart = `${at} - interval '120 days' + (i / ${SEED.doctors}) * interval '1 day' + (i % 16) * interval '30 minutes'`;
  return [
    `INSERT INTO ${t.schedules} (id, created_by, start_time, end_time, time_zone, fee_amount, fee_currency, status,
       booked_by, rolled_over_from, local_start_time, created_at, updated_at)
     SELECT ${id('51', 'i')}, ${doctor(`i % ${SEED.doctors}`)}, s, s + interval '30 minutes', 'Europe/Berlin', 5000, 'eur',
       CASE WHEN s < ${at} THEN (CASE WHEN i % 100 = 0 THEN 'available' WHEN i % 50 = 1 THEN 'booked' ELSE 'expired' END)
            ELSE (CASE WHEN i % 20 = 0 THEN 'pending' WHEN i % 3 = 0 THEN 'booked' ELSE 'available' END) END,
       NULL, NULL, NULL, s - interval '30 days', s - interval '30 days'
       FROM (SELECT i, ${slotStart} AS s FROM generate_series(0, ${SEED.slots - 1}) AS i) AS g`,
    `INSERT INTO ${t.bookings} (id, patient_id, doctor_id, doctor_schedule_id, slot_start, slot_end, time_zone, mode, plan,
       price_amount, price_currency, status, payment_status, cancel_reason, payment_transaction_id, checkout_session_id,
       payment_url, hold_expires_at, idempotency_key, amount_refunded, history, created_at, updated_at, policy, reminders_sent)
     SELECT ${id('b1', 'i')}, ${id('a1', 'i % 2000')}, ${doctor(`i % ${SEED.doctors}`)}, ${id('51', 'i')}, s, s + interval '30 minutes',
       'Europe/Berlin', CASE WHEN i % 10 = 0 THEN 'free' ELSE 'paid' END, 'standard', 5000, 'eur', st,
       CASE st WHEN 'pending' THEN 'unpaid' WHEN 'cancelled' THEN 'failed' ELSE 'paid' END,
       CASE st WHEN 'cancelled' THEN 'payment_timeout' END, NULL, 'cs_seed_' || i, NULL,
       CASE st WHEN 'pending' THEN s - interval '3 days' + interval '15 minutes' END,
       CASE WHEN i % 4 = 0 THEN 'seed-' || i END, 0, '[]'::jsonb, s - interval '3 days', s - interval '3 days', NULL, '{}'
       FROM (SELECT i, s,
               CASE WHEN s < ${at} THEN (CASE WHEN i % 5 = 0 THEN 'cancelled' ELSE 'completed' END)
                    WHEN i % 20 = 0 THEN 'pending' WHEN i % 10 = 1 THEN 'cancelled' ELSE 'scheduled' END AS st
               FROM (SELECT i, ${slotStart} AS s FROM generate_series(0, ${SEED.bookings - 1}) AS i) AS g0) AS g`,
    `INSERT INTO ${t.payments} (id, reference_id, provider, provider_payment_id, checkout_session_id, amount, currency,
       credited, refunds, created_at, updated_at)
     SELECT ${id('c1', 'i')}, ${id('b1', 'i * 2')}, 'test', 'pi_seed_' || i, 'cs_seed_' || (i * 2), 5000, 'eur', true,
       CASE WHEN i % 20 = 0 THEN jsonb_build_array(jsonb_build_object('id', 're_seed_' || i, 'amount', 1000,
              'status', CASE WHEN i % 1000 = 0 THEN 'failed' WHEN i % 500 = 0 THEN 'pending' ELSE 'succeeded' END,
              'providerRefundId', NULL, 'reason', NULL, 'failureMessage', NULL, 'createdAt', c, 'updatedAt', c))
            ELSE '[]'::jsonb END, c, c
       FROM (SELECT i, ${at} - interval '120 days' + i * interval '20 minutes' AS c FROM generate_series(0, ${SEED.payments - 1}) AS i) AS g`,
    `INSERT INTO ${t.ledger} (id, key, doctor_id, booking_id, kind, amount, currency, created_at)
     SELECT ${id('e1', 'i')}, 'seed:' || i, ${doctor(`i % ${SEED.ledgerDoctors}`)}, ${id('b1', 'i')},
       CASE WHEN i % 10 = 0 THEN 'debit' ELSE 'credit' END, 100 + i % 900, CASE WHEN i % 7 = 0 THEN 'usd' ELSE 'eur' END,
       ${at} - interval '120 days' + i * interval '10 minutes'
       FROM generate_series(0, ${SEED.ledgerLines - 1}) AS i`,
    // The totals the ledger lines sum to, as appendLedgerEntry would have kept them.
    `INSERT INTO ${t.walletBalances} (doctor_id, currency, balance)
     SELECT doctor_id, currency, SUM(CASE WHEN kind = 'credit' THEN amount ELSE -amount END)
       FROM ${t.ledger} WHERE key LIKE 'seed:%' GROUP BY doctor_id, currency`,
    `INSERT INTO ${t.outbox} (key, event_id, consumer, type, booking_id, schedule_id, payload, version, created_at, status,
       attempts, next_attempt_at, lease_owner, lease_until, last_error, delivered_at)
     SELECT 'seed:' || i, 'ev_seed_' || (i / 3), (ARRAY['notifier', 'scheduler', 'events'])[1 + i % 3], 'booking.confirmed',
       ${id('b1', 'i / 3')}, ${id('51', 'i / 3')}, '{}'::jsonb, 1, c,
       CASE WHEN i % 100 = 0 THEN 'dead' WHEN i % 25 = 0 THEN 'pending' ELSE 'delivered' END,
       CASE WHEN i % 100 = 0 THEN 8 ELSE 1 END, c, NULL, NULL, NULL,
       CASE WHEN i % 100 <> 0 AND i % 25 <> 0 THEN c + interval '1 second' END
       FROM (SELECT i, ${at} - interval '120 days' + i * interval '8 minutes' AS c FROM generate_series(0, ${SEED.outbox - 1}) AS i) AS g`,
    `INSERT INTO ${t.timeOff} (id, doctor_id, start_time, end_time, reason, created_at)
     SELECT ${id('f1', 'i')}, ${doctor(`i % ${SEED.doctors}`)}, s, s + interval '8 hours', 'seed', s - interval '10 days'
       FROM (SELECT i, ${at} - interval '120 days' + (i / ${SEED.doctors}) * interval '4 days' AS s
               FROM generate_series(0, ${SEED.timeOff - 1}) AS i) AS g`,
    // Each doctor's versions one after another, 10 days each; the last one open-ended.
    `INSERT INTO ${t.availability} (id, doctor_id, rules, effective_from, effective_until, created_at)
     SELECT ${id('a0', 'i')}, ${doctor(`i % ${SEED.doctors}`)}, '{}'::jsonb, f,
       CASE WHEN i / ${SEED.doctors} = ${SEED.availability / SEED.doctors - 1} THEN NULL ELSE f + interval '10 days' END, f
       FROM (SELECT i, ${at} - interval '190 days' + (i / ${SEED.doctors}) * interval '10 days' AS f
               FROM generate_series(0, ${SEED.availability - 1}) AS i) AS g`,
    `INSERT INTO ${t.events} (event_id, type, processed_at)
     SELECT 'evt_seed_' || i, 'checkout.session.completed', ${at} - i * interval '10 minutes'
       FROM generate_series(0, ${SEED.events - 1}) AS i`,
    `INSERT INTO ${t.customers} (patient_id, provider, customer_id, created_at, updated_at)
     SELECT ${id('a1', 'i')}, 'test', 'cus_seed_' || i, ${at}, ${at} FROM generate_series(0, ${SEED.customers - 1}) AS i`,
    `ANALYZE ${Object.values(t).join(', ')}`,
  ];
}
