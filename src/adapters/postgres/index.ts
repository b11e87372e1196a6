// 'careslot/postgres': the BookingStore on the host's pg.Pool, or embedded on PGlite.
export { POSTGRES_MIGRATIONS } from './migrations.js';
export {
  type EmbeddedPostgresStoreOptions,
  PostgresStore,
  type PostgresStoreOptions,
  type PostgresTransactionOptions,
} from './postgres-store.js';
export type { PGliteLike, PGliteTransactionLike, PgPoolClientLike, PgPoolLike } from './sql-client.js';
export { ACTIVE_BOOKING_INDEX, BASE_TABLE_NAMES, type PostgresTableKey } from './tables.js';
