// Demo mode (DEMO=true) as a visitor meets it, in one journey: sign up, add an account, link it
// with the demo phone from inside the link dialog, a demo contact writes, the message arrives live,
// the visitor answers and sees the tick turn to read when the contact reads it; after a restart
// (the demo WhatsApp is in memory) the account is expired and links again. Against the real
// binary with its built-in offline WhatsApp; no other process.
import { test, expect, type Page } from '@playwright/test';
import path from 'node:path';
import { Server, artifacts } from './support/stack';

const ANA = '+15550009001'; // the first demo contact

let server: Server;

test.beforeAll(async () => {
  server = await Server.start('demo', null, { DEMO: 'true' });
});

test.afterAll(async () => {
  await server?.down();
});

async function hydrated(p: Page) {
  await expect(p.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

test('demo journey: link with the demo phone, a contact writes, the answer is read', async ({ page }) => {
  const url = (p: string) => server.base + p;
  await page.goto(url('/signup'));
  await page.getByTestId('auth-email').fill(`demo-${Date.now()}@example.test`);
  await page.getByTestId('auth-password').fill('correct horse battery');
  await page.getByTestId('auth-submit').click();
  await expect(page).toHaveURL(/\/$/);
  await hydrated(page);
  await expect(page.getByTestId('demo-phone')).toBeVisible();

  // Add an account; link it from inside the dialog with the demo phone.
  await page.goto(url('/accounts'));
  await hydrated(page);
  await page.getByTestId('add-account').click();
  await page.getByTestId('add-account-form').getByTestId('account-name').fill('Demo line');
  await page.getByTestId('add-account-submit').click();
  await expect(page.getByTestId('link-modal')).toBeVisible();
  await expect(page.getByTestId('qr').locator('svg')).toBeVisible();
  await page.getByTestId('demo-link').click();
  await expect(page.getByTestId('link-modal')).toHaveCount(0, { timeout: 20_000 });
  const row = page.getByTestId('account-row').filter({ hasText: 'Demo line' });
  await expect(row).toHaveAttribute('data-status', 'active', { timeout: 20_000 });

  // A demo contact writes; the conversation appears live.
  await page.goto(url('/chats'));
  await hydrated(page);
  await page.getByTestId('demo-toggle').click();
  await page.getByTestId('demo-contact').selectOption(ANA);
  await page.getByTestId('demo-text').fill('Hello from the demo!');
  await page.getByTestId('demo-send').click();
  const conversation = page.getByTestId('conversation-row').filter({ hasText: ANA });
  await expect(conversation).toBeVisible({ timeout: 20_000 });
  await expect(conversation.getByTestId('conversation-preview')).toContainText('Hello from the demo!');
  await conversation.click();
  await expect(page.getByTestId('message-text').getByText('Hello from the demo!', { exact: true })).toBeVisible();

  // The visitor answers; the contact reads it; the tick says so.
  await page.getByTestId('composer-input').fill('Thanks for trying Rarity Leads');
  await page.getByTestId('composer-input').press('Enter');
  const mine = page
    .getByTestId('message')
    .filter({ has: page.getByTestId('message-text').getByText('Thanks for trying Rarity Leads', { exact: true }) });
  await expect(mine).toHaveCount(1);
  await expect(mine).toHaveAttribute('data-status', 'delivered', { timeout: 20_000 });
  await page.getByTestId('demo-read').click();
  await expect(mine).toHaveAttribute('data-status', 'read', { timeout: 20_000 });
  await page.screenshot({ path: path.join(artifacts, 'demo-chat-1280.png') });

  // The demo's WhatsApp lives in memory: a restarted demo server has forgotten the linked device,
  // so the account ends `expired` (as after a logout from the phone) and links again by QR.
  await server.down();
  await server.up();
  await page.goto(url('/accounts'));
  await expect(row).toHaveAttribute('data-status', 'expired', { timeout: 30_000 });
  await row.getByTestId('link-account').click();
  await page.getByTestId('demo-link').click();
  await expect(row).toHaveAttribute('data-status', 'active', { timeout: 20_000 });
});

test('without DEMO the demo functions are not there', async ({ request }) => {
  // The main suite's server (playwright.config.ts) runs without DEMO.
  const signup = await request.post('/auth/signup', {
    form: { email: `nodemo-${Date.now()}@example.test`, password: 'correct horse battery' },
    maxRedirects: 0,
  });
  expect(signup.status()).toBe(303);
  for (const fn of ['demo/scan', 'demo/code', 'demo/contact']) {
    const response = await request.post(`/fn/${fn}`, { form: { contact: ANA, action: 'send', text: 'x', code: 'ABCD1234' } });
    expect(response.status(), fn).toBe(404);
  }
  const state = await request.post('/fn/demo/state', { form: {} });
  expect(state.status()).toBe(200);
  expect(await state.text()).toBe('null');
});
