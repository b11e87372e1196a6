// Properties of expandAvailability on random rules, zones, time off, busy time, ranges and clocks, with a brute-force oracle.
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import {
  type AvailabilityInput,
  type AvailableSlot,
  expandAvailability,
  type Weekday,
} from '../../src/domain/availability.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const ZONES = ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Australia/Lord_Howe', 'UTC', 'Asia/Kolkata'];
const DAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const YEAR_START = Date.UTC(2030, 0, 1);
const YEAR_MINUTES = 365 * 1440;
const RUNS = { numRuns: 200, seed: 20_301_027 };

/** Local midnights (as instants) of the days in 2030 on which each zone changes its offset. */
const TRANSITION_DAYS = new Map(
  ZONES.map((zone) => {
    const days: number[] = [];
    for (
      let d = DateTime.fromObject({ year: 2030, month: 1, day: 1 }, { zone });
      d.year === 2030;
      d = d.plus({ days: 1 })
    )
      if (d.endOf('day').offset !== d.startOf('day').offset) days.push(d.startOf('day').toMillis());
    return [zone, days];
  }),
);

// --- The oracle's own clock: offsets from Intl, not from the code under test. -------------------

const formatters = new Map<string, Intl.DateTimeFormat>();
function intlOffset(ms: number, zone: string): number {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    formatters.set(zone, format);
  }
  const p: Record<string, number> = {};
  for (const { type, value } of format.formatToParts(ms)) p[type] = Number(value);
  const wall = Date.UTC(p.year as number, (p.month as number) - 1, p.day, p.hour, p.minute);
  return wall - Math.floor(ms / MINUTE) * MINUTE;
}

const hourOffsets = new Map<string, Map<number, number | null>>();
/** The zone's offset (ms) at a whole-minute instant; an hour with no change in it is read once. */
function offsetAt(ms: number, zone: string): number {
  const hour = Math.floor(ms / HOUR);
  let hours = hourOffsets.get(zone);
  if (!hours) {
    hours = new Map();
    hourOffsets.set(zone, hours);
  }
  let cached = hours.get(hour);
  if (cached === undefined) {
    const first = intlOffset(hour * HOUR, zone);
    cached = first === intlOffset(hour * HOUR + HOUR - MINUTE, zone) ? first : null;
    hours.set(hour, cached);
  }
  return cached ?? intlOffset(ms, zone);
}

/** Local date (days since 1970-01-01) and minute of the day of a whole-minute instant. */
function local(ms: number, zone: string): { day: number; minute: number } {
  const wall = ms + offsetAt(ms, zone);
  return { day: Math.floor(wall / DAY), minute: Math.floor((wall % DAY) / MINUTE) };
}

const WEEKDAY_BY_UTC_DAY: Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const weekdayOf = (day: number) => WEEKDAY_BY_UTC_DAY[new Date(day * DAY).getUTCDay()] as Weekday;

interface Hull {
  day: number;
  start: number;
  end: number;
}

/**
 * The rule stated independently: a window on local date D covers every instant from the first
 * minute whose local date is D and wall clock is in [from, to) to the end of the last such minute.
 */
function hulls(input: AvailabilityInput): Hull[] {
  const { timeZone, weekly } = input.rules;
  const windows = weekly.map((w) => ({ days: w.days, from: minutes(w.from), to: minutes(w.to) }));
  const found = new Map<string, Hull>();
  const scanFrom = Math.floor((input.range.from.getTime() - 2 * DAY) / MINUTE) * MINUTE;
  const scanTo = input.range.to.getTime() + 2 * DAY;
  let weekday: { day: number; name: Weekday } = { day: Number.NaN, name: 'mon' };
  for (let t = scanFrom; t < scanTo; t += MINUTE) {
    const { day, minute } = local(t, timeZone);
    if (weekday.day !== day) weekday = { day, name: weekdayOf(day) };
    windows.forEach((w, i) => {
      if (minute < w.from || minute >= w.to || !w.days.includes(weekday.name)) return;
      const key = `${day}/${i}`;
      const hull = found.get(key);
      if (hull) hull.end = t + MINUTE;
      else found.set(key, { day, start: t, end: t + MINUTE });
    });
  }
  return [...found.values()];
}

function minutes(wall: string): number {
  const [h, m] = wall.split(':').map(Number);
  return (h as number) * 60 + (m as number);
}

const overlaps = (a: number, b: number, c: number, d: number) => a < d && c < b;

/** Every minute of the range tried as a start, with each rule checked on its own. */
function bruteForce(input: AvailabilityInput): number[] {
  const r = input.rules;
  const slot = r.slotMinutes * MINUTE;
  const step = (r.stepMinutes ?? r.slotMinutes) * MINUTE;
  const before = (r.bufferBeforeMinutes ?? 0) * MINUTE;
  const after = (r.bufferAfterMinutes ?? 0) * MINUTE;
  const now = input.now.getTime();
  const windows = hulls(input);
  const result: number[] = [];
  for (let s = input.range.from.getTime(); s < input.range.to.getTime(); s += MINUTE) {
    const e = s + slot;
    if (!windows.some((w) => w.start <= s && (s - w.start) % step === 0 && e <= w.end)) continue;
    if (s < now + (r.minNoticeMinutes ?? 0) * MINUTE) continue;
    if (s > now + (r.horizonDays ?? 365) * DAY) continue;
    if (input.timeOff.some((o) => overlaps(s, e, o.start.getTime(), o.end.getTime()))) continue;
    // Occupied intervals (slot widened by both buffers) must not overlap.
    if (input.busy.some((b) => overlaps(s - before, e + after, b.start.getTime() - before, b.end.getTime() + after)))
      continue;
    result.push(s);
  }
  return result;
}

// --- Generators. ---------------------------------------------------------------------------------

const wall = (m: number) =>
  m === 1440 ? '24:00' : `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

// Where the four zones change their clocks (their gaps and repeats begin and end) and the times the issue names.
const EDGES = [0, 30, 60, 90, 105, 120, 135, 150, 180, 780].map((m) => fc.constant(m));

/** 1–3 windows, disjoint in wall-clock time, their edges often where clocks change. */
const weeklyArb = fc
  .uniqueArray(
    fc.oneof(
      fc.integer({ min: 0, max: 1440 }),
      fc.integer({ min: 0, max: 16 }).map((x) => x * 15),
      fc.oneof(...EDGES),
      fc.constant(1440),
    ),
    { minLength: 2, maxLength: 6 },
  )
  .chain((points) => {
    const sorted = [...points].sort((x, y) => x - y);
    const pairs = Math.floor(sorted.length / 2);
    return fc.tuple(
      ...Array.from({ length: pairs }, (_, i) =>
        fc.oneof(fc.constant(DAYS), fc.subarray(DAYS, { minLength: 1 })).map((days) => ({
          days,
          from: wall(sorted[2 * i] as number),
          to: wall(sorted[2 * i + 1] as number),
        })),
      ),
    );
  });

const intervalArb = (minLength: number, maxLength: number) =>
  fc.record({ at: fc.integer({ min: -1440, max: 4 * 1440 }), length: fc.integer({ min: minLength, max: maxLength }) });

const scenarioArb = (maxRangeMinutes: number) =>
  fc.record({
    timeZone: fc.constantFrom(...ZONES),
    weekly: weeklyArb,
    slot: fc.integer({ min: 10, max: 90 }),
    step: fc.option(fc.oneof(fc.integer({ min: 1, max: 120 }), fc.constantFrom(5, 15, 30, 60)), { nil: undefined }),
    bufferBefore: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }),
    bufferAfter: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }),
    notice: fc.option(
      fc.oneof(
        fc.integer({ min: 0, max: 24 * 60 }),
        fc.integer({ min: 0, max: 8 }).map((q) => q * 15),
      ),
      {
        nil: undefined,
      },
    ),
    horizon: fc.option(fc.constantFrom(0, 1, 2, 3, 30, 365), { nil: undefined, freq: 2 }),
    // Half the ranges start near a day on which the zone changes its clocks.
    rangeStart: fc.oneof(
      {
        weight: 2,
        arbitrary: fc.record({ transition: fc.nat(1), before: fc.integer({ min: -180, max: 1440 + 120 }) }),
      },
      { weight: 1, arbitrary: fc.record({ minute: fc.integer({ min: 0, max: YEAR_MINUTES - 3 * 1440 }) }) },
    ),
    rangeMinutes: fc.oneof(
      { weight: 2, arbitrary: fc.constant(maxRangeMinutes) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: maxRangeMinutes }) },
    ),
    // Mostly near the range (often on a quarter hour, so a start can equal the notice or horizon edge).
    now: fc.oneof(
      { weight: 3, arbitrary: fc.record({ near: fc.integer({ min: -2 * 1440, max: 360 }) }) },
      { weight: 2, arbitrary: fc.record({ near: fc.integer({ min: -2 * 96, max: 24 }).map((q) => q * 15) }) },
      { weight: 1, arbitrary: fc.record({ minute: fc.integer({ min: 0, max: YEAR_MINUTES }) }) },
    ),
    timeOff: fc.array(intervalArb(1, 600), { maxLength: 3 }),
    busy: fc.array(intervalArb(5, 120), { maxLength: 6 }),
  });

type Scenario = ReturnType<typeof scenarioArb> extends fc.Arbitrary<infer T> ? T : never;

function toInput(s: Scenario): AvailabilityInput {
  const transitions = TRANSITION_DAYS.get(s.timeZone) ?? [];
  const from =
    'transition' in s.rangeStart && transitions.length > 0
      ? (transitions[s.rangeStart.transition % transitions.length] as number) - s.rangeStart.before * MINUTE
      : YEAR_START + ('minute' in s.rangeStart ? s.rangeStart.minute : s.rangeStart.before + 100 * 1440) * MINUTE;
  const aligned = Math.floor(from / MINUTE) * MINUTE;
  const to = aligned + s.rangeMinutes * MINUTE;
  const longest = Math.max(...s.weekly.map((w) => minutes(w.to) - minutes(w.from)));
  const interval = ({ at, length }: { at: number; length: number }) => ({
    start: new Date(aligned + at * MINUTE),
    end: new Date(aligned + (at + length) * MINUTE),
  });
  return {
    rules: {
      timeZone: s.timeZone,
      weekly: s.weekly,
      slotMinutes: Math.min(s.slot, longest),
      stepMinutes: s.step,
      bufferBeforeMinutes: s.bufferBefore,
      bufferAfterMinutes: s.bufferAfter,
      minNoticeMinutes: s.notice,
      horizonDays: s.horizon,
      fee: { amount: 4500, currency: 'usd' },
    },
    timeOff: s.timeOff.map(interval),
    busy: s.busy.map(interval),
    range: { from: new Date(aligned), to: new Date(to) },
    now: new Date('near' in s.now ? aligned + s.now.near * MINUTE : YEAR_START + s.now.minute * MINUTE),
  };
}

const property = (maxRangeMinutes: number, check: (input: AvailabilityInput, slots: AvailableSlot[]) => void) =>
  fc.assert(
    fc.property(scenarioArb(maxRangeMinutes), (scenario) => {
      const input = toInput(scenario);
      check(input, expandAvailability(input));
    }),
    RUNS,
  );

describe('expandAvailability properties', () => {
  it('(a) puts every slot in a weekly window of its local date, inside the range, after the notice and within the horizon', () => {
    property(3 * 1440, (input, slots) => {
      const windows = hulls(input);
      const now = input.now.getTime();
      const misplaced = slots.filter((slot) => {
        const s = slot.start.getTime();
        const e = slot.end.getTime();
        const inWindow = windows.some(
          (w) => w.start <= s && e <= w.end && local(s, input.rules.timeZone).day === w.day,
        );
        const inRange = s >= input.range.from.getTime() && s < input.range.to.getTime();
        const noticed = s >= now + (input.rules.minNoticeMinutes ?? 0) * MINUTE;
        const inHorizon = s <= now + (input.rules.horizonDays ?? 365) * DAY;
        return !(inWindow && inRange && noticed && inHorizon);
      });
      expect(misplaced).toEqual([]);
    });
  });

  it('(b) never offers a slot whose buffers touch busy time, nor a slot overlapping time off', () => {
    property(3 * 1440, (input, slots) => {
      const before = (input.rules.bufferBeforeMinutes ?? 0) * MINUTE;
      const after = (input.rules.bufferAfterMinutes ?? 0) * MINUTE;
      const clashing = slots.filter((slot) => {
        const s = slot.start.getTime();
        const e = slot.end.getTime();
        return (
          input.busy.some((b) =>
            overlaps(s - before, e + after, b.start.getTime() - before, b.end.getTime() + after),
          ) || input.timeOff.some((o) => overlaps(s, e, o.start.getTime(), o.end.getTime()))
        );
      });
      expect(clashing).toEqual([]);
    });
  });

  it('(c) returns slots sorted by strictly increasing start, each exactly slotMinutes long, with zone and fee', () => {
    property(3 * 1440, (input, slots) => {
      const wrong = slots.filter(
        (slot, i) =>
          slot.end.getTime() - slot.start.getTime() !== input.rules.slotMinutes * MINUTE ||
          slot.timeZone !== input.rules.timeZone ||
          slot.fee.amount !== input.rules.fee.amount ||
          slot.fee.currency !== input.rules.fee.currency ||
          (i > 0 && slot.start.getTime() <= (slots[i - 1] as AvailableSlot).start.getTime()),
      );
      expect(wrong).toEqual([]);
    });
  });

  it('(d) agrees with a brute-force scan of every minute of a two-day range', () => {
    const seen = { withSlots: 0, clockChange: 0, clockChangeInWindow: 0 };
    property(2 * 1440, (input, slots) => {
      expect(slots.map((s) => s.start.getTime())).toEqual(bruteForce(input));
      const { from, to } = input.range;
      const zone = input.rules.timeZone;
      if (slots.length > 0) seen.withSlots++;
      if (offsetAt(from.getTime(), zone) !== offsetAt(to.getTime(), zone)) {
        seen.clockChange++;
        if (hulls(input).some((w) => offsetAt(w.start, zone) !== offsetAt(w.end, zone))) seen.clockChangeInWindow++;
      }
    });
    // The generators reach the cases that matter: slots at all, and windows across a clock change.
    expect(seen.withSlots).toBeGreaterThan(90);
    expect(seen.clockChangeInWindow).toBeGreaterThan(20);
  });

  it('(e) is bookable: booking a slot removes exactly the slots that would clash with it, buffers included', () => {
    property(2 * 1440, (input, slots) => {
      const before = (input.rules.bufferBeforeMinutes ?? 0) * MINUTE;
      const after = (input.rules.bufferAfterMinutes ?? 0) * MINUTE;
      // A few slots per run keep the cost down: the first, the last and one in the middle.
      const picks = [...new Set([slots[0], slots[Math.floor(slots.length / 2)], slots[slots.length - 1]])];
      for (const booked of picks) {
        if (!booked) continue;
        const again = expandAvailability({ ...input, busy: [...input.busy, { start: booked.start, end: booked.end }] });
        const clashes = (slot: AvailableSlot) =>
          overlaps(
            slot.start.getTime() - before,
            slot.end.getTime() + after,
            booked.start.getTime() - before,
            booked.end.getTime() + after,
          );
        expect(again.some(clashes)).toBe(false);
        expect(again.map((s) => s.start.getTime())).toEqual(
          slots.filter((s) => !clashes(s)).map((s) => s.start.getTime()),
        );
      }
    });
  });
});
