import { MemoryStore, type Schedule } from 'careslot';
import { ManualClock } from 'careslot/testing';
import { patientDirectory, patientIds, pool, seedSlots, START, testRig } from '/work/main/bench/fixtures.js';
const N = Number(process.argv[2] ?? 10000);
async function run(n: number) {
  const clock = new ManualClock(START);
  const store = new MemoryStore({ clock });
  const slots = await seedSlots(store, n, { from: clock.now() });
  const ids = patientIds(n);
  const rig = testRig(store, clock, patientDirectory(ids), { holdMinutes: 15 });
  const t = performance.now();
  await pool(n, 8, async (i) => {
    const { booking } = await rig.engine.book({ patientId: ids[i] as string, scheduleId: (slots[i] as Schedule).id });
    const event = rig.gateway.pay(booking.checkoutSessionId ?? '');
    await rig.engine.handlePaymentEvent(event);
  });
  const ms = performance.now() - t;
  console.log(`${n}: ${((ms * 1000) / n).toFixed(0)} µs/booking, failures ${rig.effectFailures.length}`);
}
await run(2000);
await run(N);
await run(N);
