// expandAvailability on daylight-saving days, with buffers, notice, horizon, time off and busy time, and its input errors.
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import {
  type AvailabilityInput,
  type AvailabilityRules,
  expandAvailability,
  type WeeklyWindow,
} from '../../src/domain/availability.js';
import { isBookingError } from '../../src/domain/errors.js';

const EVERY_DAY: WeeklyWindow['days'] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const FEE = { amount: 5000, currency: 'eur' };
const at = (iso: string) => new Date(iso);
const NOW = at('2030-01-01T00:00:00Z');

function rules(overrides: Partial<AvailabilityRules> = {}): AvailabilityRules {
  return {
    timeZone: 'UTC',
    weekly: [{ days: EVERY_DAY, from: '09:00', to: '12:00' }],
    slotMinutes: 30,
    fee: FEE,
    ...overrides,
  };
}

function input(overrides: Partial<AvailabilityInput> = {}): AvailabilityInput {
  return {
    rules: rules(),
    timeOff: [],
    busy: [],
    range: { from: at('2030-05-06T00:00:00Z'), to: at('2030-05-07T00:00:00Z') },
    now: NOW,
    ...overrides,
  };
}

const starts = (i: AvailabilityInput) => expandAvailability(i).map((s) => s.start.toISOString());
const iso = (...times: string[]) => times.map((t) => at(t).toISOString());

/** The local dates in 2030 on which `zone` changes its offset, found by scanning with luxon. */
function transitions(zone: string): { date: string; change: number }[] {
  const found: { date: string; change: number }[] = [];
  for (
    let day = DateTime.fromObject({ year: 2030, month: 1, day: 1 }, { zone });
    day.year === 2030;
    day = day.plus({ days: 1 })
  ) {
    const change = day.endOf('day').offset - day.startOf('day').offset;
    if (change !== 0) found.push({ date: day.toISODate() as string, change });
  }
  return found;
}

/** Every local date in a zone's transition day, for one window, as slots of `slot` minutes. */
function onDay(zone: string, date: string, from: string, to: string, slotMinutes = 30): string[] {
  const local = DateTime.fromISO(date, { zone });
  return starts(
    input({
      rules: rules({ timeZone: zone, weekly: [{ days: EVERY_DAY, from, to }], slotMinutes }),
      range: { from: local.toJSDate(), to: local.plus({ days: 1 }).toJSDate() },
    }),
  );
}

describe('expandAvailability on daylight-saving days', () => {
  it('finds the 2030 transitions the table below is written for', () => {
    expect(transitions('Europe/Berlin')).toEqual([
      { date: '2030-03-31', change: 60 },
      { date: '2030-10-27', change: -60 },
    ]);
    expect(transitions('America/New_York')).toEqual([
      { date: '2030-03-10', change: 60 },
      { date: '2030-11-03', change: -60 },
    ]);
    expect(transitions('Australia/Sydney')).toEqual([
      { date: '2030-04-07', change: -60 },
      { date: '2030-10-06', change: 60 },
    ]);
    expect(transitions('Australia/Lord_Howe')).toEqual([
      { date: '2030-04-07', change: -30 },
      { date: '2030-10-06', change: 30 },
    ]);
  });

  // [zone, date, kind, window from, window to, expected starts (30-minute slots) as local ISO times with offsets]
  const table: [string, string, string, string, string, string[]][] = [
    // Europe/Berlin: gap 02:00–03:00 on 31 March, 02:00–03:00 repeated on 27 October.
    ['Europe/Berlin', '2030-03-31', 'gap', '00:30', '01:30', ['2030-03-31T00:30+01:00', '2030-03-31T01:00+01:00']],
    ['Europe/Berlin', '2030-03-31', 'gap', '02:30', '03:30', ['2030-03-31T03:00+02:00']],
    ['Europe/Berlin', '2030-03-31', 'gap', '13:00', '14:00', ['2030-03-31T13:00+02:00', '2030-03-31T13:30+02:00']],
    [
      'Europe/Berlin',
      '2030-03-31',
      'gap',
      '01:00',
      '04:00',
      ['2030-03-31T01:00+01:00', '2030-03-31T01:30+01:00', '2030-03-31T03:00+02:00', '2030-03-31T03:30+02:00'],
    ],
    ['Europe/Berlin', '2030-03-31', 'gap', '01:30', '02:30', ['2030-03-31T01:30+01:00']],
    ['Europe/Berlin', '2030-10-27', 'overlap', '00:30', '01:30', ['2030-10-27T00:30+02:00', '2030-10-27T01:00+02:00']],
    [
      'Europe/Berlin',
      '2030-10-27',
      'overlap',
      '02:30',
      '03:30',
      ['2030-10-27T02:30+02:00', '2030-10-27T02:00+01:00', '2030-10-27T02:30+01:00', '2030-10-27T03:00+01:00'],
    ],
    ['Europe/Berlin', '2030-10-27', 'overlap', '13:00', '14:00', ['2030-10-27T13:00+01:00', '2030-10-27T13:30+01:00']],
    [
      'Europe/Berlin',
      '2030-10-27',
      'overlap',
      '01:30',
      '02:30',
      ['2030-10-27T01:30+02:00', '2030-10-27T02:00+02:00', '2030-10-27T02:30+02:00', '2030-10-27T02:00+01:00'],
    ],
    // Ending where the repeat begins ends at the first 02:00; starting there runs through both 02:00–03:00.
    ['Europe/Berlin', '2030-10-27', 'overlap', '01:00', '02:00', ['2030-10-27T01:00+02:00', '2030-10-27T01:30+02:00']],
    [
      'Europe/Berlin',
      '2030-10-27',
      'overlap',
      '02:00',
      '03:00',
      ['2030-10-27T02:00+02:00', '2030-10-27T02:30+02:00', '2030-10-27T02:00+01:00', '2030-10-27T02:30+01:00'],
    ],
    [
      'America/New_York',
      '2030-11-03',
      'overlap',
      '00:00',
      '01:00',
      ['2030-11-03T00:00-04:00', '2030-11-03T00:30-04:00'],
    ],
    // America/New_York: gap 02:00–03:00 on 10 March, 01:00–02:00 repeated on 3 November.
    ['America/New_York', '2030-03-10', 'gap', '00:30', '01:30', ['2030-03-10T00:30-05:00', '2030-03-10T01:00-05:00']],
    ['America/New_York', '2030-03-10', 'gap', '02:30', '03:30', ['2030-03-10T03:00-04:00']],
    ['America/New_York', '2030-03-10', 'gap', '13:00', '14:00', ['2030-03-10T13:00-04:00', '2030-03-10T13:30-04:00']],
    [
      'America/New_York',
      '2030-11-03',
      'overlap',
      '00:30',
      '01:30',
      ['2030-11-03T00:30-04:00', '2030-11-03T01:00-04:00', '2030-11-03T01:30-04:00', '2030-11-03T01:00-05:00'],
    ],
    [
      'America/New_York',
      '2030-11-03',
      'overlap',
      '02:30',
      '03:30',
      ['2030-11-03T02:30-05:00', '2030-11-03T03:00-05:00'],
    ],
    [
      'America/New_York',
      '2030-11-03',
      'overlap',
      '13:00',
      '14:00',
      ['2030-11-03T13:00-05:00', '2030-11-03T13:30-05:00'],
    ],
    // Australia/Sydney: 02:00–03:00 repeated on 7 April, gap 02:00–03:00 on 6 October.
    [
      'Australia/Sydney',
      '2030-04-07',
      'overlap',
      '00:30',
      '01:30',
      ['2030-04-07T00:30+11:00', '2030-04-07T01:00+11:00'],
    ],
    [
      'Australia/Sydney',
      '2030-04-07',
      'overlap',
      '02:30',
      '03:30',
      ['2030-04-07T02:30+11:00', '2030-04-07T02:00+10:00', '2030-04-07T02:30+10:00', '2030-04-07T03:00+10:00'],
    ],
    [
      'Australia/Sydney',
      '2030-04-07',
      'overlap',
      '13:00',
      '14:00',
      ['2030-04-07T13:00+10:00', '2030-04-07T13:30+10:00'],
    ],
    ['Australia/Sydney', '2030-10-06', 'gap', '00:30', '01:30', ['2030-10-06T00:30+10:00', '2030-10-06T01:00+10:00']],
    ['Australia/Sydney', '2030-10-06', 'gap', '02:30', '03:30', ['2030-10-06T03:00+11:00']],
    ['Australia/Sydney', '2030-10-06', 'gap', '13:00', '14:00', ['2030-10-06T13:00+11:00', '2030-10-06T13:30+11:00']],
    // Australia/Lord_Howe: half-hour shifts; 01:30–02:00 repeated on 7 April, gap 02:00–02:30 on 6 October.
    [
      'Australia/Lord_Howe',
      '2030-04-07',
      'overlap',
      '00:30',
      '01:30',
      ['2030-04-07T00:30+11:00', '2030-04-07T01:00+11:00'],
    ],
    [
      'Australia/Lord_Howe',
      '2030-04-07',
      'overlap',
      '01:00',
      '02:30',
      ['2030-04-07T01:00+11:00', '2030-04-07T01:30+11:00', '2030-04-07T01:30+10:30', '2030-04-07T02:00+10:30'],
    ],
    [
      'Australia/Lord_Howe',
      '2030-04-07',
      'overlap',
      '02:30',
      '03:30',
      ['2030-04-07T02:30+10:30', '2030-04-07T03:00+10:30'],
    ],
    [
      'Australia/Lord_Howe',
      '2030-04-07',
      'overlap',
      '13:00',
      '14:00',
      ['2030-04-07T13:00+10:30', '2030-04-07T13:30+10:30'],
    ],
    [
      'Australia/Lord_Howe',
      '2030-10-06',
      'gap',
      '00:30',
      '01:30',
      ['2030-10-06T00:30+10:30', '2030-10-06T01:00+10:30'],
    ],
    [
      'Australia/Lord_Howe',
      '2030-10-06',
      'gap',
      '01:30',
      '03:00',
      ['2030-10-06T01:30+10:30', '2030-10-06T02:30+11:00'],
    ],
    [
      'Australia/Lord_Howe',
      '2030-10-06',
      'gap',
      '02:30',
      '03:30',
      ['2030-10-06T02:30+11:00', '2030-10-06T03:00+11:00'],
    ],
    ['Australia/Lord_Howe', '2030-10-06', 'gap', '02:15', '03:00', ['2030-10-06T02:30+11:00']],
    [
      'Australia/Lord_Howe',
      '2030-10-06',
      'gap',
      '13:00',
      '14:00',
      ['2030-10-06T13:00+11:00', '2030-10-06T13:30+11:00'],
    ],
  ];

  for (const [zone, date, kind, from, to, expected] of table) {
    it(`${zone} ${date} (${kind}): ${from}–${to} offers ${expected.length} slot(s) at the real instants`, () => {
      expect(onDay(zone, date, from, to)).toEqual(iso(...expected));
    });
  }

  it('shortens a window across a spring-forward gap and lengthens one across a fall-back overlap, by the shift', () => {
    for (const zone of ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Australia/Lord_Howe']) {
      for (const { date, change } of transitions(zone)) {
        // 00:00–06:00 holds every 2030 transition of these zones: 360 local minutes minus the shift.
        const slots = onDay(zone, date, '00:00', '06:00', 15);
        expect(slots.length * 15, `${zone} ${date}`).toBe(360 - change);
        const first = DateTime.fromISO(slots[0] as string, { zone });
        const last = DateTime.fromISO(slots[slots.length - 1] as string, { zone });
        expect(first.toFormat('yyyy-MM-dd HH:mm')).toBe(`${date} 00:00`);
        expect(last.toFormat('yyyy-MM-dd HH:mm')).toBe(`${date} 05:45`);
      }
    }
  });

  it('keeps the slot length in real minutes when a slot spans the gap or the overlap', () => {
    const slots = expandAvailability(
      input({
        rules: rules({
          timeZone: 'Europe/Berlin',
          weekly: [{ days: ['sun'], from: '01:30', to: '04:00' }],
          slotMinutes: 60,
        }),
        range: { from: at('2030-03-30T12:00:00Z'), to: at('2030-04-01T00:00:00Z') },
      }),
    );
    // 01:30 CET + 60 min is 03:30 CEST; the window holds 90 real minutes, so one slot.
    expect(slots.map((s) => [s.start.toISOString(), s.end.toISOString()])).toEqual([
      [at('2030-03-31T01:30+01:00').toISOString(), at('2030-03-31T03:30+02:00').toISOString()],
    ]);
  });

  it('returns a start once when two windows meeting inside the repeated hour both offer it', () => {
    const local = DateTime.fromISO('2030-10-27', { zone: 'Europe/Berlin' });
    const got = starts(
      input({
        rules: rules({
          timeZone: 'Europe/Berlin',
          weekly: [
            { days: ['sun'], from: '01:00', to: '02:30' },
            { days: ['sun'], from: '02:30', to: '04:00' },
          ],
        }),
        range: { from: local.toJSDate(), to: local.plus({ days: 1 }).toJSDate() },
      }),
    );
    expect(got).toEqual(
      iso(
        '2030-10-27T01:00+02:00',
        '2030-10-27T01:30+02:00',
        '2030-10-27T02:00+02:00',
        '2030-10-27T02:30+02:00',
        '2030-10-27T02:00+01:00',
        '2030-10-27T02:30+01:00',
        '2030-10-27T03:00+01:00',
        '2030-10-27T03:30+01:00',
      ),
    );
  });

  it('ends a 24:00 window at the next local midnight, also on a 25-hour day', () => {
    const slots = onDay('Europe/Berlin', '2030-10-27', '00:00', '24:00', 60);
    expect(slots).toHaveLength(25);
    expect(slots[24]).toBe(at('2030-10-27T23:00+01:00').toISOString());
  });
});

describe('expandAvailability rules', () => {
  it('steps from the window start and keeps only slots that end inside the window (11:15 + 45 ends at 12:00)', () => {
    expect(starts(input({ rules: rules({ slotMinutes: 45 }) }))).toEqual(
      iso('2030-05-06T09:00Z', '2030-05-06T09:45Z', '2030-05-06T10:30Z', '2030-05-06T11:15Z'),
    );
  });

  it('offers overlapping candidates when the step is shorter than the slot', () => {
    const got = starts(
      input({
        rules: rules({ weekly: [{ days: ['mon'], from: '09:00', to: '10:30' }], slotMinutes: 60, stepMinutes: 15 }),
      }),
    );
    expect(got).toEqual(iso('2030-05-06T09:00Z', '2030-05-06T09:15Z', '2030-05-06T09:30Z'));
  });

  it('leaves gaps when the step is longer than the slot', () => {
    const got = starts(input({ rules: rules({ slotMinutes: 30, stepMinutes: 45 }) }));
    expect(got).toEqual(iso('2030-05-06T09:00Z', '2030-05-06T09:45Z', '2030-05-06T10:30Z', '2030-05-06T11:15Z'));
  });

  it('keeps buffers before and after free of busy time; touching a buffer edge is allowed', () => {
    const got = starts(
      input({
        rules: rules({ bufferBeforeMinutes: 15, bufferAfterMinutes: 15 }),
        busy: [{ start: at('2030-05-06T10:00Z'), end: at('2030-05-06T10:30Z') }],
      }),
    );
    // 09:00 + 30 + 15 ends at 09:45; 11:00 - 15 starts at 10:45.
    expect(got).toEqual(iso('2030-05-06T09:00Z', '2030-05-06T11:00Z', '2030-05-06T11:30Z'));
  });

  it('lets a slot end when time off begins: buffers separate appointments, not absences', () => {
    const got = starts(
      input({
        rules: rules({ bufferBeforeMinutes: 15, bufferAfterMinutes: 15 }),
        timeOff: [{ start: at('2030-05-06T10:00Z'), end: at('2030-05-06T10:30Z') }],
      }),
    );
    expect(got).toEqual(
      iso('2030-05-06T09:00Z', '2030-05-06T09:30Z', '2030-05-06T10:30Z', '2030-05-06T11:00Z', '2030-05-06T11:30Z'),
    );
  });

  it('drops every slot time off touches, including a partial overlap and a day-long absence', () => {
    const got = starts(
      input({
        range: { from: at('2030-05-06T00:00Z'), to: at('2030-05-08T00:00Z') },
        timeOff: [
          { start: at('2030-05-07T00:00Z'), end: at('2030-05-08T00:00Z') },
          { start: at('2030-05-06T09:10Z'), end: at('2030-05-06T09:40Z') },
        ],
      }),
    );
    expect(got).toEqual(iso('2030-05-06T10:00Z', '2030-05-06T10:30Z', '2030-05-06T11:00Z', '2030-05-06T11:30Z'));
  });

  it('reads busy intervals in any order, overlapping or touching each other', () => {
    const got = starts(
      input({
        busy: [
          { start: at('2030-05-06T11:30Z'), end: at('2030-05-06T12:00Z') },
          { start: at('2030-05-06T09:40Z'), end: at('2030-05-06T10:10Z') },
          { start: at('2030-05-06T09:30Z'), end: at('2030-05-06T09:50Z') },
          { start: at('2030-05-06T10:10Z'), end: at('2030-05-06T10:20Z') },
        ],
      }),
    );
    expect(got).toEqual(iso('2030-05-06T09:00Z', '2030-05-06T10:30Z', '2030-05-06T11:00Z'));
  });

  it('needs minNotice minutes before a start: a start exactly at now + notice counts', () => {
    const got = starts(input({ rules: rules({ minNoticeMinutes: 60 }), now: at('2030-05-06T09:30Z') }));
    expect(got).toEqual(iso('2030-05-06T10:30Z', '2030-05-06T11:00Z', '2030-05-06T11:30Z'));
    expect(starts(input({ now: at('2030-05-06T10:01Z') }))).toEqual(
      iso('2030-05-06T10:30Z', '2030-05-06T11:00Z', '2030-05-06T11:30Z'),
    );
  });

  it('offers nothing past the horizon: a start exactly horizonDays × 24 h after now counts', () => {
    const got = starts(
      input({
        rules: rules({ horizonDays: 1 }),
        now: at('2030-05-05T10:00Z'),
        range: { from: at('2030-05-05T00:00Z'), to: at('2030-05-07T00:00Z') },
      }),
    );
    expect(got).toEqual(
      iso(
        '2030-05-05T10:00Z',
        '2030-05-05T10:30Z',
        '2030-05-05T11:00Z',
        '2030-05-05T11:30Z',
        '2030-05-06T09:00Z',
        '2030-05-06T09:30Z',
        '2030-05-06T10:00Z',
      ),
    );
    expect(starts(input({ rules: rules({ horizonDays: 0 }), now: at('2030-05-06T09:00Z') }))).toEqual(
      iso('2030-05-06T09:00Z'),
    );
  });

  it('returns only starts in [range.from, range.to), even when the slot began earlier or ends later', () => {
    const got = starts(input({ range: { from: at('2030-05-06T09:15Z'), to: at('2030-05-06T11:00Z') } }));
    expect(got).toEqual(iso('2030-05-06T09:30Z', '2030-05-06T10:00Z', '2030-05-06T10:30Z'));
  });

  it('reads weekdays and windows in the doctor zone, including a window on the date before range.from in UTC', () => {
    // Monday 00:30 in Kolkata is Sunday 19:00 UTC.
    const got = starts(
      input({
        rules: rules({ timeZone: 'Asia/Kolkata', weekly: [{ days: ['mon'], from: '00:30', to: '01:30' }] }),
        range: { from: at('2030-05-05T00:00Z'), to: at('2030-05-06T00:00Z') },
      }),
    );
    expect(got).toEqual(iso('2030-05-05T19:00Z', '2030-05-05T19:30Z'));
  });

  it('combines several windows and days, sorted by start, each with the zone and its own copy of the fee', () => {
    const slots = expandAvailability(
      input({
        rules: rules({
          timeZone: 'America/New_York',
          weekly: [
            { days: ['tue'], from: '14:00', to: '15:00' },
            { days: ['mon', 'tue'], from: '08:00', to: '09:00' },
            { days: ['mon'], from: '09:00', to: '09:30' },
          ],
        }),
        range: { from: at('2030-05-06T00:00Z'), to: at('2030-05-08T00:00Z') },
      }),
    );
    expect(slots.map((s) => DateTime.fromJSDate(s.start, { zone: 'America/New_York' }).toFormat('ccc HH:mm'))).toEqual([
      'Mon 08:00',
      'Mon 08:30',
      'Mon 09:00',
      'Tue 08:00',
      'Tue 08:30',
      'Tue 14:00',
      'Tue 14:30',
    ]);
    for (const slot of slots) {
      expect(slot.end.getTime() - slot.start.getTime()).toBe(30 * 60_000);
      expect(slot.timeZone).toBe('America/New_York');
      expect(slot.fee).toEqual(FEE);
      expect(slot.fee).not.toBe(FEE);
    }
  });

  it('ignores windows shorter than the slot when another window fits it', () => {
    const got = starts(
      input({
        rules: rules({
          weekly: [
            { days: ['mon'], from: '08:00', to: '08:20' },
            { days: ['mon'], from: '09:00', to: '09:30' },
          ],
        }),
      }),
    );
    expect(got).toEqual(iso('2030-05-06T09:00Z'));
  });

  it('visits only the dates of the range, however far `now` and the history lie', () => {
    const busy = Array.from({ length: 20_000 }, (_, i) => ({
      start: new Date(Date.UTC(2000, 0, 1) + i * 3_600_000),
      end: new Date(Date.UTC(2000, 0, 1) + i * 3_600_000 + 1_800_000),
    }));
    const got = starts(input({ now: at('1990-01-01T00:00Z'), busy, rules: rules({ horizonDays: 365 }) }));
    // The horizon counts from now: 1990 + 365 days is long before May 2030.
    expect(got).toEqual([]);
    expect(starts(input({ busy }))).toHaveLength(6);
  });
});

describe('expandAvailability input errors', () => {
  function expectInvalid(make: () => AvailabilityInput, field: string): void {
    let thrown: unknown;
    try {
      expandAvailability(make());
    } catch (error) {
      thrown = error;
    }
    expect(isBookingError(thrown), `expected a BookingError for ${field}`).toBe(true);
    const error = thrown as { code: string; message: string; details?: { field?: string } };
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain(field);
    expect(error.details?.field).toBe(field);
  }

  const window = (from: string, to: string, days: WeeklyWindow['days'] = ['mon']) => ({ days, from, to });
  const cases: [string, () => AvailabilityInput, string][] = [
    ['an unknown zone', () => input({ rules: rules({ timeZone: 'Mars/Olympus_Mons' }) }), 'rules.timeZone'],
    ['an empty zone', () => input({ rules: rules({ timeZone: '' }) }), 'rules.timeZone'],
    [
      'a from without a leading zero',
      () => input({ rules: rules({ weekly: [window('9:00', '12:00')] }) }),
      'rules.weekly[0].from',
    ],
    ['a from of 24:00', () => input({ rules: rules({ weekly: [window('24:00', '24:00')] }) }), 'rules.weekly[0].from'],
    ['minutes past 59', () => input({ rules: rules({ weekly: [window('09:00', '12:60')] }) }), 'rules.weekly[0].to'],
    ['hours past 24', () => input({ rules: rules({ weekly: [window('09:00', '25:00')] }) }), 'rules.weekly[0].to'],
    ['seconds', () => input({ rules: rules({ weekly: [window('09:00:00', '12:00')] }) }), 'rules.weekly[0].from'],
    ['to equal to from', () => input({ rules: rules({ weekly: [window('09:00', '09:00')] }) }), 'rules.weekly[0].to'],
    ['to before from', () => input({ rules: rules({ weekly: [window('12:00', '09:00')] }) }), 'rules.weekly[0].to'],
    [
      'overlapping windows on one day',
      () =>
        input({
          rules: rules({ weekly: [window('09:00', '12:00', ['mon', 'tue']), window('11:30', '13:00', ['tue'])] }),
        }),
      'rules.weekly[1]',
    ],
    [
      'an unknown weekday',
      () => input({ rules: rules({ weekly: [window('09:00', '12:00', ['monday' as 'mon'])] }) }),
      'rules.weekly[0].days',
    ],
    ['no weekdays', () => input({ rules: rules({ weekly: [window('09:00', '12:00', [])] }) }), 'rules.weekly[0].days'],
    ['no windows', () => input({ rules: rules({ weekly: [] }) }), 'rules.weekly'],
    ['a slot of 0 minutes', () => input({ rules: rules({ slotMinutes: 0 }) }), 'rules.slotMinutes'],
    ['a negative slot', () => input({ rules: rules({ slotMinutes: -30 }) }), 'rules.slotMinutes'],
    ['a fractional slot', () => input({ rules: rules({ slotMinutes: 22.5 }) }), 'rules.slotMinutes'],
    ['a slot longer than every window', () => input({ rules: rules({ slotMinutes: 181 }) }), 'rules.slotMinutes'],
    ['a step of 0', () => input({ rules: rules({ stepMinutes: 0 }) }), 'rules.stepMinutes'],
    ['a negative step', () => input({ rules: rules({ stepMinutes: -5 }) }), 'rules.stepMinutes'],
    [
      'a negative buffer before',
      () => input({ rules: rules({ bufferBeforeMinutes: -1 }) }),
      'rules.bufferBeforeMinutes',
    ],
    ['a negative buffer after', () => input({ rules: rules({ bufferAfterMinutes: -1 }) }), 'rules.bufferAfterMinutes'],
    ['a negative notice', () => input({ rules: rules({ minNoticeMinutes: -10 }) }), 'rules.minNoticeMinutes'],
    ['a horizon beyond 365 days', () => input({ rules: rules({ horizonDays: 366 }) }), 'rules.horizonDays'],
    ['a negative horizon', () => input({ rules: rules({ horizonDays: -1 }) }), 'rules.horizonDays'],
    ['a fractional fee', () => input({ rules: rules({ fee: { amount: 10.5, currency: 'eur' } }) }), 'rules.fee.amount'],
    [
      'an upper-case currency',
      () => input({ rules: rules({ fee: { amount: 100, currency: 'EUR' } }) }),
      'rules.fee.currency',
    ],
    [
      'range.to equal to range.from',
      () => input({ range: { from: at('2030-05-06T00:00Z'), to: at('2030-05-06T00:00Z') } }),
      'range.to',
    ],
    [
      'range.to before range.from',
      () => input({ range: { from: at('2030-05-06T00:00Z'), to: at('2030-05-05T00:00Z') } }),
      'range.to',
    ],
    [
      'a range over 62 days',
      () => input({ range: { from: at('2030-01-01T00:00Z'), to: at('2030-03-04T00:00:01Z') } }),
      'range',
    ],
    [
      'an invalid range.from',
      () => input({ range: { from: at('not a date'), to: at('2030-05-06T00:00Z') } }),
      'range.from',
    ],
    ['an invalid range.to', () => input({ range: { from: at('2030-05-06T00:00Z'), to: at('') } }), 'range.to'],
    ['an invalid now', () => input({ now: new Date(Number.NaN) }), 'now'],
    ['a string for now', () => input({ now: '2030-05-06T00:00Z' as unknown as Date }), 'now'],
    [
      'an invalid busy start',
      () => input({ busy: [{ start: at('x'), end: at('2030-05-06T10:00Z') }] }),
      'busy[0].start',
    ],
    [
      'time off that ends before it starts',
      () =>
        input({
          timeOff: [
            { start: at('2030-05-06T10:00Z'), end: at('2030-05-06T11:00Z') },
            { start: at('2030-05-06T10:00Z'), end: at('2030-05-06T09:00Z') },
          ],
        }),
      'timeOff[1].end',
    ],
    [
      'an invalid time-off end',
      () => input({ timeOff: [{ start: at('2030-05-06T10:00Z'), end: at('nope') }] }),
      'timeOff[0].end',
    ],
  ];

  for (const [name, make, field] of cases) {
    it(`rejects ${name} as INVALID_INPUT naming ${field}`, () => expectInvalid(make, field));
  }

  it('accepts touching windows on one day, the same hours on different days, 24:00 and a 62-day range', () => {
    expect(() =>
      expandAvailability(
        input({
          rules: rules({
            weekly: [
              window('09:00', '12:00', ['mon']),
              window('12:00', '24:00', ['mon']),
              window('10:00', '11:00', ['tue']),
            ],
          }),
          range: { from: at('2030-01-01T00:00Z'), to: at('2030-03-04T00:00Z') },
        }),
      ),
    ).not.toThrow();
  });
});
