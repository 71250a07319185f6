// API keys in Settings against the real binary (a server of its own: the suite's shared one has a
// sign-up budget per IP the other specs use up): a key is created (shown once), works against the
// REST API within its scope from a client without cookies, and stops working once revoked.
import { test, expect, request as http } from '@playwright/test';
import { hydrated, password, uniqueEmail } from './support/auth';
import { Server } from './support/stack';

let server: Server;

test.beforeAll(async () => {
  server = await Server.start('keys', null);
});

test.afterAll(async () => {
  await server?.down();
});

test('an API key is shown once, works within its scope, and is refused once revoked', async ({ page }) => {
  const url = (p: string) => server.base + p;
  await page.goto(url('/signup'));
  await page.getByTestId('auth-email').fill(uniqueEmail('keys'));
  await page.getByTestId('auth-password').fill(password);
  await page.getByTestId('auth-submit').click();
  await expect(page).toHaveURL(/\/$/);
  await page.goto(url('/settings'));
  await hydrated(page);
  const section = page.getByTestId('api-keys');
  await section.getByTestId('key-form').getByLabel('Name').fill('CRM sync');
  await section.getByTestId('key-create').click();
  const secret = (await section.getByTestId('new-key').textContent())!.trim();
  expect(secret).toMatch(/^rk_[A-Za-z0-9_-]{43}$/);
  const row = section.getByTestId('api-key').filter({ hasText: 'CRM sync' });
  await expect(row).toHaveAttribute('data-revoked', 'false');
  await expect(row).toContainText('read');
  // The list shows a prefix only.
  await expect(row).not.toContainText(secret);

  // A server somewhere else: no cookies, just the key.
  const client = await http.newContext({ baseURL: server.base, extraHTTPHeaders: { Authorization: `Bearer ${secret}` } });
  expect((await client.get('/api/leads')).status()).toBe(200);
  const write = await client.post('/api/leads', { data: { name: 'Ada', phone: '+447700900555' } });
  expect(write.status()).toBe(403);
  expect((await write.json()).error.code).toBe('insufficient_scope');

  await row.getByTestId('key-revoke').click();
  await expect(row).toHaveAttribute('data-revoked', 'true');
  expect((await client.get('/api/leads')).status()).toBe(401);
  await client.dispose();
});
