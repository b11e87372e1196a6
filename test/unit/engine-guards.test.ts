// The engine's own guards: the state-machine check in every history entry and slot move, and the provider event schema.
import { describe, expect, it } from 'vitest';
import { EngineContext } from '../../src/engine/context.js';
import { resolveOptions } from '../../src/engine/options.js';
import { paymentEventSchema } from '../../src/engine/validation.js';
import { EventEmitterNotifier, InProcessScheduler, MemoryStore, SYSTEM_ACTOR } from '../../src/index.js';
import { ManualClock, MemoryPatientDirectory, TestPaymentGateway } from '../../src/testing/index.js';

function context() {
  const clock = new ManualClock('2030-03-01T08:00:00Z');
  const ports = {
    store: new MemoryStore({ clock }),
    payments: new TestPaymentGateway({ clock }),
    scheduler: new InProcessScheduler({ clock, timers: false }),
    notifier: new EventEmitterNotifier(),
    patients: new MemoryPatientDirectory(),
    clock,
  };
  return new EngineContext(ports, resolveOptions(ports));
}

describe('the transition guard', () => {
  it('names the kind and both states, and (new) for a booking that does not exist yet', () => {
    const ctx = context();
    expect(() => ctx.history('completed', 'scheduled', 'paid', SYSTEM_ACTOR, null)).toThrow(
      'careslot refused a booking transition completed → scheduled',
    );
    expect(() => ctx.history(null, 'cancelled', 'unpaid', SYSTEM_ACTOR, null)).toThrow(
      'careslot refused a booking transition (new) → cancelled',
    );
    expect(() => ctx.moveSlot({} as never, { id: 's', from: 'expired', to: 'booked' })).toThrow(
      expect.objectContaining({
        code: 'INVALID_TRANSITION',
        message: 'careslot refused a slot transition expired → booked',
      }),
    );
  });

  it('stamps a history entry with the clock, the actor and the reason', () => {
    const ctx = context();
    expect(ctx.history(null, 'pending', 'unpaid', SYSTEM_ACTOR, 'why')).toEqual({
      at: new Date('2030-03-01T08:00:00Z'),
      from: null,
      to: 'pending',
      paymentStatus: 'unpaid',
      actor: SYSTEM_ACTOR,
      reason: 'why',
    });
  });

  it('reports an effect without ids as just its name and error', async () => {
    const ctx = context();
    const failures: unknown[] = [];
    ctx.events.on('effect.failed', (e) => failures.push(e));
    const error = new Error('x');
    const ran: string[] = [];
    ctx.runEffect = async (effect) => {
      ran.push(effect.name);
      if (effect.name !== 'c') throw error;
    };
    const spec = { kind: 'checkout.expire', sessionId: 'cs_1' } as const;
    await ctx.runEffects([
      { name: 'a', spec },
      { name: 'b', scheduleId: 's1', spec },
      { name: 'c', spec },
    ]);
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(failures).toEqual([
      { effect: 'a', error },
      { effect: 'b', error, scheduleId: 's1' },
    ]);
    expect(Object.keys(failures[0] as object)).toEqual(['effect', 'error']);
  });
});

describe('the provider event schema', () => {
  const ref = { id: 'evt_1', bookingId: 'b1', sessionId: 'cs_1' };
  it('accepts each event type as a gateway produces it', () => {
    for (const event of [
      { type: 'payment.succeeded', ...ref, payment: { paymentId: 'pi_1', amount: 5000, currency: 'eur' } },
      { type: 'payment.succeeded', ...ref, payment: { paymentId: 'pi_1', amount: null, currency: 'eur' } },
      { type: 'payment.failed', ...ref, reason: 'declined' },
      { type: 'checkout.expired', ...ref },
      ...(['succeeded', 'pending', 'failed'] as const).map((status) => ({
        type: 'refund.updated',
        id: 'evt_2',
        paymentId: 'pi_1',
        providerRefundId: 're_1',
        refundId: null,
        amount: 100,
        currency: 'eur',
        status,
      })),
    ]) {
      expect(paymentEventSchema.safeParse(event)).toEqual({ success: true, data: event });
    }
  });

  it('refuses a currency that is not exactly three lowercase letters, saying so', () => {
    for (const currency of ['EUR', 'euro', 'xeur', 'eu']) {
      const result = paymentEventSchema.safeParse({
        type: 'payment.succeeded',
        ...ref,
        payment: { paymentId: 'pi_1', amount: 5000, currency },
      });
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.message).toBe('must be a lowercase three-letter ISO 4217 code');
    }
  });

  it('refuses an amount that is negative or fractional, saying it must be whole minor units', () => {
    for (const amount of [-1, 1.5]) {
      const result = paymentEventSchema.safeParse({
        type: 'refund.updated',
        id: 'evt_2',
        paymentId: 'pi_1',
        providerRefundId: 're_1',
        refundId: null,
        amount,
        currency: 'eur',
        status: 'succeeded',
      });
      expect(result.success).toBe(false);
    }
    const fraction = paymentEventSchema.safeParse({
      type: 'payment.succeeded',
      ...ref,
      payment: { paymentId: 'pi_1', amount: 1.5, currency: 'eur' },
    });
    expect(fraction.error?.issues[0]?.message).toBe('must be a whole number of minor units');
  });
});
