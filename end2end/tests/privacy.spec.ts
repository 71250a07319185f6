// Consent and GDPR in the dashboard, against the real binary: retention set in Settings, "Export
// my data" downloads a ZIP, an opt-out recorded on a lead shows on the lead and blocks sending
// (409 opted_out from the REST API), "Export this lead" downloads, "Erase this lead" removes the
// lead while the opted-out number stays blocked, and all of it lands in the audit log.
//
// The inbound STOP keyword itself (a contact's message through WhatsApp) is exercised by the Rust
// tests against the offline WhatsApp (server/tests/api/privacy.rs); this browser run has no
// linked WhatsApp account, so the opt-out here is recorded by a person in the lead panel.
import { test, expect, type Page } from '@playwright/test';
import { hydrated, signUp, uniqueEmail } from './support/auth';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = path.join(here, '..', 'artifacts');
mkdirSync(artifacts, { recursive: true });

/// Saves a download under artifacts/ and returns its bytes.
async function download(page: Page, trigger: () => Promise<void>, name: string) {
  const [file] = await Promise.all([page.waitForEvent('download'), trigger()]);
  const target = path.join(artifacts, name);
  await file.saveAs(target);
  return { suggested: file.suggestedFilename(), bytes: readFileSync(target) };
}

test('retention is set in Settings, "Export my data" downloads a ZIP, the audit log shows both', async ({ page }) => {
  await signUp(page, uniqueEmail('retention'));
  await page.getByTestId('nav-settings').click();
  await expect(page).toHaveURL(/\/settings$/);
  await hydrated(page);

  // A bad value: the browser refuses to submit it (min="1") …
  await page.getByTestId('input-messages_days').fill('0');
  await page.getByTestId('privacy-save').click();
  expect(await page.getByTestId('input-messages_days').evaluate((el) => (el as HTMLInputElement).validity.valid)).toBe(false);
  await expect(page.getByTestId('privacy-saved')).toBeEmpty();
  // … and the server refuses it too, naming the field, when sent without the browser's check.
  const refused = await page.request.post('/fn/privacy/save', { form: { keywords: 'STOP', messages_days: '0' } });
  expect(refused.status()).toBe(422);
  expect(await refused.text()).toContain('messages_days');
  // A good value is saved and kept.
  await page.getByTestId('input-messages_days').fill('30');
  await page.getByTestId('input-closed_leads_days').fill('365');
  await page.getByTestId('privacy-save').click();
  await expect(page.getByTestId('privacy-saved')).toHaveText('Saved.');
  await page.reload();
  await expect(page.getByTestId('input-messages_days')).toHaveValue('30');
  await expect(page.getByTestId('input-closed_leads_days')).toHaveValue('365');
  await expect(page.getByTestId('audit-log')).toContainText('Retention set: messages 30 days');

  const zip = await download(page, () => page.getByTestId('export-all').click(), 'export-all.zip');
  expect(zip.suggested).toMatch(/^rarity-export-\d{4}-\d{2}-\d{2}\.zip$/);
  expect(zip.bytes.subarray(0, 2).toString()).toBe('PK');
  expect(zip.bytes.includes(Buffer.from('messages.csv'))).toBe(true);
  // Fetched by the page against the server's size estimate, so it could show a progress bar.
  await expect(page.getByTestId('export-all-status')).toContainText('Downloaded');
  await page.reload();
  await expect(page.getByTestId('audit-log')).toContainText('Exported all data');
});

test('an opt-out shows on the lead and blocks sending; export this lead; erase this lead', async ({ page }) => {
  await signUp(page, uniqueEmail('optout'));
  await page.getByTestId('nav-leads').click();
  await hydrated(page);
  await page.getByTestId('input-name').fill('Olga Optout');
  await page.getByTestId('input-phone').fill('+44 7700 900123');
  await page.getByTestId('lead-submit').click();
  const row = page.getByTestId('lead-row').filter({ hasText: 'Olga Optout' });
  await expect(row).toBeVisible();
  await expect(row.getByTestId('lead-consent')).toHaveCount(0);

  // Record the opt-out (a person heard it on a call) with its evidence.
  await row.getByTestId('lead-privacy').click();
  const panel = row.getByTestId('lead-privacy-panel');
  await expect(panel.getByTestId('consent-state')).toHaveText('No consent recorded.');
  await panel.getByTestId('consent-kind').selectOption('opt_out');
  await panel.getByTestId('consent-source').selectOption('chat');
  await panel.getByTestId('consent-evidence').fill('Asked us on a call to stop messaging');
  await panel.getByTestId('consent-submit').click();
  await expect(row.getByTestId('lead-consent')).toHaveText('Opted out');
  await expect(row).toHaveAttribute('data-consent', 'opted_out');
  await expect(panel.getByTestId('consent-state')).toContainText('Opted out');
  await expect(panel.getByTestId('consent-event').first()).toContainText('Asked us on a call to stop messaging');
  await page.screenshot({ path: path.join(artifacts, 'lead-opted-out.png'), fullPage: true });

  // Sending to them is refused with a clear 409 (the REST API, as any client would send).
  const account = await page.request.post('/api/accounts', { data: { session_name: 'Sales' } });
  expect(account.status()).toBe(201);
  const accountId = (await account.json()).id;
  const refused = await page.request.post('/api/messages', {
    data: { account_id: accountId, to: '+447700900123', text: 'One more offer' },
  });
  expect(refused.status()).toBe(409);
  const body = await refused.json();
  expect(body.error.code).toBe('opted_out');
  expect(body.error.message).toContain('opted out');

  // Export this lead: a ZIP with their data.
  const zip = await download(page, () => panel.getByTestId('lead-export').click(), 'export-lead.zip');
  expect(zip.suggested).toMatch(/^rarity-lead-[0-9a-f]{8}-\d{4}-\d{2}-\d{2}\.zip$/);
  expect(zip.bytes.subarray(0, 2).toString()).toBe('PK');

  // Erase this lead: gone from the list; the number stays blocked.
  await panel.getByTestId('lead-erase').click();
  await panel.getByTestId('lead-erase-confirm').click();
  await expect(page.getByTestId('lead-erased')).toContainText('Erased the lead');
  await expect(page.getByTestId('lead-row').filter({ hasText: 'Olga Optout' })).toHaveCount(0);
  await page.reload();
  await expect(page.getByTestId('lead-row').filter({ hasText: 'Olga Optout' })).toHaveCount(0);
  const still = await page.request.post('/api/messages', {
    data: { account_id: accountId, to: '+447700900123', text: 'After erasure' },
  });
  expect(still.status()).toBe(409);

  await page.getByTestId('nav-settings').click();
  await expect(page.getByTestId('audit-log')).toContainText('A lead opted out (chat)');
  await expect(page.getByTestId('audit-log')).toContainText('Exported a lead');
  await expect(page.getByTestId('audit-log')).toContainText('Erased a lead');
  await expect(page.getByTestId('audit-log')).not.toContainText('Olga');
});
