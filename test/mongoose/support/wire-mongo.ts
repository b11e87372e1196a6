// A scripted MongoDB wire-protocol responder on a loopback socket: answers as a replica-set primary, runs CRUD and transaction commands on a small in-memory model, and injects the faults a test asks for, so the real mongoose and driver stack can be tested against them.
import { once } from 'node:events';
import net from 'node:net';
import { Aggregator, Query } from 'mingo';
import mongoose from 'mongoose';
import { copy, type Doc, SnapshotDb, sortDocs } from './snapshot-db.js';

const { BSON } = mongoose.mongo;

// Opcodes (the driver's lib/cmap/wire_protocol/constants.js).
const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;

const SET_NAME = 'careslot-wire';

/** One command as the responder received it (monitoring `hello`s are counted, not listed). */
export interface WireCommand {
  /** The command's name, as sent (`find`, `insert`, `commitTransaction`, ...). */
  name: string;
  db: string;
  /** The collection a CRUD or index command names, else null. */
  collection: string | null;
  body: Doc;
  /** The session id (hex), explicit or implicit; null without one. */
  lsid: string | null;
  /** Set on every statement of a transaction (and its commit or abort), and on retryable writes outside one. */
  txnNumber: number | null;
  /** A statement of a transaction (`autocommit: false`), its commit or its abort. */
  inTransaction: boolean;
  startTransaction: boolean;
  /** Which client connection sent it (a new one after a connection was lost). */
  connection: number;
}

/**
 * What the responder does instead of answering normally:
 * - `reply`: answer this document without running the command (a server error, a write error);
 * - `afterApplying`: run the command, then answer this document (a commit that applied but
 *   whose reply says its write concern timed out);
 * - `close`: drop the connection, `before` running the command or `after` running it (the
 *   reply is lost);
 * - `hang`: never answer (the connection stays open until the responder closes).
 */
export type Fault = { reply: Doc } | { afterApplying: Doc } | { close: 'before' | 'after' } | { hang: true };

export interface FaultRule {
  match: (command: WireCommand) => boolean;
  fault: Fault;
  /** How many matching commands get the fault. @defaultValue 1 */
  times?: number;
  /** Runs when the fault fires, before it is answered (e.g. another client commits the same key). */
  run?: (responder: WireMongo) => void;
}

export interface WireMongo {
  /** A connection string for the responder as a one-member replica set. */
  uri: string;
  /** Every command received except monitoring `hello`s, in order. */
  commands: WireCommand[];
  /** How many `hello`/`isMaster` the responder answered (handshakes and monitoring). */
  hellos: number;
  /** Adds a fault rule; rules are tried in the order they were added. */
  inject(rule: FaultRule): void;
  /** The committed documents of a collection (`db.collection`, or the collection name in the default db). */
  rows(collection: string): Doc[];
  /** Commits documents directly, as another client would. */
  seed(collection: string, docs: Doc[]): void;
  /** Commands of one name (optionally on one collection). */
  named(name: string, collection?: string): WireCommand[];
  close(): Promise<void>;
}

interface Transaction {
  state: 'open' | 'committed' | 'aborted';
  /** The committed data as of the first statement, with the transaction's own writes applied. */
  view: Map<string, Doc[]>;
  /** What it wrote, per namespace and document id (null: deleted), applied to the committed data at commit. */
  changes: Map<string, Map<string, Doc | null>>;
}

const idKey = (doc: Doc): string => {
  const id = doc._id;
  return id instanceof mongoose.Types.ObjectId ? id.toHexString() : JSON.stringify(id);
};

function errorReply(code: number, codeName: string, errmsg: string, labels: string[] = []): Doc {
  return { ok: 0, errmsg, code, codeName, ...(labels.length > 0 ? { errorLabels: labels } : {}) };
}

// ---- framing ----

function readCString(buffer: Buffer, offset: number): [string, number] {
  const end = buffer.indexOf(0, offset);
  return [buffer.toString('utf8', offset, end), end + 1];
}

function readDocument(buffer: Buffer, offset: number): [Doc, number] {
  const size = buffer.readInt32LE(offset);
  return [BSON.deserialize(buffer.subarray(offset, offset + size), { promoteValues: true }) as Doc, offset + size];
}

/** An OP_MSG body: section 0 is the command, each section 1 an array field (`documents`, `updates`, `deletes`). */
function parseOpMsg(payload: Buffer): { body: Doc; moreToCome: boolean } {
  const flags = payload.readUInt32LE(0);
  const end = flags & 1 ? payload.length - 4 : payload.length; // checksumPresent
  let offset = 4;
  let body: Doc = {};
  const sequences: [string, Doc[]][] = [];
  while (offset < end) {
    const kind = payload[offset++];
    if (kind === 0) {
      [body, offset] = readDocument(payload, offset);
    } else if (kind === 1) {
      const size = payload.readInt32LE(offset);
      const sectionEnd = offset + size;
      const [identifier, start] = readCString(payload, offset + 4);
      const docs: Doc[] = [];
      for (let at = start; at < sectionEnd; ) {
        const [doc, next] = readDocument(payload, at);
        docs.push(doc);
        at = next;
      }
      sequences.push([identifier, docs]);
      offset = sectionEnd;
    } else {
      throw new Error(`wire-mongo: OP_MSG section kind ${kind}`);
    }
  }
  for (const [identifier, docs] of sequences) body[identifier] = docs;
  return { body, moreToCome: (flags & 2) !== 0 };
}

/** The legacy handshake: OP_QUERY on `admin.$cmd`, as the driver sends its first `isMaster`. */
function parseOpQuery(payload: Buffer): { body: Doc; db: string } {
  const [namespace, offset] = readCString(payload, 4);
  const [body] = readDocument(payload, offset + 8);
  return { body, db: namespace.split('.')[0] ?? 'admin' };
}

function header(length: number, requestId: number, responseTo: number, opCode: number): Buffer {
  const buffer = Buffer.alloc(16);
  buffer.writeInt32LE(length, 0);
  buffer.writeInt32LE(requestId, 4);
  buffer.writeInt32LE(responseTo, 8);
  buffer.writeInt32LE(opCode, 12);
  return buffer;
}

let nextResponseId = 1;

function opMsgReply(responseTo: number, doc: Doc): Buffer {
  const body = BSON.serialize(doc);
  const flags = Buffer.alloc(5); // flagBits 0, then section kind 0
  return Buffer.concat([header(16 + flags.length + body.length, nextResponseId++, responseTo, OP_MSG), flags, body]);
}

function opReply(responseTo: number, doc: Doc): Buffer {
  const body = BSON.serialize(doc);
  const fields = Buffer.alloc(20); // responseFlags, cursorID (8), startingFrom, numberReturned
  fields.writeInt32LE(1, 16);
  return Buffer.concat([
    header(16 + fields.length + body.length, nextResponseId++, responseTo, OP_REPLY),
    fields,
    body,
  ]);
}

// ---- the responder ----

/** Starts a responder on 127.0.0.1 and a free port. */
export async function startWireMongo(): Promise<WireMongo> {
  const committed = new Map<string, Doc[]>();
  const indexes = new Map<string, Doc[]>();
  const transactions = new Map<string, Transaction>();
  const rules: (FaultRule & { left: number })[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const address = `127.0.0.1:${port}`;

  const responder: WireMongo = {
    uri: `mongodb://${address}/careslot?replicaSet=${SET_NAME}&heartbeatFrequencyMS=500&serverSelectionTimeoutMS=5000`,
    commands: [],
    hellos: 0,
    inject: (rule) => rules.push({ ...rule, left: rule.times ?? 1 }),
    rows: (collection) => (committed.get(qualify(collection)) ?? []).map(copy),
    seed: (collection, docs) => {
      const table = tableOf(committed, qualify(collection));
      for (const doc of docs) table.push(copy({ _id: new mongoose.Types.ObjectId(), ...doc }));
    },
    named: (name, collection) =>
      responder.commands.filter((c) => c.name === name && (collection === undefined || c.collection === collection)),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close').catch(() => {});
    },
  };

  const qualify = (collection: string) => (collection.includes('.') ? collection : `careslot.${collection}`);

  function tableOf(data: Map<string, Doc[]>, ns: string): Doc[] {
    let table = data.get(ns);
    if (!table) {
      table = [];
      data.set(ns, table);
    }
    return table;
  }

  function hello(legacy: boolean): Doc {
    responder.hellos++;
    return {
      ...(legacy ? { ismaster: true, helloOk: true } : {}),
      isWritablePrimary: true,
      secondary: false,
      setName: SET_NAME,
      setVersion: 1,
      electionId: new mongoose.Types.ObjectId('7fffffff0000000000000001'),
      hosts: [address],
      primary: address,
      me: address,
      maxBsonObjectSize: 16 * 1024 * 1024,
      maxMessageSizeBytes: 48_000_000,
      maxWriteBatchSize: 100_000,
      localTime: new Date(),
      // Sessions (and so transactions) need this; a replica set member with wire version 17
      // (MongoDB 6.0) or later satisfies the driver (it needs at least 9, MongoDB 4.4).
      logicalSessionTimeoutMinutes: 30,
      connectionId: connections,
      minWireVersion: 0,
      maxWireVersion: 21,
      readOnly: false,
      ok: 1,
    };
  }

  /** The transaction a statement belongs to (a statement with startTransaction opens it on a snapshot), or the error to answer. */
  function transactionOf(command: WireCommand): { txn: Transaction | null } | { error: Doc } {
    if (!command.inTransaction || command.txnNumber === null || command.lsid === null) return { txn: null };
    const key = `${command.lsid}:${command.txnNumber}`;
    let txn = transactions.get(key);
    if (command.startTransaction) {
      txn = {
        state: 'open',
        view: new Map([...committed].map(([ns, docs]) => [ns, docs.map(copy)])),
        changes: new Map(),
      };
      transactions.set(key, txn);
    }
    if (!txn || txn.state === 'aborted') {
      return {
        error: errorReply(
          251,
          'NoSuchTransaction',
          `Transaction with { txnNumber: ${command.txnNumber} } has been aborted.`,
          ['TransientTransactionError'],
        ),
      };
    }
    return { txn };
  }

  function write(txn: Transaction | null, ns: string, id: string, doc: Doc | null): void {
    const apply = (data: Map<string, Doc[]>) => {
      const table = tableOf(data, ns);
      const at = table.findIndex((d) => idKey(d) === id);
      if (doc === null) {
        if (at >= 0) table.splice(at, 1);
      } else if (at >= 0) table[at] = copy(doc);
      else table.push(copy(doc));
    };
    if (txn) {
      apply(txn.view);
      let changes = txn.changes.get(ns);
      if (!changes) {
        changes = new Map();
        txn.changes.set(ns, changes);
      }
      changes.set(id, doc === null ? null : copy(doc));
    } else {
      apply(committed);
    }
  }

  function read(txn: Transaction | null, ns: string, filter: Doc): Doc[] {
    const data = txn ? txn.view : committed;
    const query = new Query(filter);
    return (data.get(ns) ?? []).filter((doc) => query.test(doc)).map(copy);
  }

  function project(doc: Doc, projection: Doc | undefined): Doc {
    if (!projection || Object.keys(projection).length === 0) return doc;
    return Object.fromEntries(
      Object.keys(projection)
        .filter((f) => f in doc)
        .map((f) => [f, doc[f]]),
    );
  }

  function upsertBase(filter: Doc): Doc {
    const base: Doc = { _id: new mongoose.Types.ObjectId() };
    for (const [field, value] of Object.entries(filter)) {
      const operator =
        value !== null &&
        typeof value === 'object' &&
        !(value instanceof mongoose.Types.ObjectId) &&
        !(value instanceof Date)
          ? Object.keys(value).some((k) => k.startsWith('$'))
          : false;
      if (!field.startsWith('$') && !operator) base[field] = value;
    }
    return base;
  }

  function updated(doc: Doc, update: Doc, inserting: boolean): Doc {
    const { $setOnInsert, ...modifiers } = update as { $setOnInsert?: Doc } & Doc;
    const next = inserting && $setOnInsert ? { ...doc, ...$setOnInsert } : doc;
    return SnapshotDb.applyUpdate(next, modifiers);
  }

  function cursor(ns: string, docs: Doc[]): Doc {
    return { cursor: { firstBatch: docs, id: BSON.Long.fromNumber(0), ns }, ok: 1 };
  }

  /** Runs one command against the model; what the server would answer. */
  function run(command: WireCommand): Doc {
    const { name, body } = command;
    const ns = command.collection === null ? '' : `${command.db}.${command.collection}`;
    switch (name) {
      case 'hello':
      case 'isMaster':
      case 'ismaster':
        return hello(name !== 'hello');
      case 'ping':
      case 'endSessions':
      case 'killCursors':
        return { ok: 1 };
      case 'buildInfo':
        return { version: '7.0.0', versionArray: [7, 0, 0, 0], ok: 1 };
      case 'commitTransaction': {
        const txn = transactions.get(`${command.lsid}:${command.txnNumber}`);
        if (!txn || txn.state === 'aborted') {
          return errorReply(251, 'NoSuchTransaction', 'no such transaction', ['TransientTransactionError']);
        }
        if (txn.state === 'open') {
          for (const [space, changes] of txn.changes) {
            for (const [id, doc] of changes) write(null, space, id, doc);
          }
          txn.state = 'committed';
        }
        return { ok: 1 }; // a commit sent again for a committed transaction answers ok, as mongod does
      }
      case 'abortTransaction': {
        const txn = transactions.get(`${command.lsid}:${command.txnNumber}`);
        if (txn?.state !== 'open') return errorReply(251, 'NoSuchTransaction', 'no such transaction');
        txn.state = 'aborted';
        return { ok: 1 };
      }
      case 'listIndexes':
        return cursor(ns, [{ v: 2, key: { _id: 1 }, name: '_id_' }, ...(indexes.get(ns) ?? []).map(copy)]);
      case 'createIndexes': {
        const list = indexes.get(ns) ?? [];
        for (const index of body.indexes as Doc[]) {
          if (!list.some((i) => i.name === index.name)) list.push({ v: 2, ...index });
        }
        indexes.set(ns, list);
        return { ok: 1, createdCollectionAutomatically: false, numIndexesBefore: 1, numIndexesAfter: list.length + 1 };
      }
      case 'dropIndexes': {
        const list = indexes.get(ns) ?? [];
        const at = list.findIndex((i) => i.name === body.index);
        if (at < 0) return errorReply(27, 'IndexNotFound', `index not found with name [${String(body.index)}]`);
        list.splice(at, 1);
        return { ok: 1 };
      }
      case 'listCollections':
        return cursor(`${command.db}.$cmd.listCollections`, []);
    }

    const found = transactionOf(command);
    if ('error' in found) return found.error;
    const current = found.txn;
    switch (name) {
      case 'find': {
        let docs = read(current, ns, (body.filter as Doc) ?? {});
        if (body.sort) docs = sortDocs(docs, body.sort as Record<string, 1 | -1>);
        const limit = Math.abs(Number(body.limit ?? 0));
        if (limit > 0) docs = docs.slice(0, limit);
        return cursor(
          ns,
          docs.map((d) => project(d, body.projection as Doc | undefined)),
        );
      }
      case 'aggregate': {
        const [first, ...rest] = body.pipeline as Doc[];
        const match = first && '$match' in first ? (first.$match as Doc) : {};
        const stages = first && '$match' in first ? rest : (body.pipeline as Doc[]);
        return cursor(ns, new Aggregator(stages).run(read(current, ns, match)) as Doc[]);
      }
      case 'insert': {
        for (const doc of body.documents as Doc[]) write(current, ns, idKey(doc), doc);
        return { n: (body.documents as Doc[]).length, ok: 1 };
      }
      case 'update': {
        let n = 0;
        let modified = 0;
        const upserted: Doc[] = [];
        for (const [index, statement] of (body.updates as Doc[]).entries()) {
          const matches = read(current, ns, statement.q as Doc);
          const targets = statement.multi ? matches : matches.slice(0, 1);
          for (const doc of targets) write(current, ns, idKey(doc), updated(doc, statement.u as Doc, false));
          n += targets.length;
          modified += targets.length;
          if (targets.length === 0 && statement.upsert) {
            const doc = updated(upsertBase(statement.q as Doc), statement.u as Doc, true);
            write(current, ns, idKey(doc), doc);
            upserted.push({ index, _id: doc._id });
            n++;
          }
        }
        return { n, nModified: modified, ...(upserted.length > 0 ? { upserted } : {}), ok: 1 };
      }
      case 'findAndModify': {
        let matches = read(current, ns, (body.query as Doc) ?? {});
        if (body.sort) matches = sortDocs(matches, body.sort as Record<string, 1 | -1>);
        const [doc] = matches;
        if (doc) {
          const next = updated(doc, body.update as Doc, false);
          write(current, ns, idKey(doc), next);
          return { lastErrorObject: { n: 1, updatedExisting: true }, value: body.new ? next : doc, ok: 1 };
        }
        if (!body.upsert) return { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };
        const inserted = updated(upsertBase((body.query as Doc) ?? {}), body.update as Doc, true);
        write(current, ns, idKey(inserted), inserted);
        return {
          lastErrorObject: { n: 1, updatedExisting: false, upserted: inserted._id },
          value: body.new ? inserted : null,
          ok: 1,
        };
      }
      case 'delete': {
        let n = 0;
        for (const statement of body.deletes as Doc[]) {
          const matches = read(current, ns, statement.q as Doc);
          const targets = statement.limit === 1 ? matches.slice(0, 1) : matches;
          for (const doc of targets) write(current, ns, idKey(doc), null);
          n += targets.length;
        }
        return { n, ok: 1 };
      }
      default:
        return errorReply(
          59,
          'CommandNotFound',
          `no such command: '${name}' (wire-mongo answers only what careslot sends)`,
        );
    }
  }

  /** Whether the answer is an error the server would abort the transaction for. */
  function isFailure(doc: Doc): boolean {
    return doc.ok === 0 || (Array.isArray(doc.writeErrors) && doc.writeErrors.length > 0);
  }

  function describe(body: Doc, db: string, connection: number): WireCommand {
    const name = Object.keys(body)[0] ?? '';
    const target = body[name];
    const lsid = body.lsid as { id?: { buffer?: Uint8Array } } | undefined;
    const txnNumber = body.txnNumber;
    return {
      name,
      db: typeof body.$db === 'string' ? body.$db : db,
      collection: typeof target === 'string' ? target : null,
      body,
      lsid: lsid?.id?.buffer ? Buffer.from(lsid.id.buffer).toString('hex') : null,
      txnNumber: txnNumber === undefined ? null : Number(txnNumber),
      inTransaction: body.autocommit === false,
      startTransaction: body.startTransaction === true,
      connection,
    };
  }

  function respond(socket: net.Socket, command: WireCommand, reply: (doc: Doc) => Buffer): void {
    const monitoring = ['hello', 'isMaster', 'ismaster'].includes(command.name);
    if (!monitoring) responder.commands.push(command);
    const rule = monitoring ? undefined : rules.find((r) => r.left > 0 && r.match(command));
    if (rule) {
      rule.left--;
      rule.run?.(responder);
      const { fault } = rule;
      if ('hang' in fault) return;
      if ('close' in fault) {
        if (fault.close === 'after') run(command);
        socket.destroy();
        return;
      }
      if ('reply' in fault) {
        // mongod aborts a transaction whose statement failed.
        if (isFailure(fault.reply) && command.inTransaction) {
          const txn = transactions.get(`${command.lsid}:${command.txnNumber}`);
          if (txn?.state === 'open' && command.name !== 'commitTransaction') txn.state = 'aborted';
          if (!txn && command.startTransaction) {
            transactions.set(`${command.lsid}:${command.txnNumber}`, {
              state: 'aborted',
              view: new Map(),
              changes: new Map(),
            });
          }
        }
        socket.write(reply(fault.reply));
        return;
      }
      run(command);
      socket.write(reply(fault.afterApplying));
      return;
    }
    socket.write(reply(run(command)));
  }

  server.on('connection', (socket) => {
    const connection = ++connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= pending.readInt32LE(0)) {
        const length = pending.readInt32LE(0);
        const message = pending.subarray(0, length);
        pending = pending.subarray(length);
        const requestId = message.readInt32LE(4);
        const opCode = message.readInt32LE(12);
        const payload = message.subarray(16);
        if (opCode === OP_QUERY) {
          const { body, db } = parseOpQuery(payload);
          respond(socket, describe(body, db, connection), (doc) => opReply(requestId, doc));
        } else if (opCode === OP_MSG) {
          const { body, moreToCome } = parseOpMsg(payload);
          const command = describe(body, 'admin', connection);
          if (moreToCome) responder.commands.push(command);
          else respond(socket, command, (doc) => opMsgReply(requestId, doc));
        } else {
          socket.destroy(new Error(`wire-mongo: opcode ${opCode} is not spoken here`));
        }
        if (socket.destroyed) return;
      }
    });
  });

  return responder;
}
