// careslot's table and index names in one schema, with an optional prefix, as quoted SQL identifiers.

/** The tables careslot keeps, by key; the names keep the original system's models. */
export const TABLE_KEYS = [
  'schedules',
  'bookings',
  'payments',
  'ledger',
  'events',
  'customers',
  'patientLocks',
  'doctorLocks',
  'outbox',
  'availability',
  'timeOff',
  'walletBalances',
  'migrations',
] as const;
export type PostgresTableKey = (typeof TABLE_KEYS)[number];

/** Table names without the prefix. */
export const BASE_TABLE_NAMES: Readonly<Record<PostgresTableKey, string>> = {
  schedules: 'doctor_appointment_schedules',
  bookings: 'doctor_patient_schedule_bookings',
  payments: 'payment_transactions',
  ledger: 'doctor_wallet_ledger',
  events: 'processed_payment_events',
  customers: 'payment_customers',
  patientLocks: 'patient_locks',
  doctorLocks: 'doctor_locks',
  outbox: 'outbox',
  availability: 'availability',
  timeOff: 'time_off',
  walletBalances: 'wallet_balances',
  migrations: 'schema_migrations',
};

/** The unique partial index "one active booking per slot" rests on (prefixed like the tables). */
export const ACTIVE_BOOKING_INDEX = 'one_active_booking_per_slot';

const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;
const PREFIX = /^([a-z_][a-z0-9_]{0,23})?$/;

export function isValidSchemaName(value: unknown): value is string {
  return typeof value === 'string' && SCHEMA.test(value) && !value.startsWith('pg_');
}

export function isValidTablePrefix(value: unknown): value is string {
  return typeof value === 'string' && PREFIX.test(value);
}

/** Quotes an identifier already checked against the patterns above (lowercase letters, digits, _). */
const quote = (name: string): string => `"${name}"`;

/** Names the SQL uses, built once per store from its validated schema and prefix. */
export interface TableNames {
  readonly schema: string;
  readonly prefix: string;
  /** `"schema"."prefixtable"` per table. */
  readonly qualified: Readonly<Record<PostgresTableKey, string>>;
  /** Unquoted `schema.prefixtable`, for `to_regclass` and messages. */
  readonly plain: Readonly<Record<PostgresTableKey, string>>;
}

export function tableNames(schema: string, prefix: string): TableNames {
  const qualified = {} as Record<PostgresTableKey, string>;
  const plain = {} as Record<PostgresTableKey, string>;
  for (const key of TABLE_KEYS) {
    const name = `${prefix}${BASE_TABLE_NAMES[key]}`;
    qualified[key] = `${quote(schema)}.${quote(name)}`;
    plain[key] = `${schema}.${name}`;
  }
  return { schema, prefix, qualified, plain };
}

/**
 * A migration's SQL with `{schema}`, `{prefix}` and `{table:key}` filled in. The template (not
 * the filled text) is what is checksummed, so the same migration has one checksum everywhere.
 */
export function fillTemplate(template: string, names: TableNames): string {
  return template
    .replace(/\{table:([a-zA-Z]+)\}/g, (_, key: string) => {
      const table = names.qualified[key as PostgresTableKey];
      if (table === undefined) throw new Error(`unknown table key ${key} in a migration`);
      return table;
    })
    .replace(/\{schema\}/g, quote(names.schema))
    .replace(/\{prefix\}/g, names.prefix);
}
