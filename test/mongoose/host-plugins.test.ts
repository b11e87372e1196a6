// Host plugins (mongoose.plugin, connection.plugin) never reach careslot's schemas: a required path or a uniqueness validator of the host's changes nothing.
import mongoose from 'mongoose';
import { afterEach, describe, expect, it } from 'vitest';
import { availabilityRecord } from '../conformance/availability-conformance.js';
import { outboxRecord } from '../conformance/outbox-conformance.js';
import { autocommit } from '../support/autocommit.js';
import { at, newBookingOf, newSchedule } from '../support/records.js';
import { DOC, PAT2 } from './samples.js';
import { createFakeMongo } from './support/fake-mongo.js';
import { type PluginRead, requiredTenantPlugin, uniqueValidatorPlugin } from './support/host-plugins.js';

type Plugin = (schema: mongoose.Schema) => void;
const globalPlugins = (mongoose as unknown as { plugins: [Plugin, unknown][] }).plugins;
const added: Plugin[] = [];

/** `mongoose.plugin(fn)` as a host calls it at start-up, undone after the test. */
function useGlobalPlugin(plugin: Plugin): void {
  mongoose.plugin(plugin);
  added.push(plugin);
}
afterEach(() => {
  for (const plugin of added.splice(0)) {
    const i = globalPlugins.findIndex(([fn]) => fn === plugin);
    if (i >= 0) globalPlugins.splice(i, 1);
  }
});

/** Two slots, a booking of each by one patient (no idempotency key), then a cancellation and a rebooking of the first slot. */
async function bookTwiceAndRebook(fake: ReturnType<typeof createFakeMongo>) {
  const ops = autocommit(fake.store);
  const first = await ops.insertSchedule(newSchedule());
  const second = await ops.insertSchedule(newSchedule({ startTime: at(60), endTime: at(90) }));
  const a = await ops.insertBooking(newBookingOf(first));
  const b = await ops.insertBooking(newBookingOf(second));
  await ops.updateBookingIf({ id: a?.id ?? '', expectedStatus: 'pending', set: { status: 'cancelled' } });
  const again = await ops.insertBooking(newBookingOf(first, { patientId: PAT2 }));
  return [a, b, again];
}

describe('host plugins stay off careslot schemas', () => {
  it('keeps a global plugin that adds a required path off: slots and bookings are written, without the path', async () => {
    useGlobalPlugin(requiredTenantPlugin);
    const fake = createFakeMongo();
    const bookings = await bookTwiceAndRebook(fake);
    expect(bookings.every((b) => b !== null)).toBe(true);
    expect(fake.store.models.booking.schema.path('tenantId')).toBeUndefined();
    expect(fake.store.models.schedule.schema.path('fee.amount')).toBeDefined();
    // The outbox too: its records are appended without the path.
    expect(await autocommit(fake.store).appendOutbox([outboxRecord('e1')])).toBe(1);
    expect(fake.store.models.outbox.schema.path('tenantId')).toBeUndefined();
    // And availability versions and time off, nested rules included.
    const ops = autocommit(fake.store);
    expect(await ops.insertAvailability(availabilityRecord())).toMatchObject({ effectiveUntil: null });
    expect(await ops.insertTimeOff({ doctorId: DOC, start: at(0), end: at(60), reason: null })).toMatchObject({
      reason: null,
    });
    expect(fake.store.models.availability.schema.path('tenantId')).toBeUndefined();
    expect(fake.store.models.timeOff.schema.path('tenantId')).toBeUndefined();
    // The control: the same plugin does reach a host's own model on the same connection.
    const host = fake.connection.model('HostThing', new mongoose.Schema({ name: String }));
    await expect(new host({ name: 'x' }).validate()).rejects.toMatchObject({ errors: { tenantId: expect.anything() } });
  });

  it('keeps a connection plugin that adds a required path off', async () => {
    const connection = mongoose.createConnection();
    connection.plugin(requiredTenantPlugin);
    const fake = createFakeMongo({ connection });
    expect((await bookTwiceAndRebook(fake)).every((b) => b !== null)).toBe(true);
    const host = connection.model('HostThing', new mongoose.Schema({ name: String }));
    await expect(new host({ name: 'x' }).validate()).rejects.toMatchObject({ errors: { tenantId: expect.anything() } });
  });

  it("keeps mongoose-unique-validator off: a patient's second booking and a rebooked slot commit, and it sends no read outside the session", async () => {
    const reads: PluginRead[] = [];
    useGlobalPlugin(uniqueValidatorPlugin(reads));
    const fake = createFakeMongo();
    const [a, b, again] = await bookTwiceAndRebook(fake);
    expect([a?.status, b?.status, again?.status]).toEqual(['pending', 'pending', 'pending']);
    expect(reads).toEqual([]);
    expect(fake.calls.filter((c) => c.endsWith('.countDocuments'))).toEqual([]);
  });

  it("the uniqueness plugin, on a host's model, counts outside the session and refuses a duplicate (the control)", async () => {
    const reads: PluginRead[] = [];
    useGlobalPlugin(uniqueValidatorPlugin(reads));
    const fake = createFakeMongo();
    const schema = new mongoose.Schema({ email: String }, { autoIndex: false });
    schema.index({ email: 1 }, { unique: true });
    const host = fake.connection.model('HostUser', schema);
    Object.assign(host.collection, { countDocuments: async () => 1 });
    await expect(new host({ email: 'a@example.com' }).validate()).rejects.toMatchObject({
      errors: { email: { kind: 'unique' } },
    });
    expect(reads).toEqual([{ model: 'HostUser', filter: { $and: [{ email: 'a@example.com' }] }, session: false }]);
  });
});
