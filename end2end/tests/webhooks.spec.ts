// Webhooks in Settings against the real binary and the offline WhatsApp (servers of its own, with
// WEBHOOKS_ALLOW_LOOPBACK so the receiver can live on loopback): an endpoint is added (its secret
// shown once), a contact's message reaches the receiver signed, the delivery log shows it
// delivered, "Redeliver" sends the same event again, and a private address is refused in the form.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, expect } from '@playwright/test';
import { hydrated } from './support/auth';
import path from 'node:path';
import { Fake, Server, artifacts, signUpWithLinkedAccount } from './support/stack';

test.describe.configure({ mode: 'serial' });

let fake: Fake;
let server: Server;
let receiver: HttpServer;
const taken: { headers: IncomingHttpHeaders; body: string }[] = [];

test.beforeAll(async () => {
  fake = await Fake.start('webhooks');
  server = await Server.start('webhooks', fake, { WEBHOOKS_ALLOW_LOOPBACK: 'true' });
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      taken.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
});

test.afterAll(async () => {
  await server?.down();
  await fake?.stop();
  receiver?.close();
});

/** Verifies a Standard Webhooks signature by hand: HMAC-SHA256 over "id.timestamp.body". */
function signedWith(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key)
    .update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`)
    .digest('base64');
  return String(headers['webhook-signature']).split(' ').includes(`v1,${expected}`);
}

test('a webhook added in Settings receives a signed event, logs it and redelivers it', async ({ page }) => {
  await signUpWithLinkedAccount(page, server, fake, 'webhooks');
  await page.goto(server.base + '/settings');
  await hydrated(page);
  const section = page.getByTestId('webhooks');
  const form = section.getByTestId('webhook-form');

  // A private address is refused next to the field, and nothing is saved.
  await form.getByLabel('Endpoint URL').fill('http://10.0.0.1/hook');
  await section.getByTestId('webhook-create').click();
  await expect(form).toContainText('10.0.0.1');
  await expect(section.getByTestId('webhook')).toHaveCount(0);

  const port = (receiver.address() as AddressInfo).port;
  await form.getByLabel('Endpoint URL').fill(`http://127.0.0.1:${port}/hook`);
  await form.getByLabel('Description (optional)').fill('CRM');
  await section.getByTestId('webhook-create').click();
  const secret = (await section.getByTestId('webhook-secret').textContent())!.trim();
  expect(secret).toMatch(/^whsec_/);
  const row = section.getByTestId('webhook');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('message.inbound');
  await expect(row).not.toContainText(secret);

  // A contact writes: the receiver gets message.inbound, signed with that secret.
  await fake.addAccount('15550007777', '100000000000077', 'Hook Contact');
  await fake.send('15550007777', '15550001111', 'hello hooks');
  await expect.poll(() => taken.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(1);
  const first = taken[0];
  const event = JSON.parse(first.body);
  expect(event.type).toBe('message.inbound');
  expect(event.data.text).toBe('hello hooks');
  expect(event.data.phone_number).toBe('+15550007777');
  expect(signedWith(secret, first.headers, first.body)).toBe(true);
  expect(signedWith(secret.slice(0, -4) + 'AAA=', first.headers, first.body)).toBe(false);

  // The delivery log shows it delivered; "Redeliver" sends the same event (same webhook-id) again.
  await row.getByTestId('webhook-log').click();
  const log = row.getByTestId('delivery-log');
  const delivered = log.getByTestId('delivery').filter({ hasText: 'message.inbound' }).first();
  await expect(delivered).toHaveAttribute('data-state', 'delivered');
  await expect(delivered).toContainText('HTTP 204');
  const before = taken.length;
  await delivered.getByTestId('redeliver').click();
  await expect.poll(() => taken.length, { timeout: 30_000 }).toBeGreaterThan(before);
  expect(taken[taken.length - 1].headers['webhook-id']).toBe(first.headers['webhook-id']);
  await expect(log.getByTestId('delivery')).toHaveCount(2);

  for (const width of [360, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    await page.waitForTimeout(200);
    await section.screenshot({ path: path.join(artifacts, `webhooks-${width}.png`) });
  }
  await page.setViewportSize({ width: 1280, height: 800 });

  // Paused: the row says so; deleted after confirmation.
  await row.getByTestId('webhook-toggle').click();
  await expect(section.getByTestId('webhook')).toHaveAttribute('data-enabled', 'false');
  await section.getByTestId('webhook-delete').click();
  await section.getByTestId('webhook-delete-confirm').click();
  await expect(section.getByTestId('webhook')).toHaveCount(0);
});
