// The example's pages in headless Chromium: book a published slot, set weekly hours, book a computed slot, pay on the local checkout.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DOCTORS, DEMO_PATIENTS } from '../../examples/express/demo-users.js';
import { type RunningExample, startExample } from '../../examples/express/start.js';
import { chromiumAvailability } from '../support/services.js';

const browserStatus = chromiumAvailability();
if (!browserStatus.available) console.log(`careslot browser tests skipped: ${browserStatus.detail}`);

describe.skipIf(!browserStatus.available)('example booking page in Chromium', () => {
  let app: RunningExample;
  let browser: Browser;
  let profile: string;

  beforeAll(async () => {
    app = await startExample({ env: {}, overrides: { timers: false } });
    profile = mkdtempSync(join(tmpdir(), 'careslot-chromium-'));
    browser = await chromium.launch({
      executablePath: browserStatus.detail,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('books a slot as a paying patient, pays on the checkout page, and the doctor sees the live notification', async () => {
    const start = new Date(Date.now() + 3 * 86_400_000);
    start.setUTCMinutes(0, 0, 0);
    const { engine } = app.careslot;
    const slot = await engine.createSchedule({
      doctorId: DEMO_DOCTORS[0].id,
      startTime: start,
      endTime: new Date(start.getTime() + 1_800_000),
      fee: { amount: 5000, currency: 'eur' },
      timeZone: 'Europe/Berlin',
    });

    // The doctor's tab listens for notifications.
    const doctorTab = await browser.newPage();
    await doctorTab.goto(app.url);
    await doctorTab.selectOption('#user', `doctor:${DEMO_DOCTORS[0].id}`);

    const patientTab = await browser.newPage();
    await patientTab.goto(app.url);
    await patientTab.selectOption('#user', `patient:${DEMO_PATIENTS[0].id}`);
    await patientTab.locator('button.book').first().click();
    await patientTab.waitForURL(/\/checkout\/cs_test_/);
    expect(await patientTab.locator('#amount').textContent()).toBe('50.00 EUR');
    await patientTab.screenshot({ path: join(profile, 'checkout.png') });
    await patientTab.locator('#pay').click();
    await patientTab.waitForURL(/\/booked$/);
    expect(await patientTab.textContent('body')).toContain('Your booking is confirmed');

    const [booking] = await engine.listBookings({ scheduleId: slot.id });
    expect(booking).toMatchObject({ status: 'scheduled', paymentStatus: 'paid', patientId: DEMO_PATIENTS[0].id });
    await doctorTab.waitForFunction(() => document.getElementById('log')?.textContent?.includes('appointmentBooking'));
    expect(await doctorTab.locator('#log').textContent()).toContain('Patient Paula Standard booked');
  }, 60_000);

  it('sets weekly hours on the doctor page, then books a computed slot on the patient page and pays', async () => {
    const tab = await browser.newPage();
    await tab.goto(`${app.url}/doctor`);
    await tab.selectOption('select[name=user]', `doctor:${DEMO_DOCTORS[0].id}`);
    await tab.getByRole('button', { name: 'Continue' }).click();
    await tab.waitForSelector('#no-rules');
    for (const day of ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])
      await tab.check(`input[name=days][value=${day}]`);
    await tab.fill('input[name=from]', '10:00');
    await tab.fill('input[name=to]', '12:00');
    await tab.fill('input[name=slotMinutes]', '60');
    await tab.fill('input[name=fee]', '45.00');
    await tab.click('#save-hours');
    await tab.waitForSelector('#rules');
    expect(await tab.textContent('#rules')).toContain('10:00–12:00');
    expect(await tab.textContent('#rule-details')).toContain('60-minute slots, 45.00 EUR each');

    await tab.goto(`${app.url}/patient`);
    await tab.selectOption('select[name=user]', `patient:${DEMO_PATIENTS[0].id}`);
    await tab.getByRole('button', { name: 'Continue' }).click();
    const first = tab.locator('tr.slot').first();
    const start = await first.getAttribute('data-start');
    // The doctor's wall-clock hours, in the slot's zone, whatever the browser's or the server's zone is.
    expect(await first.locator('time').textContent()).toMatch(/, 1[01]:00 CES?T$/);
    await first.locator('button.book-slot').click();
    await tab.waitForURL(/\/checkout\/cs_test_/);
    expect(await tab.locator('#amount').textContent()).toBe('45.00 EUR');
    await tab.locator('#pay').click();
    await tab.waitForURL(/\/booked$/);
    await tab.goto(`${app.url}/patient?user=patient:${DEMO_PATIENTS[0].id}`);
    expect(await tab.locator('tr.slot').count()).toBeGreaterThan(0);
    expect(await tab.locator(`tr.slot[data-start="${start}"]`).count()).toBe(0);
  }, 60_000);
});
