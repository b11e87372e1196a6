// Next-day copies across daylight-saving transitions: same wall-clock start where it exists, same duration, back the day after.
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { nextDayCopy, wallClockOf } from '../../src/index.js';

const ZONES = ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Australia/Lord_Howe'];
// 00:30, 02:30 and 13:00 as asked, plus the times that fall in each zone's gap or overlap.
const TIMES = ['00:30', '01:30', '01:45', '02:15', '02:30', '13:00'];

/** The local dates in 2030 on which `zone` changes its offset, with the change in minutes. */
function transitions(zone: string): { date: DateTime; change: number }[] {
  const found: { date: DateTime; change: number }[] = [];
  for (
    let day = DateTime.fromObject({ year: 2030, month: 1, day: 1 }, { zone });
    day.year === 2030;
    day = day.plus({ days: 1 })
  ) {
    const change = day.endOf('day').offset - day.startOf('day').offset;
    if (change !== 0) found.push({ date: day.startOf('day'), change });
  }
  return found;
}

/** Every instant (to the minute) whose local date and wall clock in `zone` are `date` at `wall`, found by scanning. */
function occurrences(date: DateTime, wall: string, zone: string): number[] {
  const hits: number[] = [];
  const from = date.startOf('day').minus({ hours: 3 }).toMillis();
  for (let ms = from; ms < from + 30 * 3_600_000; ms += 60_000) {
    const local = DateTime.fromMillis(ms, { zone });
    if (local.hasSame(date, 'day') && local.toFormat('HH:mm') === wall) hits.push(ms);
  }
  return hits;
}

const plusMinutes = (wall: string, minutes: number) =>
  DateTime.fromFormat(wall, 'HH:mm').plus({ minutes }).toFormat('HH:mm');

describe('nextDayCopy across daylight-saving transitions', () => {
  it('finds a spring-forward and a fall-back transition in 2030 for every zone tested', () => {
    for (const zone of ZONES) {
      const changes = transitions(zone).map((t) => Math.sign(t.change));
      expect(changes.sort()).toEqual([-1, 1]);
    }
  });

  for (const zone of ZONES) {
    for (const { date, change } of transitions(zone)) {
      const kind = change > 0 ? 'spring-forward' : 'fall-back';
      for (const wall of TIMES) {
        it(`${zone} ${kind} (${date.toISODate()}) at ${wall}: same wall clock (or past the gap), same duration, back the day after`, () => {
          const before = date.minus({ days: 1 });
          const [start] = occurrences(before, wall, zone);
          if (start === undefined) throw new Error('the day before has no such time');
          const slot = { startTime: new Date(start), endTime: new Date(start + 60 * 60_000), timeZone: zone };
          const copy = nextDayCopy(slot, wall, slot.endTime);
          expect(copy.endTime.getTime() - copy.startTime.getTime()).toBe(60 * 60_000);
          expect(DateTime.fromJSDate(copy.startTime, { zone }).toISODate()).toBe(date.toISODate());
          const hits = occurrences(date, wall, zone);
          if (hits.length > 0) {
            // Exists (once, or twice in an overlap): that wall clock, at its first occurrence.
            expect(copy.startTime.getTime()).toBe(Math.min(...hits));
          } else {
            // In the gap: moved forward by the gap.
            expect(wallClockOf(copy.startTime, zone)).toBe(plusMinutes(wall, change));
          }
          const dayAfter = nextDayCopy({ ...copy, timeZone: zone }, wall, copy.endTime);
          expect(wallClockOf(dayAfter.startTime, zone)).toBe(wall);
          expect(dayAfter.endTime.getTime() - dayAfter.startTime.getTime()).toBe(60 * 60_000);
        });
      }
    }
  }

  it('advances start and end together when the copy is made days late', () => {
    const zone = 'Europe/Berlin';
    const slot = {
      startTime: new Date('2030-03-28T09:00:00Z'),
      endTime: new Date('2030-03-28T09:45:00Z'),
      timeZone: zone,
    };
    const copy = nextDayCopy(slot, '10:00', new Date('2030-04-02T12:00:00Z'));
    expect(copy.startTime.toISOString()).toBe('2030-04-03T08:00:00.000Z');
    expect(copy.endTime.toISOString()).toBe('2030-04-03T08:45:00.000Z');
  });
});

describe('wall clocks with seconds', () => {
  it('keeps a start that is not on a whole minute to the millisecond, a local day later', () => {
    const zone = 'Europe/Berlin';
    const start = new Date('2030-05-10T20:15:23.136Z');
    expect(wallClockOf(start, zone)).toBe('22:15:23.136');
    expect(wallClockOf(new Date('2030-05-10T20:15:00Z'), zone)).toBe('22:15');
    const copy = nextDayCopy(
      { startTime: start, endTime: new Date(start.getTime() + 1000), timeZone: zone },
      wallClockOf(start, zone),
      start,
    );
    expect(copy.startTime.getTime()).toBe(start.getTime() + 86_400_000);
  });
});
