// Building and checking careslot's indexes: legacy data, failures reported per index, ready() refusing to run without the unique ones.
import { describe, expect, it } from 'vitest';
import { createFakeMongo } from './support/fake-mongo.js';

describe('the payment unique index', () => {
  it('builds over legacy payments that have no provider fields (partial on their type), and still refuses a second record of one provider payment', async () => {
    const fake = createFakeMongo({ indexes: 'none' });
    fake.seed('payment', [
      { referenceId: null, amount: 5000, currency: 'eur' },
      { referenceId: null, amount: 7000, currency: 'eur' },
    ]);
    await fake.store.createIndexes();
    const names = (await fake.store.models.payment.collection.listIndexes().toArray()).map((i) => i.name);
    expect(names).toContain('careslot_payment_provider_id');
    fake.seed('payment', [{ provider: 'stripe', providerPaymentId: 'pi_1', amount: 1, currency: 'eur' }]);
    expect(() =>
      fake.seed('payment', [{ provider: 'stripe', providerPaymentId: 'pi_1', amount: 1, currency: 'eur' }]),
    ).toThrow(/E11000/);
  });
});
