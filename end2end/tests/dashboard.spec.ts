// The foundation's user journey against the real binary (embedded PostgreSQL, Debian Chromium):
// sign up → dashboard → create a lead through the hydrated page → reload → log out → protected pages
// redirect; a second user cannot see the first user's lead; hostile names stay inert text.
import { test, expect, type Page } from '@playwright/test';
import { hydrated, password, signUp, uniqueEmail } from './support/auth';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

const artifacts = path.join(here, '..', 'artifacts');
mkdirSync(artifacts, { recursive: true });

async function addLead(page: Page, name: string, phone: string) {
  await page.getByTestId('input-name').fill(name);
  await page.getByTestId('input-phone').fill(phone);
  await page.getByTestId('lead-submit').click();
}

test('sign up, add a lead through the hydrated page, reload, log out', async ({ page }) => {
  const email = uniqueEmail('alice');
  await signUp(page, email);
  await expect(page.getByRole('heading', { name: 'Accounts' })).toBeVisible();
  await expect(page.getByText('No accounts yet')).toBeVisible();

  await page.getByTestId('nav-leads').click();
  await expect(page).toHaveURL(/\/leads$/);
  await hydrated(page);

  // The hydrated form submits through the server function without leaving the page.
  let navigations = 0;
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations += 1;
  });
  await addLead(page, 'Ada Lovelace', '+44 20 7946 0958');
  const row = page.getByTestId('lead-row').filter({ hasText: 'Ada Lovelace' });
  await expect(row).toBeVisible();
  await expect(row.getByTestId('lead-phone')).toHaveText('+442079460958');
  expect(navigations).toBe(0);

  // A bad phone number is refused with a message next to the field; nothing is added.
  await addLead(page, 'Bad Number', '12');
  await expect(page.getByTestId('error-phone')).not.toBeEmpty();
  await expect(page.getByTestId('lead-row').filter({ hasText: 'Bad Number' })).toHaveCount(0);

  await page.reload();
  await expect(page.getByTestId('lead-row').filter({ hasText: 'Ada Lovelace' })).toBeVisible();

  await page.getByTestId('nav-settings').click();
  await expect(page.getByTestId('settings-email')).toHaveText(email);
  await page.getByTestId('logout').click();
  await expect(page).toHaveURL(/\/login$/);

  for (const protectedPath of ['/', '/leads', '/chats', '/templates', '/settings']) {
    await page.goto(protectedPath);
    await expect(page).toHaveURL(/\/login$/);
  }

  // Signing in again works, and a wrong password says so.
  await page.getByTestId('auth-email').fill(email);
  await page.getByTestId('auth-password').fill('not the password');
  await page.getByTestId('auth-submit').click();
  await expect(page.getByTestId('auth-error')).toContainText('do not match');
  await page.getByTestId('auth-email').fill(email);
  await page.getByTestId('auth-password').fill(password);
  await page.getByTestId('auth-submit').click();
  await expect(page).toHaveURL(/\/$/);
});

test('a second user does not see the first user’s lead', async ({ browser }) => {
  const first = await browser.newContext();
  const a = await first.newPage();
  await signUp(a, uniqueEmail('owner'));
  await a.goto('/leads');
  await hydrated(a);
  await addLead(a, 'Private Prospect', '+14155550123');
  await expect(a.getByTestId('lead-row').filter({ hasText: 'Private Prospect' })).toBeVisible();
  const leadId = await a.getByTestId('lead-row').first().getAttribute('data-lead-id');

  const second = await browser.newContext();
  const b = await second.newPage();
  await signUp(b, uniqueEmail('other'));
  await b.goto('/leads');
  await expect(b.getByText('No leads yet')).toBeVisible();
  await expect(b.getByText('Private Prospect')).toHaveCount(0);
  // Nor through the API by id.
  const response = await b.request.get(`/api/leads/${leadId}`);
  expect(response.status()).toBe(404);
  await first.close();
  await second.close();
});

test('HTML and SQL in a lead name are stored verbatim and shown as inert text', async ({ page }) => {
  await signUp(page, uniqueEmail('mallory'));
  await page.goto('/leads');
  await hydrated(page);
  const hostile = `<img src=x onerror="window.__pwned=1">'); DROP TABLE leads;--`;
  await addLead(page, hostile, '+4915123456789');
  const name = page.getByTestId('lead-name').filter({ hasText: 'DROP TABLE' });
  await expect(name).toHaveText(hostile);
  await page.reload();
  await expect(page.getByTestId('lead-name').filter({ hasText: 'DROP TABLE' })).toHaveText(hostile);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  expect(await page.locator('img[src="x"]').count()).toBe(0);
});

test('screenshots at 360 px and 1280 px', async ({ page }) => {
  await signUp(page, uniqueEmail('shots'));
  await page.goto('/leads');
  await hydrated(page);
  await addLead(page, 'Grace Hopper', '+12025550142');
  await expect(page.getByTestId('lead-row').filter({ hasText: 'Grace Hopper' })).toBeVisible();
  for (const width of [360, 1280]) {
    await page.setViewportSize({ width, height: 800 });
    for (const view of ['leads', 'accounts']) {
      await page.goto(`/${view}`);
      await hydrated(page);
      // The navigation that fits the width is the one on screen.
      const nav = width < 1024 ? `tab-nav-${view}` : `nav-${view}`;
      await expect(page.getByTestId(nav)).toBeVisible();
      await page.screenshot({ path: path.join(artifacts, `${view}-${width}.png`), fullPage: true });
    }
  }
});

test('an unknown page shows the dashboard’s not-found view with status 404', async ({ page }) => {
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
});
