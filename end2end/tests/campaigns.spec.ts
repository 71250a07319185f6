// Leads to campaign in the browser, against the real binary and the offline WhatsApp: import a CSV
// (preview, mapping, a bad line reported), find and edit leads, a template previewed on an
// imported lead (an imported column as a variable), a campaign launched from two clicks' worth of
// defaults whose progress bar reaches 100 %, a contact's reply tracked, and the replied lead's
// chat opened from the campaign. Pacing runs 3000× faster than real time
// (CAMPAIGN_PACING_SCALE), so the safe defaults finish in seconds.
import { test, expect, type Page, type BrowserContext } from '@playwright/test';
import path from 'node:path';
import { Fake, Server, artifacts, signUpWithLinkedAccount } from './support/stack';

test.describe.configure({ mode: 'serial' });

const ME = '15550001111';
const CONTACTS = ['15550007001', '15550007002', '15550007003', '15550007004'];

let fake: Fake;
let server: Server;
let context: BrowserContext;
let page: Page;

const url = (p: string) => server.base + p;

async function hydrated(p: Page) {
  await expect(p.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

test.beforeAll(async ({ browser }) => {
  fake = await Fake.start('campaigns');
  for (const [i, user] of CONTACTS.entries()) {
    await fake.addAccount(user, `19000000070${i}`, `Contact ${i}`);
  }
  server = await Server.start('campaigns', fake, { CAMPAIGN_PACING_SCALE: '3000' });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  await signUpWithLinkedAccount(page, server, fake, 'campaigns');
});

test.afterAll(async () => {
  await context?.close();
  await server?.down();
  await fake?.stop();
});

test('a CSV is previewed, mapped and imported; bad lines are reported by number', async () => {
  await page.goto(url('/leads'));
  await hydrated(page);
  const csv =
    '\ufeffName,Mobile,Company,City\n' +
    `Ann Smith,+1 555 000 7001,"Acme, Inc.",Leeds\n` +
    `Bob Jones,(555) 000-7002,Bricks Ltd,York\n` +
    `Not A Number,12,,\n` +
    `Cat Lee,555-000-7003,,Hull\n` +
    `Ann S.,+15550007001,,\n` + // the same number: merged, the later name wins
    `Dan Ray,+1 555 000 7004,Dan Co,Bath\n`;
  await page.getByTestId('import-country').selectOption('US');
  await page.getByTestId('import-file').setInputFiles({ name: 'leads.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await expect(page.getByTestId('import-rows')).toContainText('6 rows');
  const maps = page.getByTestId('import-map');
  await expect(maps).toHaveCount(4);
  await expect(maps.nth(0)).toHaveValue('name');
  await expect(maps.nth(1)).toHaveValue('phone');
  await expect(maps.nth(3)).toHaveValue('field:city');
  await page.getByTestId('import-start').click();
  await expect(page.getByTestId('import-report')).toContainText('4 new leads');
  await expect(page.getByTestId('import-report')).toContainText('1 duplicate rows merged');
  await expect(page.getByTestId('import-errors')).toContainText('Line 4');
  await expect(page.getByTestId('lead-total')).toHaveText('4 leads');

  // Search, then edit a lead in place.
  await page.getByTestId('lead-search').fill('bricks');
  await page.getByTestId('lead-filter-apply').click();
  await hydrated(page);
  await expect(page.getByTestId('lead-row')).toHaveCount(1);
  const bob = page.getByTestId('lead-row').filter({ hasText: 'Bob Jones' });
  await bob.getByTestId('lead-edit').click();
  await bob.getByTestId('edit-company').fill('Bricks & Mortar');
  await bob.getByTestId('edit-save').click();
  await expect(page.getByTestId('lead-row').filter({ hasText: 'Bricks & Mortar' })).toBeVisible();
  await page.screenshot({ path: path.join(artifacts, 'leads-import-1280.png') });
});

test('a template previews on an imported lead, with an imported column as a variable', async () => {
  await page.goto(url('/templates'));
  await hydrated(page);
  await page.getByTestId('input-content').fill('Hi {{first_name}}, anything we can do for you in {{city|your town}}?');
  await page.getByTestId('preview-lead').selectOption({ label: 'Ann S. (+15550007001)' });
  await expect(page.getByTestId('preview-text')).toHaveText('Hi Ann, anything we can do for you in Leeds?');
  await page.getByTestId('template-form').getByLabel('Name').fill('Check-in');
  await page.getByTestId('template-submit').click();
  await expect(page.getByTestId('template-row').filter({ hasText: 'Check-in' })).toBeVisible();
});

test('a campaign runs to 100 %, each contact gets its text, and a reply opens its chat', async () => {
  await page.goto(url('/campaigns'));
  await hydrated(page);
  await page.getByTestId('campaign-form').getByTestId('input-name').fill('Spring check-in');
  await expect(page.getByTestId('input-account')).toBeChecked();
  await page.getByTestId('campaign-submit').click();
  await expect(page).toHaveURL(/\/campaigns\?id=/);
  const detail = page.getByTestId('campaign-detail');
  await expect(detail.getByTestId('campaign-progress')).toHaveAttribute('aria-valuenow', '100', { timeout: 30_000 });
  await expect(detail.getByTestId('detail-status')).toHaveText('Completed');
  for (const [user, text] of [
    ['15550007001', 'Hi Ann, anything we can do for you in Leeds?'],
    ['15550007002', 'Hi Bob, anything we can do for you in York?'],
    ['15550007003', 'Hi Cat, anything we can do for you in Hull?'],
    ['15550007004', 'Hi Dan, anything we can do for you in Bath?'],
  ]) {
    await expect.poll(async () => (await fake.received(user)).map((r) => r.text), { timeout: 20_000 }).toEqual([text]);
  }

  await fake.send('15550007002', ME, 'Yes, call me tomorrow');
  await expect(detail.getByTestId('count-replied')).toHaveText('1', { timeout: 20_000 });
  await detail.getByTestId('lead-state-filter').selectOption('replied');
  const replied = detail.getByTestId('campaign-lead');
  await expect(replied).toHaveCount(1);
  await expect(replied).toContainText('Bob Jones');
  for (const width of [360, 1280]) {
    await page.setViewportSize({ width, height: 800 });
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(artifacts, `campaign-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  await replied.getByTestId('open-chat').click();
  await expect(page).toHaveURL(/\/chats\?lead=/);
  await expect(page.getByTestId('thread')).toContainText('Yes, call me tomorrow');
  await expect(page.getByTestId('thread')).toContainText('Hi Bob, anything we can do for you in York?');
});

test('leads picked on the Leads page become a scheduled campaign, and the Leads page filters by it', async () => {
  await page.goto(url('/leads'));
  await hydrated(page);
  for (const name of ['Ann S.', 'Dan Ray']) {
    await page.getByTestId('lead-row').filter({ hasText: name }).getByTestId('lead-select').check();
  }
  await expect(page.getByTestId('bulk-count')).toHaveText('2 selected');
  await page.getByTestId('bulk-campaign').click();
  await expect(page).toHaveURL(/\/campaigns\?picked=1/);
  await hydrated(page);
  await expect(page.getByTestId('picked-leads')).toHaveText('2 leads picked on the Leads page');
  const form = page.getByTestId('campaign-form');
  await form.getByTestId('input-name').fill('Picked two');
  // Tomorrow at 09:30 in Lisbon: scheduled, so nothing is sent now.
  await form.locator('summary').click();
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  await form.locator('input[name="start_at"]').fill(`${tomorrow}T09:30`);
  await form.locator('input[name="time_zone"]').fill('Europe/Lisbon');
  await page.getByTestId('campaign-submit').click();
  await expect(page).toHaveURL(/\/campaigns\?id=/);
  const id = new URL(page.url()).searchParams.get('id')!;
  const campaign = await (await page.request.get(url(`/api/campaigns/${id}`))).json();
  expect(campaign.counts.total).toBe(2);
  expect(campaign.counts.pending).toBe(2);
  expect(new Date(campaign.start_at).getTime()).toBeGreaterThan(Date.now() + 3_600_000);

  await page.goto(url(`/leads?campaign=${id}`));
  await hydrated(page);
  const rows = page.getByTestId('lead-row');
  await expect(rows).toHaveCount(2);
  await expect(rows.filter({ hasText: 'Ann S.' })).toHaveCount(1);
  await expect(rows.filter({ hasText: 'Dan Ray' })).toHaveCount(1);
  await expect(page.getByTestId('lead-filter-campaign')).toHaveValue(id);
});
