// The one small client interface the store's SQL runs on, satisfied by a node-postgres Pool and by a PGlite instance.

/** A row as a driver returns it: column name → value. */
export type Row = Record<string, unknown>;

/** Where statements run: a transaction's connection, or the pool/database for single reads. */
export interface SqlSession {
  /** One parameterized statement. */
  query<R extends Row = Row>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** Several statements without parameters (migrations, session settings). */
  exec(text: string): Promise<void>;
}

/** What the store needs from a database: single statements, and transactions on one connection. */
export interface SqlClient extends SqlSession {
  readonly kind: 'pool' | 'pglite';
  /**
   * Runs `fn` between `begin` (e.g. `BEGIN ISOLATION LEVEL READ COMMITTED`, with any `SET LOCAL`)
   * and COMMIT on one connection; rolls back when it throws, and rethrows.
   */
  transaction<T>(begin: string, settings: string, fn: (session: SqlSession) => Promise<T>): Promise<T>;
}

/**
 * The parts of a node-postgres `pg.Pool` careslot uses, so the public types need no `@types/pg`:
 * any `new pg.Pool(...)` (or a pg-compatible pool) fits.
 */
export interface PgPoolLike {
  connect(): Promise<PgPoolClientLike>;
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  readonly totalCount: number;
}

/** A connection checked out of a `pg.Pool`. */
export interface PgPoolClientLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  release(error?: Error | boolean): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
}

/** The parts of a PGlite instance (`@electric-sql/pglite`) careslot uses. */
export interface PGliteLike {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
  exec(text: string): Promise<unknown>;
  transaction<T>(callback: (tx: PGliteTransactionLike) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  readonly closed?: boolean;
}

export interface PGliteTransactionLike {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
  exec(text: string): Promise<unknown>;
}

/**
 * Marks an error as the database's (a statement failed, the connection broke), as opposed to one
 * thrown by a transaction's own function; the store retries or reports only these.
 */
export class DatabaseFailure extends Error {
  /** The SQLSTATE (`40P01`, `57014`...) or the driver's error code (`ECONNREFUSED`), if any. */
  readonly sqlState: string | undefined;

  constructor(
    readonly original: unknown,
    readonly statement: string,
  ) {
    super(original instanceof Error ? original.message : String(original), { cause: original });
    this.name = 'DatabaseFailure';
    const code = (original as { code?: unknown } | null)?.code;
    this.sqlState = typeof code === 'string' ? code : undefined;
  }
}

async function run<T>(statement: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw error instanceof DatabaseFailure ? error : new DatabaseFailure(error, statement);
  }
}

// Parameters are sent as strings or JSON text: both drivers then parse them the same way, and a
// host's type parsers or Date serialization settings cannot change what is stored.
function params(values: readonly unknown[] | undefined): unknown[] | undefined {
  return values === undefined ? undefined : values.map((v) => (v instanceof Date ? v.toISOString() : v));
}

function pgSession(client: { query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> }): SqlSession {
  return {
    query: async <R extends Row>(text: string, values?: readonly unknown[]) =>
      (await run(text, () => client.query(text, params(values)))).rows as R[],
    exec: async (text: string) => {
      await run(text, () => client.query(text));
    },
  };
}

/** The store's client over the host's `pg.Pool`: each transaction checks out one connection. */
export function poolClient(pool: PgPoolLike): SqlClient {
  const direct = pgSession(pool);
  return {
    kind: 'pool',
    ...direct,
    async transaction<T>(begin: string, settings: string, fn: (session: SqlSession) => Promise<T>): Promise<T> {
      const client = await run('connect', () => pool.connect());
      // A connection that dies while checked out emits 'error'; without a listener that would
      // crash the host. It is noted here, and the connection is discarded on release.
      let broken: Error | undefined;
      const onError = (error: Error) => {
        broken ??= error;
      };
      client.on('error', onError);
      try {
        const session = pgSession(client);
        await session.exec(settings === '' ? begin : `${begin}; ${settings}`);
        const result = await fn(session);
        await session.exec('COMMIT');
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken ??= rollbackError as Error;
        }
        throw error;
      } finally {
        client.removeListener('error', onError);
        client.release(broken ?? false);
      }
    },
  };
}

/**
 * The store's client over a PGlite instance: one connection, so PGlite runs one transaction at a
 * time (its own `transaction` queues the others, and single reads wait for it).
 */
export function pgliteClient(db: PGliteLike): SqlClient {
  return {
    kind: 'pglite',
    query: async <R extends Row>(text: string, values?: readonly unknown[]) =>
      (await run(text, () => db.query(text, params(values)))).rows as R[],
    exec: async (text: string) => {
      await run(text, () => db.exec(text));
    },
    async transaction<T>(_begin: string, settings: string, fn: (session: SqlSession) => Promise<T>): Promise<T> {
      // PGlite's own transaction() queues concurrent ones; its BEGIN/COMMIT failures are the
      // database's, while whatever `fn` throws is passed on as it is.
      let thrownByFn: { error: unknown } | null = null;
      try {
        return await db.transaction(async (tx) => {
          try {
            if (settings !== '') await run(settings, () => tx.exec(settings));
            return await fn({
              query: async <R extends Row>(text: string, values?: readonly unknown[]) =>
                (await run(text, () => tx.query(text, params(values)))).rows as R[],
              exec: async (text: string) => {
                await run(text, () => tx.exec(text));
              },
            });
          } catch (error) {
            thrownByFn = { error };
            throw error;
          }
        });
      } catch (error) {
        if (thrownByFn !== null && (thrownByFn as { error: unknown }).error === error) throw error;
        throw error instanceof DatabaseFailure ? error : new DatabaseFailure(error, 'COMMIT');
      }
    },
  };
}
