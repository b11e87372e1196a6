// The overall deadline of one store.transaction(fn): retries, commit retries and a reply that never comes included.
import { BookingError } from '../../domain/errors.js';

/** What is known about the commit when a transaction gives up. */
export type CommitOutcome = 'unknown' | 'not_committed';

/**
 * Thrown inside the driver's loop once the deadline passed, so it stops: from `fn`'s wrapper (no
 * new attempt, no commit after the deadline) and from the session's commit (no commit retry).
 * Not a MongoError and carrying no label, so `withTransaction` neither retries it nor runs `fn`
 * again; `hasErrorLabel` is there because its commit loop asks every error for labels.
 */
export class TransactionDeadlineError extends Error {
  constructor(readonly timeoutMS: number) {
    super(`MongooseStore: transaction passed its ${timeoutMS} ms deadline`);
    this.name = 'TransactionDeadlineError';
  }

  hasErrorLabel(): boolean {
    return false;
  }
}

type Phase = 'starting' | 'callback' | 'commit' | 'between';

interface CommittingSession {
  commitTransaction?: (...args: unknown[]) => Promise<unknown>;
}

const PATCHED = Symbol('careslot.deadline');

/**
 * The MongoDB driver 7.8's `withTransaction` ignores `timeoutMS` (its code: "timeoutMS is a
 * no-op, so a CSOT timeout context is never created"): it retries transient errors and unknown
 * commit results for 120 s, and a commit whose reply never arrives waits for the socket. So the
 * store keeps its own deadline around the whole call:
 *
 * - a timer rejects the caller's promise at the deadline, with what is known about the commit:
 *   `not_committed` while `fn` runs or between attempts (nothing committed yet), `unknown` once
 *   a commit may be on its way;
 * - after the deadline, the wrapper around `fn` refuses a new attempt and refuses to hand a
 *   finished `fn` to the commit, and the session's `commitTransaction` refuses a retry, so the
 *   driver's loop ends instead of running on in the background.
 */
export class TransactionDeadline {
  private phase: Phase = 'starting';
  private expired = false;

  constructor(readonly timeoutMS: number) {}

  /** Runs `work` (the whole transaction) under the deadline. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.expired = true;
        reject(this.timeoutError());
      }, this.timeoutMS);
      // A deadline alone never keeps a process alive.
      timer.unref?.();
    });
    const running = work();
    // Past the deadline its own failure is expected (the driver's loop was stopped): nobody awaits it.
    running.catch(() => {});
    try {
      return await Promise.race([running, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Wraps one attempt of `fn` (the driver calls it again on a transient error). */
  async attempt<T>(session: unknown, body: () => Promise<T>): Promise<T> {
    if (this.expired) throw new TransactionDeadlineError(this.timeoutMS);
    this.guardCommit(session);
    this.phase = 'callback';
    const result = await body();
    if (this.expired) throw new TransactionDeadlineError(this.timeoutMS);
    // From here the driver commits: until it answers, the outcome is unknown.
    this.phase = 'commit';
    return result;
  }

  private guardCommit(session: unknown): void {
    const target = session as CommittingSession & { [PATCHED]?: true };
    if (target === null || typeof target !== 'object' || typeof target.commitTransaction !== 'function') return;
    if (target[PATCHED]) return;
    const commit = target.commitTransaction.bind(target);
    target.commitTransaction = async (...args: unknown[]) => {
      if (this.expired) throw new TransactionDeadlineError(this.timeoutMS);
      this.phase = 'commit';
      try {
        return await commit(...args);
      } catch (error) {
        // A transient commit error means the server did not commit: the driver runs fn again.
        const labelled = error as { hasErrorLabel?: (label: string) => boolean } | null;
        if (labelled?.hasErrorLabel?.('TransientTransactionError')) this.phase = 'between';
        throw error;
      }
    };
    Object.defineProperty(target, PATCHED, { value: true });
  }

  private timeoutError(): BookingError {
    const commitOutcome: CommitOutcome = this.phase === 'commit' ? 'unknown' : 'not_committed';
    return new BookingError(
      'STORE_ERROR',
      `MongooseStore: transaction did not finish within timeoutMS (${this.timeoutMS} ms); ` +
        (commitOutcome === 'unknown'
          ? 'its commit was sent and its outcome is unknown: it may have committed, so read the state before doing it again'
          : 'nothing was committed'),
      { details: { timeoutMS: this.timeoutMS, commitOutcome } },
    );
  }
}
