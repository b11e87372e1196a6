// Every pair of state-changing use cases that can meet on one slot, booking, doctor or patient, raced N-way, as a suite any store runs.
import { describe, expect, it } from 'vitest';
import {
  type Actor,
  type Booking,
  type BookResult,
  isBookingError,
  JOB_NAMES,
  type JobName,
  type PaymentEvent,
  type ReconcileReport,
  type Schedule,
} from '../../src/index.js';
import { type createFixture, DOCTOR, type Fixture, OTHER_DOCTOR, PATIENTS } from '../support/engine-fixture.js';
import { findViolations } from '../support/invariants.js';
import { describeAvailabilityRaces } from './availability-race-suite.js';
import { describePolicyRaces } from './policy-race-suite.js';

/** Builds an engine fixture on the store under test (fresh, empty). */
export type RaceFixtureFactory = (options?: Parameters<typeof createFixture>[0]) => Promise<Fixture>;

/** Concurrent calls per race (all started in the same tick). */
const N = 20;
/** Rounds per race, each on slots no earlier round left taken, with the invariants checked after every one. */
const ROUNDS = 5;
const MINUTE = 60_000;
const DAY = 24 * 60;
const FEE = 5000;
const admin: Actor = { role: 'admin', id: 'admin-1' };
const doctor: Actor = { role: 'doctor', id: DOCTOR };
const asPatient = (id: string): Actor => ({ role: 'patient', id });

/** Minutes from now of slot `index` of `round`: a day per round, an hour per slot (slots last 30 minutes). */
const at = (round: number, index = 0): number => 2 * DAY + round * DAY + index * 60;

let patientCount = 0;

/** Adds `count` fresh patients on `plan` (related to the doctor when the plan books free). */
function addPatients(f: Fixture, count: number, plan: string, options: { related?: boolean } = {}): string[] {
  return Array.from({ length: count }, () => {
    patientCount++;
    const id = `64c0${patientCount.toString(16).padStart(20, '0')}`;
    f.patients.addPatient({ id, name: `Racer ${patientCount}`, plan });
    if (options.related) f.patients.addRelation({ doctorId: DOCTOR, patientId: id });
    return id;
  });
}

interface Call<K extends string> {
  kind: K;
  run: () => Promise<unknown>;
}

/** Starts every call in the same tick (none waits for another) and waits for all of them. */
async function race<K extends string>(calls: readonly Call<K>[]) {
  const settled = await Promise.allSettled(calls.map((call) => call.run()));
  const of = (kind: K) => settled.filter((_, i) => calls[i]?.kind === kind);
  return { of, all: settled };
}

/** Lets `count` microtask turns pass (no clock, no timers): a head start for one side of a race. */
async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await Promise.resolve();
}

/** Alternates the calls of two groups, so neither always starts first. */
function interleave<A, B>(a: readonly A[], b: readonly B[]): (A | B)[] {
  const out: (A | B)[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i] as A);
    if (i < b.length) out.push(b[i] as B);
  }
  return out;
}

const values = <T>(results: readonly PromiseSettledResult<unknown>[]): T[] =>
  results.flatMap((r) => (r.status === 'fulfilled' ? [r.value as T] : []));

/** Each rejection's error code; anything but a documented BookingError shows its name and message instead. */
function errorCodes(results: readonly PromiseSettledResult<unknown>[]): string[] {
  return results.flatMap((r) => {
    if (r.status === 'fulfilled') return [];
    const error = r.reason as Error;
    return [isBookingError(error) && error.code !== 'STORE_ERROR' ? error.code : `${error?.name}: ${error?.message}`];
  });
}

const times = (count: number, code: string): string[] => Array.from({ length: count }, () => code);

/** The single element of `items` (fails the test when there is not exactly one). */
function only<T>(items: readonly T[], what: string): T {
  expect(items, what).toHaveLength(1);
  return items[0] as T;
}

function sessionOf(f: Fixture, bookingId: string): string {
  const session = f.gateway.sessionForBooking(bookingId);
  if (!session) throw new Error(`no checkout session for booking ${bookingId}`);
  return session.id;
}

/** A scheduled, paid booking of `slot` by `patientId`. */
async function paidBooking(f: Fixture, slot: Schedule, patientId: string): Promise<Booking> {
  const { booking } = await f.engine.book({ patientId, scheduleId: slot.id });
  await f.engine.handlePaymentEvent(f.gateway.pay(sessionOf(f, booking.id)));
  return f.engine.getBooking(booking.id);
}

function createSlot(f: Fixture, doctorId: string, startMs: number, endMs: number): Promise<Schedule> {
  return f.engine.createSchedule({
    doctorId,
    startTime: new Date(startMs),
    endTime: new Date(endMs),
    fee: { amount: FEE, currency: 'EUR' },
    timeZone: 'Europe/Berlin',
  });
}

/**
 * `count` available slots: the ones of `pool` still available (a round's losers are reused, which
 * keeps the suite fast on slow stores), topped up with new slots an hour apart.
 */
async function availableSlots(f: Fixture, pool: readonly Schedule[], count: number): Promise<Schedule[]> {
  const slots: Schedule[] = [];
  for (const s of pool) {
    if (slots.length < count && (await f.engine.getSchedule(s.id)).status === 'available') slots.push(s);
  }
  while (slots.length < count) slots.push(await newSlot(f));
  return slots;
}

const slotsMade = new WeakMap<Fixture, number>();

/** The fixture's next slot for `availableSlots`: an hour after the previous one, from two days ahead. */
function newSlot(f: Fixture): Promise<Schedule> {
  const made = slotsMade.get(f) ?? 0;
  slotsMade.set(f, made + 1);
  return f.slot(at(0, made));
}

const balance = async (f: Fixture): Promise<number> => (await f.engine.getWallet(DOCTOR)).balances.eur ?? 0;

async function statusesOf(f: Fixture, slots: readonly Schedule[]): Promise<Record<string, string>> {
  const entries = await Promise.all(slots.map(async (s) => [s.id, (await f.engine.getSchedule(s.id)).status]));
  return Object.fromEntries(entries);
}

/** What the store says about the money of one booking: its payments, succeeded refunds, ledger lines. */
async function moneyOf(f: Fixture, booking: Booking) {
  const payments = await f.store.findPaymentTransactions({ bookingId: booking.id });
  const refunds = payments.flatMap((p) => p.refunds.filter((r) => r.status === 'succeeded'));
  const ledger = await f.store.findLedgerEntries({ bookingId: booking.id });
  const providerRefunds = f.gateway.refunds.filter((r) => payments.some((p) => p.providerPaymentId === r.paymentId));
  return {
    payments: payments.length,
    credited: payments.filter((p) => p.credited).length,
    refunded: refunds.reduce((sum, r) => sum + r.amount, 0),
    refunds: refunds.length,
    providerRefunded: providerRefunds.reduce((sum, r) => sum + r.amount, 0),
    providerRefunds: providerRefunds.length,
    credits: ledger.filter((e) => e.kind === 'credit').length,
    debits: ledger.filter((e) => e.kind === 'debit').length,
  };
}

async function expectConsistent(f: Fixture, round: number): Promise<void> {
  expect(await findViolations(f.store, { now: f.clock.now() }), `invariants after round ${round}`).toEqual([]);
}

export function describeRaces(label: string, fixture: RaceFixtureFactory): void {
  describeAvailabilityRaces(label, fixture);
  describePolicyRaces(label, fixture);
  describe(label, () => {
    describe('book × book', () => {
      it(`gives a slot to exactly one of ${N} patients booking it at once; the others get SCHEDULE_UNAVAILABLE and leave no record`, async () => {
        const f = await fixture();
        for (let round = 0; round < ROUNDS; round++) {
          const slot = await f.slot(at(round));
          const paying = addPatients(f, N / 2, 'standard');
          const free = addPatients(f, N / 2, 'vise', { related: true });
          // Paying and free patients alternate, led by a different group each round.
          const patients = round % 2 === 0 ? interleave(paying, free) : interleave(free, paying);
          const { all } = await race(
            patients.map((patientId) => ({
              kind: 'book',
              run: () => f.engine.book({ patientId, scheduleId: slot.id }),
            })),
          );
          const winner = only(values<BookResult>(all), `round ${round}: bookings made`).booking;
          expect(errorCodes(all)).toEqual(times(N - 1, 'SCHEDULE_UNAVAILABLE'));
          expect((await f.engine.listBookings({ scheduleId: slot.id })).map((b) => b.id)).toEqual([winner.id]);
          expect(await f.engine.getSchedule(slot.id)).toMatchObject(
            winner.mode === 'free' ? { status: 'booked', bookedBy: winner.patientId } : { status: 'pending' },
          );
          const sessions = [...f.gateway.sessions.values()].filter((s) => patients.includes(s.patientId));
          expect(sessions.map((s) => s.bookingId)).toEqual(winner.mode === 'paid' ? [winner.id] : []);
          await expectConsistent(f, round);
        }
      });

      it(`answers ${N} concurrent retries of one book call (same patient, same idempotency key) with one booking`, async () => {
        const f = await fixture();
        for (let round = 0; round < ROUNDS; round++) {
          const slot = await f.slot(at(round));
          const [patientId = ''] = addPatients(f, 1, 'standard');
          const { all } = await race(
            Array.from({ length: N }, () => ({
              kind: 'book',
              run: () => f.engine.book({ patientId, scheduleId: slot.id, idempotencyKey: `tap-${round}` }),
            })),
          );
          expect(errorCodes(all)).toEqual([]);
          const ids = new Set(values<BookResult>(all).map((r) => r.booking.id));
          const id = only([...ids], `round ${round}: distinct bookings answered`);
          expect((await f.engine.listBookings({ patientId })).map((b) => b.id)).toEqual([id]);
          expect([...f.gateway.sessions.values()].filter((s) => s.patientId === patientId)).toHaveLength(1);
          expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'pending' });
          await expectConsistent(f, round);
        }
      });
    });

    describe('book × createSchedule', () => {
      it('refuses every slot overlapping one that patients are booking at that moment, publishes the adjacent ones, and books it once', async () => {
        const f = await fixture();
        // Minutes from the slot's start: eight windows that overlap it, and two that only touch it.
        const overlapping: [number, number][] = [
          [-20, 10],
          [-10, 20],
          [0, 30],
          [10, 40],
          [20, 50],
          [-10, 40],
          [5, 25],
          [29, 59],
        ];
        const adjacent: [number, number][] = [
          [-30, 0],
          [30, 60],
        ];
        for (let round = 0; round < ROUNDS; round++) {
          const slot = await f.slot(at(round, 2));
          const start = slot.startTime.getTime();
          const create =
            (kind: 'overlap' | 'adjacent') =>
            ([from, to]: [number, number]) => ({
              kind,
              run: () => createSlot(f, DOCTOR, start + from * MINUTE, start + to * MINUTE),
            });
          const creates = [...overlapping.map(create('overlap')), ...adjacent.map(create('adjacent'))];
          const books = addPatients(f, N - creates.length, 'standard').map((patientId) => ({
            kind: 'book' as const,
            run: () => f.engine.book({ patientId, scheduleId: slot.id }),
          }));
          const { of } = await race<'book' | 'overlap' | 'adjacent'>(interleave(books, creates));

          const winner = only(values<BookResult>(of('book')), `round ${round}: bookings made`).booking;
          expect(errorCodes(of('book'))).toEqual(times(books.length - 1, 'SCHEDULE_UNAVAILABLE'));
          expect(values(of('overlap'))).toEqual([]);
          expect(errorCodes(of('overlap'))).toEqual(times(overlapping.length, 'SCHEDULE_UNAVAILABLE'));
          const neighbours = values<Schedule>(of('adjacent'));
          expect(errorCodes(of('adjacent'))).toEqual([]);

          const live = await f.engine.listSchedules({
            doctorId: DOCTOR,
            from: new Date(start - 30 * MINUTE),
            to: new Date(start + 60 * MINUTE),
          });
          expect(live.map((s) => s.id).sort()).toEqual([slot.id, ...neighbours.map((s) => s.id)].sort());
          expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'pending' });
          expect((await f.engine.listBookings({ scheduleId: slot.id })).map((b) => b.id)).toEqual([winner.id]);
          await expectConsistent(f, round);
        }
      });
    });

    describe('createSchedule × createSchedule', () => {
      it(`publishes exactly one of ${N} overlapping slots a doctor creates at once (the others get SCHEDULE_UNAVAILABLE) while another doctor's slot at that time is published`, async () => {
        const f = await fixture();
        for (let round = 0; round < ROUNDS; round++) {
          const base = f.clock.now().getTime() + at(round) * MINUTE;
          // Starts a minute apart, 30 minutes long: every window overlaps every other.
          const mine = Array.from({ length: N }, (_, i) => ({
            kind: 'mine' as const,
            run: () => createSlot(f, DOCTOR, base + i * MINUTE, base + (i + 30) * MINUTE),
          }));
          const theirs = { kind: 'theirs' as const, run: () => createSlot(f, OTHER_DOCTOR, base, base + 30 * MINUTE) };
          const { of } = await race([...mine.slice(0, N / 2), theirs, ...mine.slice(N / 2)]);

          const winner = only(values<Schedule>(of('mine')), `round ${round}: slots published`);
          expect(errorCodes(of('mine'))).toEqual(times(N - 1, 'SCHEDULE_UNAVAILABLE'));
          expect(errorCodes(of('theirs'))).toEqual([]);
          const live = await f.engine.listSchedules({
            doctorId: DOCTOR,
            from: new Date(base),
            to: new Date(base + N * MINUTE),
          });
          expect(live.map((s) => s.id)).toEqual([winner.id]);
          expect(f.scheduler.pending().map((j) => j.id)).toContain(`expire-${winner.id}`);
          await expectConsistent(f, round);
        }
      });
    });

    describe('rollover × createSchedule', () => {
      it('keeps exactly one slot at the next-day time when the end-of-slot job rolls a booked slot over while the doctor publishes that time', async () => {
        const f = await fixture();
        for (let round = 0; round < ROUNDS; round++) {
          const slot = await f.slot(60);
          const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
          f.clock.set(slot.endTime);
          // No daylight-saving change near the fixture's dates: the next-day copy starts 24 hours later.
          const next = slot.startTime.getTime() + DAY * MINUTE;
          // Starts −14…+14 minutes around it, 30 minutes long: each overlaps every other and the copy.
          // Odd rounds give the jobs a head start, so each side wins some rounds.
          const headStart = (round % 2) * round * 10;
          const creates = Array.from({ length: 15 }, (_, i) => ({
            kind: 'create' as const,
            run: async () => {
              await turns(headStart);
              return createSlot(f, DOCTOR, next + (i - 7) * 2 * MINUTE, next + ((i - 7) * 2 + 30) * MINUTE);
            },
          }));
          const job = (name: JobName) => () => f.engine.runJob(name, { scheduleId: slot.id });
          const jobs = [
            { kind: 'job' as const, run: job(JOB_NAMES.completeBooked) },
            { kind: 'job' as const, run: job(JOB_NAMES.completeBooked) },
            { kind: 'job' as const, run: job(JOB_NAMES.expireUnbooked) },
            { kind: 'job' as const, run: job(JOB_NAMES.completeBooked) },
            { kind: 'sweep' as const, run: () => f.engine.reconcile() },
          ];
          const { of } = await race<'create' | 'job' | 'sweep'>(interleave(jobs, creates));

          expect(errorCodes(of('job'))).toEqual([]);
          expect(errorCodes(of('sweep'))).toEqual([]);
          const jobOutcomes = values<string>(of('job'));
          const [report] = values<ReconcileReport>(of('sweep'));
          expect(report?.errors).toBe(0);
          expect(jobOutcomes.filter((o) => o === 'completed').length + (report?.slotsFinished ?? 0)).toBe(1);
          expect(jobOutcomes.filter((o) => o !== 'completed' && o !== 'already_expired')).toEqual([]);
          expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'expired' });
          expect(await f.engine.getBooking(booking.id)).toMatchObject({ status: 'completed' });
          const completions = f.events.filter(
            (e) => e.name === 'booking.completed' && (e.payload as { booking: Booking }).booking.id === booking.id,
          );
          expect(completions).toHaveLength(1);

          const published = values<Schedule>(of('create'));
          const live = await f.engine.listSchedules({
            doctorId: DOCTOR,
            from: new Date(next - 14 * MINUTE),
            to: new Date(next + 15 * MINUTE),
          });
          const kept = only(live, `round ${round}: live slots at the next-day time`);
          const copies = (await f.store.findSchedules({ doctorId: DOCTOR })).filter(
            (s) => s.rolledOverFrom === slot.id,
          );
          if (published.length === 0) {
            // The rollover won: its copy is the slot at that time, and every publication was refused.
            expect(copies.map((s) => s.id)).toEqual([kept.id]);
            expect(kept).toMatchObject({ startTime: new Date(next), status: 'available' });
            expect(errorCodes(of('create'))).toEqual(times(creates.length, 'SCHEDULE_UNAVAILABLE'));
          } else {
            // The doctor won: the rollover kept the doctor's slot and made no copy.
            expect(published.map((s) => s.id)).toEqual([kept.id]);
            expect(copies).toEqual([]);
            expect(errorCodes(of('create'))).toEqual(times(creates.length - 1, 'SCHEDULE_UNAVAILABLE'));
          }
          await expectConsistent(f, round);
        }
      });
    });

    describe('reschedule × reschedule', () => {
      it(`moves a booking once when ${N} moves of it to different slots race; the others get INVALID_TRANSITION and every other slot stays available`, async () => {
        const f = await fixture();
        let pool: Schedule[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const [patientId = ''] = addPatients(f, 1, 'standard');
          pool = await availableSlots(f, pool, N + 1);
          const origin = pool[0] as Schedule;
          const targets = pool.slice(1);
          const booking = await paidBooking(f, origin, patientId);
          const actors = [asPatient(patientId), doctor, admin];
          const { all } = await race(
            targets.map((target, i) => ({
              kind: 'move',
              run: () =>
                f.engine.reschedule({
                  bookingId: booking.id,
                  newScheduleId: target.id,
                  actor: actors[i % actors.length] as Actor,
                }),
            })),
          );

          // First what must hold whatever the interleaving: the booking sits on one slot, the
          // only one booked; every other slot it could have gone to is available.
          const current = await f.engine.getBooking(booking.id);
          expect(current).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
          const touched = [origin, ...targets];
          expect(await statusesOf(f, touched)).toEqual(
            Object.fromEntries(touched.map((s) => [s.id, s.id === current.scheduleId ? 'booked' : 'available'])),
          );
          await expectConsistent(f, round);
          // Then the race's own rule: every caller asked to move the booking from the origin, so
          // only the first move commits; a later one must not move it again from where it went.
          const moved = values<{ to: Schedule; from: Schedule }>(all);
          expect(
            moved.map((m) => `${m.from.id} → ${m.to.id}`),
            `round ${round}: moves committed`,
          ).toHaveLength(1);
          expect(moved.map((m) => [m.from.id, m.to.id])).toEqual([[origin.id, current.scheduleId]]);
          expect(errorCodes(all)).toEqual(times(N - 1, 'INVALID_TRANSITION'));
          expect(current.history.filter((h) => h.reason?.startsWith('rescheduled_from:')).map((h) => h.reason)).toEqual(
            [`rescheduled_from:${origin.id}`],
          );
          expect(await balance(f)).toBe(FEE * (round + 1));
        }
      });
    });

    describe('reschedule × book', () => {
      it('gives a slot to exactly one of the bookings moving to it and the patients booking it at once; every loser keeps what it had', async () => {
        const f = await fixture();
        // The same movers race again every round, from wherever the previous round left them.
        const movers: Booking[] = [];
        for (const patientId of addPatients(f, N / 2, 'standard')) {
          movers.push(await paidBooking(f, await newSlot(f), patientId));
        }
        for (let round = 0; round < ROUNDS; round++) {
          const target = await newSlot(f);
          const before = await Promise.all(movers.map((b) => f.engine.getBooking(b.id)));
          const moves = before.map((b) => ({
            kind: 'move' as const,
            run: () =>
              f.engine.reschedule({ bookingId: b.id, newScheduleId: target.id, actor: asPatient(b.patientId) }),
          }));
          const books = addPatients(f, N / 2, 'standard').map((patientId) => ({
            kind: 'book' as const,
            run: () => f.engine.book({ patientId, scheduleId: target.id }),
          }));
          const { of, all } = await race<'move' | 'book'>(
            round % 2 === 0 ? interleave(moves, books) : interleave(books, moves),
          );

          expect(values(all), `round ${round}: winners`).toHaveLength(1);
          expect(errorCodes(all)).toEqual(times(N - 1, 'SCHEDULE_UNAVAILABLE'));
          const holder = only(
            await f.engine.listBookings({ scheduleId: target.id }),
            `round ${round}: bookings of the target`,
          );
          const movedHere = movers.some((b) => b.id === holder.id);
          expect(values(of('move'))).toHaveLength(movedHere ? 1 : 0);
          expect(await f.engine.getSchedule(target.id)).toMatchObject(
            movedHere ? { status: 'booked', bookedBy: holder.patientId } : { status: 'pending' },
          );
          for (const b of before) {
            const current = await f.engine.getBooking(b.id);
            const origin = await f.engine.getSchedule(b.scheduleId);
            if (b.id === holder.id) {
              expect(current).toMatchObject({ scheduleId: target.id, status: 'scheduled' });
              expect(origin).toMatchObject({ status: 'available', bookedBy: null });
            } else {
              expect(current).toMatchObject({ scheduleId: b.scheduleId, status: 'scheduled' });
              expect(origin).toMatchObject({ status: 'booked', bookedBy: b.patientId });
            }
          }
          await expectConsistent(f, round);
        }
      });
    });

    describe('reschedule × cancel', () => {
      it('ends a booking cancelled and refunded once, with every slot it touched available, when moves and cancels of it race', async () => {
        const f = await fixture();
        let pool: Schedule[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const [patientId = ''] = addPatients(f, 1, 'standard');
          pool = await availableSlots(f, pool, N / 2 + 1);
          const origin = pool[0] as Schedule;
          const targets = pool.slice(1);
          const booking = await paidBooking(f, origin, patientId);
          const before = await balance(f);
          const moves = targets.map((target) => ({
            kind: 'move' as const,
            run: () =>
              f.engine.reschedule({ bookingId: booking.id, newScheduleId: target.id, actor: asPatient(patientId) }),
          }));
          const cancels = targets.map(() => ({
            kind: 'cancel' as const,
            run: () => f.engine.cancelBooking({ bookingId: booking.id, actor: asPatient(patientId) }),
          }));
          const { of } = await race<'move' | 'cancel'>(
            round % 2 === 0 ? interleave(moves, cancels) : interleave(cancels, moves),
          );

          const cancelled = only(
            values<{ booking: Booking; refund: { amount: number } | null }>(of('cancel')),
            `round ${round}: cancellations`,
          );
          expect(errorCodes(of('cancel'))).toEqual(times(N / 2 - 1, 'INVALID_TRANSITION'));
          expect(cancelled.refund).toMatchObject({ amount: FEE, status: 'succeeded' });
          const moved = values<{ to: Schedule }>(of('move'));
          expect(moved.length, `round ${round}: moves committed`).toBeLessThanOrEqual(1);
          expect(errorCodes(of('move'))).toEqual(times(N / 2 - moved.length, 'INVALID_TRANSITION'));
          expect(await f.engine.getBooking(booking.id)).toMatchObject({
            status: 'cancelled',
            scheduleId: moved[0]?.to.id ?? origin.id,
            paymentStatus: 'refunded',
            amountRefunded: FEE,
          });
          const all = [origin, ...targets];
          expect(await statusesOf(f, all)).toEqual(Object.fromEntries(all.map((s) => [s.id, 'available'])));
          expect(await moneyOf(f, booking)).toMatchObject({
            payments: 1,
            refunded: FEE,
            refunds: 1,
            providerRefunds: 1,
            debits: 1,
          });
          expect(await balance(f)).toBe(before - FEE);
          await expectConsistent(f, round);
        }
      });
    });

    describe('cancel × confirm', () => {
      it('refunds exactly once when a pending booking is cancelled while its payment webhook arrives', async () => {
        const f = await fixture();
        for (let round = 0; round < ROUNDS; round++) {
          const [patientId = ''] = addPatients(f, 1, 'standard');
          const slot = await f.slot(at(round));
          const { booking } = await f.engine.book({ patientId, scheduleId: slot.id });
          const event = f.gateway.pay(sessionOf(f, booking.id)); // the money is taken; its webhook is on its way
          const before = await balance(f);
          const webhooks = Array.from({ length: N / 2 }, () => ({
            kind: 'webhook' as const,
            run: async () => (await f.engine.handlePaymentEvent(event)).outcome,
          }));
          const cancels = webhooks.map(() => ({
            kind: 'cancel' as const,
            run: () => f.engine.cancelBooking({ bookingId: booking.id, actor: asPatient(patientId) }),
          }));
          const { of } = await race<'webhook' | 'cancel'>(
            round % 2 === 0 ? interleave(webhooks, cancels) : interleave(cancels, webhooks),
          );

          expect(errorCodes(of('webhook'))).toEqual([]);
          expect(values<string>(of('webhook')).filter((o) => o !== 'confirmed' && o !== 'duplicate')).toEqual([]);
          const cancelled = only(
            values<{ booking: Booking; refund: unknown }>(of('cancel')),
            `round ${round}: cancellations`,
          );
          expect(errorCodes(of('cancel'))).toEqual(times(N / 2 - 1, 'INVALID_TRANSITION'));
          expect(cancelled.refund).toMatchObject({ amount: FEE, status: 'succeeded' });
          expect(await f.engine.getBooking(booking.id)).toMatchObject({
            status: 'cancelled',
            paymentStatus: 'refunded',
            amountRefunded: FEE,
          });
          expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'available', bookedBy: null });
          expect(await moneyOf(f, booking)).toEqual({
            payments: 1,
            credited: 1,
            refunded: FEE,
            refunds: 1,
            providerRefunded: FEE,
            providerRefunds: 1,
            credits: 1,
            debits: 1,
          });
          expect(await balance(f)).toBe(before);
          await expectConsistent(f, round);
        }
      });
    });

    describe('cancel × refund', () => {
      it('never refunds more than was paid when a cancellation with a full refund races partial refunds of the booking', async () => {
        const f = await fixture();
        const part = 1000;
        for (let round = 0; round < ROUNDS; round++) {
          const [patientId = ''] = addPatients(f, 1, 'standard');
          const booking = await paidBooking(f, await f.slot(at(round)), patientId);
          const before = await balance(f);
          const cancels = Array.from({ length: N / 2 }, () => ({
            kind: 'cancel' as const,
            run: () => f.engine.cancelBooking({ bookingId: booking.id, actor: asPatient(patientId) }),
          }));
          const refunds = cancels.map(() => ({
            kind: 'refund' as const,
            run: () => f.engine.refund({ bookingId: booking.id, amount: part }),
          }));
          const { of } = await race<'cancel' | 'refund'>(
            round % 2 === 0 ? interleave(cancels, refunds) : interleave(refunds, cancels),
          );

          const cancelled = only(
            values<{ refund: { amount: number } | null }>(of('cancel')),
            `round ${round}: cancellations`,
          );
          expect(errorCodes(of('cancel'))).toEqual(times(N / 2 - 1, 'INVALID_TRANSITION'));
          const partial = values<{ refund: { amount: number } }>(of('refund'));
          expect(partial.map((r) => r.refund.amount)).toEqual(partial.map(() => part));
          expect(errorCodes(of('refund'))).toEqual(times(N / 2 - partial.length, 'INVALID_INPUT'));
          // The patient cancels more than 24 hours ahead: whatever the partial refunds left goes back too.
          expect(partial.length * part + (cancelled.refund?.amount ?? 0)).toBe(FEE);
          expect(await f.engine.getBooking(booking.id)).toMatchObject({
            status: 'cancelled',
            paymentStatus: 'refunded',
            amountRefunded: FEE,
          });
          expect(await f.engine.getSchedule(booking.scheduleId)).toMatchObject({ status: 'available' });
          const refundsMade = partial.length + (cancelled.refund ? 1 : 0);
          expect(await moneyOf(f, booking)).toMatchObject({
            payments: 1,
            refunded: FEE,
            refunds: refundsMade,
            providerRefunded: FEE,
            providerRefunds: refundsMade,
            debits: refundsMade,
          });
          expect(await balance(f)).toBe(before - FEE);
          await expectConsistent(f, round);
        }
      });
    });

    describe('refund × refund', () => {
      it(`makes exactly as many of ${N} concurrent partial refunds as the payment covers; the rest get INVALID_INPUT`, async () => {
        const f = await fixture();
        const part = 1000;
        for (let round = 0; round < ROUNDS; round++) {
          const [patientId = ''] = addPatients(f, 1, 'standard');
          const booking = await paidBooking(f, await f.slot(at(round)), patientId);
          const before = await balance(f);
          const { all } = await race(
            Array.from({ length: N }, () => ({
              kind: 'refund',
              run: () => f.engine.refund({ bookingId: booking.id, amount: part }),
            })),
          );
          expect(values(all), `round ${round}: refunds made`).toHaveLength(FEE / part);
          expect(errorCodes(all)).toEqual(times(N - FEE / part, 'INVALID_INPUT'));
          expect(await f.engine.getBooking(booking.id)).toMatchObject({
            paymentStatus: 'refunded',
            amountRefunded: FEE,
          });
          expect(await moneyOf(f, booking)).toMatchObject({
            refunded: FEE,
            refunds: FEE / part,
            providerRefunded: FEE,
            providerRefunds: FEE / part,
            debits: FEE / part,
          });
          expect(await balance(f)).toBe(before - FEE);
          await expectConsistent(f, round);
        }
      });

      it(`makes one of ${N} concurrent full refunds; the rest get INVALID_TRANSITION`, async () => {
        const f = await fixture();
        for (let round = 0; round < ROUNDS; round++) {
          const [patientId = ''] = addPatients(f, 1, 'standard');
          const booking = await paidBooking(f, await f.slot(at(round)), patientId);
          const before = await balance(f);
          const { all } = await race(
            Array.from({ length: N }, () => ({
              kind: 'refund',
              run: () => f.engine.refund({ bookingId: booking.id }),
            })),
          );
          const made = only(values<{ refund: { amount: number } }>(all), `round ${round}: refunds made`);
          expect(made.refund.amount).toBe(FEE);
          expect(errorCodes(all)).toEqual(times(N - 1, 'INVALID_TRANSITION'));
          expect(await moneyOf(f, booking)).toMatchObject({ refunded: FEE, refunds: 1, providerRefunds: 1, debits: 1 });
          expect(await balance(f)).toBe(before - FEE);
          await expectConsistent(f, round);
        }
      });

      it(`makes one refund for ${N} concurrent calls with the same idempotency key, and answers each with it`, async () => {
        const f = await fixture();
        for (let round = 0; round < ROUNDS; round++) {
          const [patientId = ''] = addPatients(f, 1, 'standard');
          const booking = await paidBooking(f, await f.slot(at(round)), patientId);
          const before = await balance(f);
          const { all } = await race(
            Array.from({ length: N }, () => ({
              kind: 'refund',
              run: () => f.engine.refund({ bookingId: booking.id, amount: 1000, idempotencyKey: `goodwill-${round}` }),
            })),
          );
          expect(errorCodes(all)).toEqual([]);
          const ids = new Set(values<{ refund: { id: string } }>(all).map((r) => r.refund.id));
          expect(ids.size, `round ${round}: distinct refunds answered`).toBe(1);
          expect(await moneyOf(f, booking)).toMatchObject({
            refunded: 1000,
            refunds: 1,
            providerRefunds: 1,
            debits: 1,
          });
          expect(await f.engine.getBooking(booking.id)).toMatchObject({
            paymentStatus: 'partially_refunded',
            amountRefunded: 1000,
          });
          expect(await balance(f)).toBe(before - 1000);
          await expectConsistent(f, round);
        }
      });
    });

    describe('confirm × hold timeout', () => {
      it('lets a payment taken before the checkout closed win over the hold-timeout job and the sweep, and releases the hold otherwise, counting the money once', async () => {
        const f = await fixture();
        for (let round = 0; round < ROUNDS; round++) {
          const [patientId = ''] = addPatients(f, 1, 'standard');
          const slot = await f.slot(at(round));
          const { booking } = await f.engine.book({ patientId, scheduleId: slot.id });
          const sessionId = sessionOf(f, booking.id);
          f.clock.advanceMinutes(16); // the 15-minute hold is over: its job and the sweep are due
          const before = await balance(f);
          // Even rounds: the patient paid just before the hold ended. Odd rounds: the patient pays
          // while the job runs, after a few turns of the event loop (the page may be closed by then).
          const payment = (async (): Promise<PaymentEvent | null> => {
            await turns((round % 2) * round * 4);
            try {
              return f.gateway.pay(sessionId);
            } catch {
              return null; // the job expired the session first
            }
          })();
          const webhooks = Array.from({ length: N / 2 }, () => ({
            kind: 'webhook' as const,
            run: async () => {
              const event = await payment;
              return event ? (await f.engine.handlePaymentEvent(event)).outcome : 'not_paid';
            },
          }));
          const timeouts = Array.from({ length: N / 2 }, (_, i) =>
            i % 4 === 3
              ? { kind: 'sweep' as const, run: () => f.engine.reconcile() }
              : {
                  kind: 'job' as const,
                  run: () => f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: booking.id }),
                },
          );
          const { of, all } = await race<'webhook' | 'job' | 'sweep'>(interleave(timeouts, webhooks));

          expect(errorCodes(all)).toEqual([]);
          const reports = values<ReconcileReport>(of('sweep'));
          expect(reports.map((r) => r.errors)).toEqual(reports.map(() => 0));
          const jobs = values<string>(of('job'));
          const released =
            jobs.filter((o) => o === 'released').length + reports.reduce((n, r) => n + r.holdsReleased, 0);
          const current = await f.engine.getBooking(booking.id);
          if (await payment) {
            expect(current).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
            expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'booked', bookedBy: patientId });
            expect(released).toBe(0);
            expect(jobs.filter((o) => o !== 'paid' && o !== 'not_pending')).toEqual([]);
            expect(values<string>(of('webhook')).filter((o) => o !== 'confirmed' && o !== 'duplicate')).toEqual([]);
            expect(await moneyOf(f, booking)).toMatchObject({ payments: 1, credited: 1, credits: 1, refunds: 0 });
            expect(await balance(f)).toBe(before + FEE);
          } else {
            expect(current).toMatchObject({ status: 'cancelled', cancelReason: 'payment_timeout' });
            expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'available', bookedBy: null });
            expect(released, `round ${round}: holds released`).toBe(1);
            expect(jobs.filter((o) => o !== 'released' && o !== 'not_pending')).toEqual([]);
            expect(f.gateway.sessions.get(sessionId)?.status).toBe('expired');
            expect(await moneyOf(f, booking)).toMatchObject({ payments: 0, credits: 0 });
            expect(await balance(f)).toBe(before);
          }
          await expectConsistent(f, round);
        }
      });
    });

    describe('confirm × late-payment sweep', () => {
      it('confirms a paid booking exactly once when its late webhook and the sweep find the paid session together', async () => {
        const f = await fixture();
        for (let round = 0; round < ROUNDS; round++) {
          const [patientId = ''] = addPatients(f, 1, 'standard');
          const slot = await f.slot(at(round));
          const { booking } = await f.engine.book({ patientId, scheduleId: slot.id });
          const event = f.gateway.pay(sessionOf(f, booking.id));
          f.clock.advanceMinutes(2); // past the sweep's grace period, still inside the hold
          const before = await balance(f);
          const webhooks = Array.from({ length: N / 2 }, () => ({
            kind: 'webhook' as const,
            run: async () => (await f.engine.handlePaymentEvent(event)).outcome,
          }));
          const sweeps = webhooks.map(() => ({ kind: 'sweep' as const, run: () => f.engine.reconcile() }));
          const { of, all } = await race<'webhook' | 'sweep'>(
            round % 2 === 0 ? interleave(webhooks, sweeps) : interleave(sweeps, webhooks),
          );

          expect(errorCodes(all)).toEqual([]);
          const outcomes = values<string>(of('webhook'));
          const reports = values<ReconcileReport>(of('sweep'));
          expect(outcomes.filter((o) => o !== 'confirmed' && o !== 'duplicate')).toEqual([]);
          expect(reports.map((r) => [r.errors, r.holdsReleased])).toEqual(reports.map(() => [0, 0]));
          const confirmations =
            outcomes.filter((o) => o === 'confirmed').length + reports.reduce((n, r) => n + r.paymentsConfirmed, 0);
          expect(confirmations, `round ${round}: confirmations`).toBe(1);
          expect(await f.engine.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
          expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'booked', bookedBy: patientId });
          expect(await moneyOf(f, booking)).toMatchObject({ payments: 1, credited: 1, credits: 1 });
          expect(await balance(f)).toBe(before + FEE);
          await expectConsistent(f, round);
        }
      });
    });

    describe('per-patient counts under N concurrent books', () => {
      it(`gives exactly the free quota and then the pending cap to one patient booking ${N} slots at once; the rest get NOT_ALLOWED`, async () => {
        const freeQuota = 2;
        const f = await fixture({
          plans: {
            none: { mode: 'reject' },
            freeTrial: { mode: 'pay', freeQuota },
            standard: { mode: 'pay' },
            standardPlus: { mode: 'pay' },
            vise: { mode: 'free', relationRequired: true },
          },
          maxPendingPerPatient: 3,
        });
        let slots: Schedule[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const [patientId = ''] = addPatients(f, 1, 'freeTrial');
          slots = await availableSlots(f, slots, N);
          const { all } = await race(
            slots.map((s) => ({ kind: 'book', run: () => f.engine.book({ patientId, scheduleId: s.id }) })),
          );
          const made = values<BookResult>(all).map((r) => r.booking);
          expect(made.filter((b) => b.mode === 'free' && b.status === 'scheduled')).toHaveLength(freeQuota);
          expect(made.filter((b) => b.mode === 'paid' && b.status === 'pending')).toHaveLength(3);
          expect(errorCodes(all)).toEqual(times(N - freeQuota - 3, 'NOT_ALLOWED'));
          expect(await f.store.countBookings({ patientId })).toBe(freeQuota + 3);
          const taken = new Set(made.map((b) => b.scheduleId));
          const expected = Object.fromEntries(
            slots.map((s) => [
              s.id,
              made.find((b) => b.scheduleId === s.id)?.mode === 'free'
                ? 'booked'
                : taken.has(s.id)
                  ? 'pending'
                  : 'available',
            ]),
          );
          expect(await statusesOf(f, slots)).toEqual(expected);
          await expectConsistent(f, round);
        }
      });

      it(`holds the pending cap when one patient books ${N} slots at once; the rest get NOT_ALLOWED and their slots stay available`, async () => {
        const cap = 2;
        const f = await fixture({ maxPendingPerPatient: cap });
        let slots: Schedule[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const [patientId = ''] = addPatients(f, 1, 'standard');
          slots = await availableSlots(f, slots, N);
          const { all } = await race(
            slots.map((s) => ({ kind: 'book', run: () => f.engine.book({ patientId, scheduleId: s.id }) })),
          );
          const made = values<BookResult>(all).map((r) => r.booking);
          expect(made.map((b) => b.status)).toEqual(times(cap, 'pending'));
          expect(errorCodes(all)).toEqual(times(N - cap, 'NOT_ALLOWED'));
          expect(await f.store.countBookings({ patientId })).toBe(cap);
          const taken = new Set(made.map((b) => b.scheduleId));
          expect(await statusesOf(f, slots)).toEqual(
            Object.fromEntries(slots.map((s) => [s.id, taken.has(s.id) ? 'pending' : 'available'])),
          );
          await expectConsistent(f, round);
        }
      });
    });
  });
}
