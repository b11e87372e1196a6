// Whether the server behind a connection can run transactions, from its `hello` answer.
import { BookingError } from '../../domain/errors.js';

export const REPLICA_SET_HINT =
  'MongooseStore needs a replica set: transactions are used for every booking; start mongod with --replSet ' +
  '(a single-node replica set is enough: mongod --replSet rs0, then rs.initiate()) or use MongoMemoryReplSet in tests';

/** Null when transactions are available (replica set member or mongos), else why not. */
export function transactionSupportProblem(hello: Record<string, unknown>): string | null {
  const replicaSet = typeof hello.setName === 'string' && hello.setName.length > 0;
  const mongos = hello.msg === 'isdbgrid';
  if (!replicaSet && !mongos) return `${REPLICA_SET_HINT} (the server is a standalone mongod)`;
  if (hello.logicalSessionTimeoutMinutes == null) {
    return 'MongooseStore needs sessions for transactions, and this server does not offer them (no logicalSessionTimeoutMinutes in its hello answer)';
  }
  return null;
}

const READY_STATES: Record<number, string> = {
  0: 'disconnected',
  1: 'connected',
  2: 'connecting',
  3: 'disconnecting',
  99: 'uninitialized',
};

export function notOpenError(readyState: number): BookingError {
  return new BookingError(
    'STORE_ERROR',
    `MongooseStore: the mongoose connection is not open (readyState ${readyState}: ${READY_STATES[readyState] ?? 'unknown'}). ` +
      'Open it before using the store (await mongoose.createConnection(uri).asPromise(), or await mongoose.connect(uri) ' +
      'and pass mongoose.connection); careslot never opens or closes the host connection',
    { details: { readyState } },
  );
}

export function standaloneError(problem: string): BookingError {
  return new BookingError('STORE_ERROR', problem);
}
