// The schema as numbered, checksummed migrations shipped in the package, and the checks `migrate()` and `ready()` run.
import { createHash } from 'node:crypto';
import { BookingError } from '../../domain/errors.js';
import type { SqlSession } from './sql-client.js';
import { fillTemplate, type TableNames } from './tables.js';

export interface Migration {
  /** 1, 2, 3...: applied in order, each once. */
  readonly version: number;
  readonly name: string;
  /** SQL with `{table:key}`, `{schema}` and `{prefix}` placeholders. Never edited once released. */
  readonly sql: string;
}

// Status lists spelled out in CHECK constraints: a row written by other code cannot smuggle in a
// status the engine does not know. Money is bigint minor units, times timestamptz (UTC instants),
// ids text (careslot's 24-hex ids, the host's doctor and patient ids as given).
const INITIAL = `
CREATE TABLE {table:schedules} (
  id text COLLATE "C" PRIMARY KEY,
  created_by text NOT NULL,
  start_time timestamptz NOT NULL,
  end_time timestamptz NOT NULL,
  time_zone text NOT NULL,
  fee_amount bigint NOT NULL CHECK (fee_amount >= 0),
  fee_currency text NOT NULL,
  status text NOT NULL CHECK (status IN ('available', 'pending', 'booked', 'expired')),
  booked_by text,
  rolled_over_from text,
  local_start_time text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX "{prefix}schedules_doctor_start" ON {table:schedules} (created_by, start_time);
CREATE INDEX "{prefix}schedules_status_end" ON {table:schedules} (status, end_time);
CREATE INDEX "{prefix}schedules_start" ON {table:schedules} (start_time, id);

CREATE TABLE {table:bookings} (
  id text COLLATE "C" PRIMARY KEY,
  patient_id text NOT NULL,
  doctor_id text NOT NULL,
  doctor_schedule_id text COLLATE "C" NOT NULL,
  slot_start timestamptz NOT NULL,
  slot_end timestamptz NOT NULL,
  time_zone text NOT NULL,
  mode text NOT NULL CHECK (mode IN ('paid', 'free')),
  plan text NOT NULL,
  price_amount bigint NOT NULL CHECK (price_amount >= 0),
  price_currency text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'scheduled', 'completed', 'cancelled')),
  payment_status text NOT NULL
    CHECK (payment_status IN ('unpaid', 'paid', 'failed', 'partially_refunded', 'refunded')),
  cancel_reason text,
  payment_transaction_id text,
  checkout_session_id text,
  payment_url text,
  hold_expires_at timestamptz,
  idempotency_key text,
  amount_refunded bigint NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0),
  history jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
-- At most one pending or scheduled booking per slot, whatever the concurrency.
CREATE UNIQUE INDEX "{prefix}one_active_booking_per_slot" ON {table:bookings} (doctor_schedule_id)
  WHERE status IN ('pending', 'scheduled');
CREATE UNIQUE INDEX "{prefix}bookings_idempotency_key" ON {table:bookings} (patient_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX "{prefix}bookings_status_hold_expiry" ON {table:bookings} (status, hold_expires_at);
CREATE INDEX "{prefix}bookings_status_created" ON {table:bookings} (status, created_at);
CREATE INDEX "{prefix}bookings_checkout_session" ON {table:bookings} (checkout_session_id)
  WHERE checkout_session_id IS NOT NULL;
CREATE INDEX "{prefix}bookings_patient_created" ON {table:bookings} (patient_id, created_at);
CREATE INDEX "{prefix}bookings_doctor_created" ON {table:bookings} (doctor_id, created_at);
CREATE INDEX "{prefix}bookings_schedule_created" ON {table:bookings} (doctor_schedule_id, created_at);
CREATE INDEX "{prefix}bookings_created" ON {table:bookings} (created_at, id);

CREATE TABLE {table:payments} (
  id text COLLATE "C" PRIMARY KEY,
  reference_id text COLLATE "C" NOT NULL,
  provider text NOT NULL,
  provider_payment_id text NOT NULL,
  checkout_session_id text,
  amount bigint NOT NULL CHECK (amount >= 0),
  currency text NOT NULL,
  credited boolean NOT NULL,
  refunds jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  CONSTRAINT "{prefix}payments_provider_payment" UNIQUE (provider, provider_payment_id)
);
CREATE INDEX "{prefix}payments_booking" ON {table:payments} (reference_id, created_at);
-- The sweep: payments with a refund left pending or failed.
CREATE INDEX "{prefix}payments_refunds" ON {table:payments} USING gin (refunds jsonb_path_ops);

CREATE TABLE {table:ledger} (
  id text COLLATE "C" PRIMARY KEY,
  -- credit:<bookingId> or refund:<refundId>: unique, so every credit and debit happens once.
  key text NOT NULL,
  doctor_id text NOT NULL,
  booking_id text COLLATE "C" NOT NULL,
  kind text NOT NULL CHECK (kind IN ('credit', 'debit')),
  amount bigint NOT NULL CHECK (amount >= 0),
  currency text NOT NULL,
  created_at timestamptz NOT NULL,
  CONSTRAINT "{prefix}ledger_key" UNIQUE (key)
);
CREATE INDEX "{prefix}ledger_doctor" ON {table:ledger} (doctor_id, created_at);
CREATE INDEX "{prefix}ledger_booking" ON {table:ledger} (booking_id, created_at);

CREATE TABLE {table:events} (
  event_id text PRIMARY KEY,
  type text NOT NULL,
  processed_at timestamptz NOT NULL
);

CREATE TABLE {table:customers} (
  patient_id text NOT NULL,
  provider text NOT NULL,
  customer_id text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (patient_id, provider)
);

-- Lock rows: a transaction that decides on a patient's bookings or a doctor's slots writes one,
-- so concurrent deciders on the same patient or doctor wait for each other.
CREATE TABLE {table:patientLocks} (
  patient_id text PRIMARY KEY,
  locks bigint NOT NULL,
  locked_at timestamptz NOT NULL
);
CREATE TABLE {table:doctorLocks} (
  doctor_id text PRIMARY KEY,
  locks bigint NOT NULL,
  locked_at timestamptz NOT NULL
);
`;

// One delivery of one committed event to one consumer: appended in the change's transaction,
// leased by a dispatcher (lease_owner until lease_until), retried at next_attempt_at, kept
// delivered until retention deletes it, or dead until re-driven.
const OUTBOX = `
CREATE TABLE {table:outbox} (
  key text COLLATE "C" PRIMARY KEY,
  event_id text NOT NULL,
  consumer text NOT NULL,
  type text NOT NULL,
  booking_id text COLLATE "C",
  schedule_id text COLLATE "C",
  payload jsonb NOT NULL,
  version integer NOT NULL CHECK (version >= 0),
  created_at timestamptz NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL,
  lease_owner text,
  lease_until timestamptz,
  last_error text,
  delivered_at timestamptz
);
-- The claim: one consumer's pending records, oldest first.
CREATE INDEX "{prefix}outbox_claim" ON {table:outbox} (consumer, created_at, key) WHERE status = 'pending';
CREATE INDEX "{prefix}outbox_status_created" ON {table:outbox} (status, created_at, key);
-- Retention: delivered records by delivery time.
CREATE INDEX "{prefix}outbox_delivered" ON {table:outbox} (delivered_at) WHERE status = 'delivered';
CREATE INDEX "{prefix}outbox_booking" ON {table:outbox} (booking_id, created_at, key);
`;

// A doctor's availability rules, one row per version (the rules as validated, in jsonb), in force
// for slots starting in [effective_from, effective_until); a newer version ends the earlier ones.
// Time off is half-open [start_time, end_time). A slot booked from rules remembers its version.
const AVAILABILITY = `
CREATE TABLE {table:availability} (
  id text COLLATE "C" PRIMARY KEY,
  doctor_id text NOT NULL,
  rules jsonb NOT NULL,
  effective_from timestamptz NOT NULL,
  effective_until timestamptz,
  created_at timestamptz NOT NULL
);
CREATE INDEX "{prefix}availability_doctor_from" ON {table:availability} (doctor_id, effective_from);

CREATE TABLE {table:timeOff} (
  id text COLLATE "C" PRIMARY KEY,
  doctor_id text NOT NULL,
  start_time timestamptz NOT NULL,
  end_time timestamptz NOT NULL,
  reason text,
  created_at timestamptz NOT NULL,
  CONSTRAINT "{prefix}time_off_end_after_start" CHECK (end_time > start_time)
);
-- Listings (by start, then id) and overlap queries (start before a range's end, end after its start).
CREATE INDEX "{prefix}time_off_doctor_start" ON {table:timeOff} (doctor_id, start_time, id);
CREATE INDEX "{prefix}time_off_doctor_end" ON {table:timeOff} (doctor_id, end_time);

ALTER TABLE {table:schedules} ADD COLUMN availability_id text;
`;

// A booking keeps the policy it was confirmed under (jsonb, null for older bookings) and the keys
// of the reminders sent (added once each by a compare-and-set). 'no_show' joins the statuses: the
// status CHECK is replaced, found by its column because PostgreSQL named it after the prefixed
// table (`<table>_status_check`, the table part cut short when a long prefix passes 63 characters).
// No-shows are not active, so the one-active-booking index stays as it is. The reminder sweep reads
// scheduled bookings by slot start, in (created_at, id) pages.
const BOOKING_POLICY = `
ALTER TABLE {table:bookings}
  ADD COLUMN policy jsonb,
  ADD COLUMN reminders_sent text[] NOT NULL DEFAULT '{}';

DO $$
DECLARE
  found text;
BEGIN
  FOR found IN
    SELECT c.conname FROM pg_constraint c
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attname = 'status'
     WHERE c.conrelid = '{table:bookings}'::regclass AND c.contype = 'c' AND c.conkey = ARRAY[a.attnum]
  LOOP
    EXECUTE format('ALTER TABLE {table:bookings} DROP CONSTRAINT %I', found);
  END LOOP;
END
$$;
ALTER TABLE {table:bookings} ADD CONSTRAINT "{prefix}bookings_status_known"
  CHECK (status IN ('pending', 'scheduled', 'completed', 'cancelled', 'no_show'));

CREATE INDEX "{prefix}bookings_status_slot_start" ON {table:bookings} (status, slot_start, created_at, id);
`;

// A doctor's balance per currency as a running total, which appendLedgerEntry changes in the
// transaction of each ledger line it adds, so reading a wallet is one row per currency however long
// the ledger. Backfilled from the lines already there: the ledger is locked against writes first
// (SHARE: waits for writers in flight, blocks new ones until this commits), so no line committed
// beside the migration is left out of the totals.
//
// Indexes ending in the ORDER BY's tie-breaker ((…, start_time, id), (status, created_at, id),
// (delivered_at, key)), so that keyset pages (`(start_time, id) > (…)`) and LIMITed listings,
// sweeps and the outbox retention read only the rows they return: by status they walked every
// slot or booking made before, or sorted every delivered record. Each replaces the index it extends.
// Slots by status get one partial (start_time, id) index per status (together the size of one
// (status, start_time, id) index): the planner prices an index by how its first column follows
// the table's order, which start_time does and status does not, so with (status, start_time, id)
// it walked (start_time, id) past every ended slot instead; the sweep of ended slots, the clean-up
// and listings by status each read their status's index in order and stop at their LIMIT.
const WALLET_BALANCES = `
CREATE TABLE {table:walletBalances} (
  doctor_id text NOT NULL,
  currency text NOT NULL,
  balance bigint NOT NULL,
  PRIMARY KEY (doctor_id, currency)
);
LOCK TABLE {table:ledger} IN SHARE MODE;
INSERT INTO {table:walletBalances} (doctor_id, currency, balance)
  SELECT doctor_id, currency, SUM(CASE WHEN kind = 'credit' THEN amount ELSE -amount END)
    FROM {table:ledger} GROUP BY doctor_id, currency;

CREATE INDEX "{prefix}schedules_doctor_start_id" ON {table:schedules} (created_by, start_time, id);
DROP INDEX {schema}."{prefix}schedules_doctor_start";
CREATE INDEX "{prefix}schedules_available_start" ON {table:schedules} (start_time, id) WHERE status = 'available';
CREATE INDEX "{prefix}schedules_pending_start" ON {table:schedules} (start_time, id) WHERE status = 'pending';
CREATE INDEX "{prefix}schedules_booked_start" ON {table:schedules} (start_time, id) WHERE status = 'booked';
CREATE INDEX "{prefix}schedules_expired_start" ON {table:schedules} (start_time, id) WHERE status = 'expired';
DROP INDEX {schema}."{prefix}schedules_status_end";
CREATE INDEX "{prefix}bookings_status_created_id" ON {table:bookings} (status, created_at, id);
DROP INDEX {schema}."{prefix}bookings_status_created";
CREATE INDEX "{prefix}outbox_delivered_key" ON {table:outbox} (delivered_at, key) WHERE status = 'delivered';
DROP INDEX {schema}."{prefix}outbox_delivered";
`;

/** Every migration this version of careslot knows, in order. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial schema', sql: INITIAL },
  { version: 2, name: 'outbox', sql: OUTBOX },
  { version: 3, name: 'availability', sql: AVAILABILITY },
  { version: 4, name: 'booking policy and reminders', sql: BOOKING_POLICY },
  { version: 5, name: 'wallet balances and slot paging', sql: WALLET_BALANCES },
];

export function checksumOf(migration: Migration): string {
  return createHash('sha256').update(migration.sql).digest('hex');
}

/** What the package ships: version, name and checksum of each migration. */
export const POSTGRES_MIGRATIONS: readonly { version: number; name: string; checksum: string }[] = MIGRATIONS.map((m) =>
  Object.freeze({ version: m.version, name: m.name, checksum: checksumOf(m) }),
);

export const LATEST_VERSION = MIGRATIONS.at(-1)?.version ?? 0;

export interface AppliedMigration {
  version: number;
  checksum: string;
}

function migrateHint(names: TableNames): string {
  return `run \`await store.migrate()\` (new PostgresStore({ ..., schema: '${names.schema}'${names.prefix ? `, tablePrefix: '${names.prefix}'` : ''} })) once at deploy or start-up; it is safe to run from every process at once`;
}

/**
 * Why the database does not match this careslot, or null when every shipped migration is applied
 * with the shipped checksum. `applied` null: careslot's migrations table does not exist.
 */
export function schemaProblem(applied: readonly AppliedMigration[] | null, names: TableNames): string | null {
  if (applied === null) {
    return `careslot's tables are missing (no ${names.plain.migrations} table): ${migrateHint(names)}`;
  }
  const known = new Map(MIGRATIONS.map((m) => [m.version, m]));
  for (const row of applied) {
    const migration = known.get(row.version);
    if (!migration) {
      return `the database has careslot migration ${row.version}, newer than this careslot knows (up to ${LATEST_VERSION}): upgrade careslot, or point it at another schema`;
    }
    if (row.checksum !== checksumOf(migration)) {
      return `careslot migration ${row.version} (${migration.name}) in ${names.plain.migrations} has checksum ${row.checksum.slice(0, 12)}…, not the ${checksumOf(migration).slice(0, 12)}… this careslot ships: the schema was changed by another careslot build; restore that migration or use a fresh schema`;
    }
  }
  const done = new Set(applied.map((r) => r.version));
  const missing = MIGRATIONS.filter((m) => !done.has(m.version));
  if (missing.length > 0) {
    const current = Math.max(0, ...done);
    return `the careslot schema is at version ${current}, this careslot needs ${LATEST_VERSION} (missing ${missing.map((m) => `${m.version} ${m.name}`).join(', ')}): ${migrateHint(names)}`;
  }
  return null;
}

/** Reads the applied migrations, or null when the migrations table does not exist. */
export async function readApplied(session: SqlSession, names: TableNames): Promise<AppliedMigration[] | null> {
  const [found] = await session.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
    names.qualified.migrations,
  ]);
  if (!found?.t) return null;
  const rows = await session.query<{ version: number; checksum: string }>(
    `SELECT version, checksum FROM ${names.qualified.migrations} ORDER BY version`,
  );
  return rows.map((r) => ({ version: Number(r.version), checksum: r.checksum }));
}

/**
 * Applies the missing migrations inside one transaction holding a transaction-scoped advisory
 * lock on (schema, prefix): concurrent starts wait for the first, then find nothing to do.
 * Returns the versions applied now.
 */
export async function applyMigrations(session: SqlSession, names: TableNames): Promise<number[]> {
  await session.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
    `careslot:migrate:${names.schema}.${names.prefix}`,
  ]);
  await session.exec(`CREATE SCHEMA IF NOT EXISTS "${names.schema}"`);
  await session.exec(
    `CREATE TABLE IF NOT EXISTS ${names.qualified.migrations} (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`,
  );
  const applied = (await readApplied(session, names)) ?? [];
  const problem = schemaProblem(applied, names);
  // Only "behind" is ours to fix; a foreign or newer schema is never touched.
  if (
    problem !== null &&
    applied.some((a) => !MIGRATIONS.some((m) => m.version === a.version && checksumOf(m) === a.checksum))
  ) {
    throw new BookingError('STORE_ERROR', `PostgresStore.migrate: ${problem}`);
  }
  const done = new Set(applied.map((a) => a.version));
  const now: number[] = [];
  for (const migration of MIGRATIONS) {
    if (done.has(migration.version)) continue;
    await session.exec(fillTemplate(migration.sql, names));
    await session.query(`INSERT INTO ${names.qualified.migrations} (version, name, checksum) VALUES ($1, $2, $3)`, [
      migration.version,
      migration.name,
      checksumOf(migration),
    ]);
    now.push(migration.version);
  }
  return now;
}
