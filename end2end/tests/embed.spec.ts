// Embedding (issue 16): a lead's chat at /embed/chat/{lead}, opened by a token from
// POST /api/embed/tokens, inside an iframe of a host page on another origin. The host pages are
// served by a tiny node server on loopback: one origin in EMBED_ALLOWED_ORIGINS (localhost —
// another *site* than the server's 127.0.0.1, so the frame's cookies are third-party ones), and
// one that is not (127.0.0.1 on another port).
import { test, expect, type Page, type BrowserContext } from '@playwright/test';
import { createServer, type Server as HttpServer } from 'node:http';
import path from 'node:path';
import { Fake, Server, artifacts, freePort, signUpWithLinkedAccount } from './support/stack';

test.describe.configure({ mode: 'serial' });

const ME = '15550001111';
const ELLA = '15550009001';

let fake: Fake;
let server: Server;
let context: BrowserContext;
let page: Page;
let hostServer: HttpServer;
let allowedHost = '';
let otherHost = '';
let leadId = '';

const url = (p: string) => server.base + p;

/** A host app page: an iframe of `src` that takes the height the embed posts. */
function hostPage(src: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Host app</title></head>
<body style="margin:0;background:#ddd;font-family:sans-serif">
<p style="padding:8px">The host app</p>
<iframe id="embed" src="${src.replace(/"/g, '&quot;')}" style="display:block;width:100%;height:500px;border:0"></iframe>
<script>
  window.resizes = [];
  window.addEventListener('message', (e) => {
    window.resizes.push({ origin: e.origin, data: e.data });
    if (e.data && e.data.type === 'rarity:resize') document.getElementById('embed').style.height = e.data.height + 'px';
  });
</script></body></html>`;
}

async function token(body: Record<string, unknown>): Promise<{ token: string; url: string; expires_at: string }> {
  const r = await page.request.post(url('/api/embed/tokens'), { data: body });
  expect(r.status(), await r.text()).toBe(201);
  return r.json();
}

/** Opens the host page at `host` framing `src` (a path on the server) in a fresh page. */
async function framed(host: string, src: string): Promise<Page> {
  const p = await context.newPage();
  await p.goto(`${host}/?src=${encodeURIComponent(url(src))}`);
  return p;
}

async function shoot(p: Page, name: string) {
  for (const width of [360, 1280]) {
    await p.setViewportSize({ width, height: 800 });
    await p.waitForTimeout(300);
    await p.screenshot({ path: path.join(artifacts, `${name}-${width}.png`), fullPage: true });
  }
  await p.setViewportSize({ width: 1280, height: 800 });
}

test.beforeAll(async ({ browser }) => {
  const hostPort = await freePort();
  const otherPort = await freePort();
  allowedHost = `http://localhost:${hostPort}`;
  otherHost = `http://127.0.0.1:${otherPort}`;
  hostServer = createServer((req, res) => {
    const src = new URL(req.url ?? '/', 'http://x').searchParams.get('src') ?? '';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(hostPage(src));
  });
  // One node server answers both origins: what tells them apart is the host and port in the URL.
  await new Promise<void>((resolve) => hostServer.listen(hostPort, '127.0.0.1', resolve));
  const other = createServer(hostServer.listeners('request')[0] as any);
  await new Promise<void>((resolve) => other.listen(otherPort, '127.0.0.1', resolve));
  (hostServer as any).other = other;

  fake = await Fake.start('embed');
  await fake.addAccount(ELLA, '190000000009001', 'Ella Contact');
  server = await Server.start('embed', fake, { EMBED_ALLOWED_ORIGINS: allowedHost });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  await signUpWithLinkedAccount(page, server, fake, 'embed');
  await fake.send(ELLA, ME, 'Hello from Ella, before the embed');
  await expect
    .poll(async () => {
      const leads = await (await page.request.get(url('/api/leads'))).json();
      const lead = (leads.items ?? leads.data ?? leads).find((l: any) => l.phone === `+${ELLA}`);
      leadId = lead?.id ?? '';
      return leadId;
    }, { timeout: 20_000 })
    .not.toBe('');
});

test.afterAll(async () => {
  await context?.close();
  await server?.down();
  await fake?.stop();
  (hostServer as any)?.other?.close();
  hostServer?.close();
});

test('the chat renders inside an allowed host, sends from the frame, updates live and reports its height', async () => {
  const t = await token({ view: 'chat', lead_id: leadId, origin: allowedHost });
  expect(t.url).toContain(`/embed/chat/${leadId}?token=`);
  const host = await framed(allowedHost, t.url);
  const frame = host.frameLocator('#embed');
  await expect(frame.getByTestId('message-text').filter({ hasText: 'Hello from Ella, before the embed' })).toBeVisible();
  await expect(frame.locator('body')).toHaveAttribute('data-hydrated', 'true');
  // No dashboard chrome: no navigation, no way back to the list.
  await expect(frame.getByTestId('nav-chats')).toHaveCount(0);
  await host.setViewportSize({ width: 360, height: 800 });
  await expect(frame.getByTestId('back-to-list')).toHaveCount(0);
  await host.setViewportSize({ width: 1280, height: 800 });

  // Sent from the frame: the server functions work with the embed cookie (a third-party one here).
  const input = frame.getByTestId('composer-input');
  await input.fill('Hi Ella, replying from the host app');
  await input.press('Enter');
  await expect
    .poll(async () => (await fake.received(ELLA)).map((r) => r.text), { timeout: 20_000 })
    .toContain('Hi Ella, replying from the host app');

  // Live over /ws with the embed cookie.
  await fake.send(ELLA, ME, 'And a reply while the embed is open');
  await expect(frame.getByTestId('message-text').filter({ hasText: 'And a reply while the embed is open' })).toBeVisible({ timeout: 20_000 });

  // The host got the height, from the server's origin, and applied it.
  await expect
    .poll(async () => host.evaluate(() => (window as any).resizes.filter((m: any) => m.data?.type === 'rarity:resize').length))
    .toBeGreaterThan(0);
  const resize = await host.evaluate(() => (window as any).resizes.find((m: any) => m.data?.type === 'rarity:resize'));
  expect(resize.origin).toBe(server.base);
  expect(resize.data.height).toBeGreaterThan(100);
  await shoot(host, 'embed-chat');

  // The light theme, as a host with a light UI asks for it.
  const light = await framed(allowedHost, `${t.url}&theme=light`);
  const root = light.frameLocator('#embed').locator('[data-embed-root]');
  await expect(root).toHaveAttribute('data-theme', 'light');
  await expect(light.frameLocator('#embed').getByTestId('message-text').first()).toBeVisible();
  const bg = await root.evaluate((el) => getComputedStyle(el).backgroundColor);
  expect(bg).toBe('rgb(255, 255, 255)');
  await shoot(light, 'embed-chat-light');
  await light.close();
  await host.close();
});

test('the account manager renders inside an allowed host and grows with its content', async () => {
  const t = await token({ view: 'accounts', origin: allowedHost });
  const host = await framed(allowedHost, t.url);
  const frame = host.frameLocator('#embed');
  await expect(frame.getByTestId('account-phone').first()).toContainText(ME);
  await expect(frame.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(frame.getByTestId('nav-accounts')).toHaveCount(0);
  await expect
    .poll(async () => host.evaluate(() => (window as any).resizes.filter((m: any) => m.data?.type === 'rarity:resize').length))
    .toBeGreaterThan(0);
  // The frame took the height the view reported.
  const reported = await host.evaluate(() => (window as any).resizes.filter((m: any) => m.data?.type === 'rarity:resize').at(-1).data.height);
  await expect.poll(async () => host.locator('#embed').evaluate((f) => (f as HTMLElement).offsetHeight)).toBe(reported);
  await shoot(host, 'embed-accounts');
  await host.close();
});

test('a host origin that is not allowed cannot frame the view', async () => {
  const t = await token({ view: 'chat', lead_id: leadId, origin: allowedHost });
  const refusals: string[] = [];
  const host = await context.newPage();
  host.on('console', (m) => {
    if (m.text().includes('frame-ancestors')) refusals.push(m.text());
  });
  await host.goto(`${otherHost}/?src=${encodeURIComponent(url(t.url))}`);
  await expect.poll(() => refusals.length, { timeout: 10_000 }).toBeGreaterThan(0);
  await expect(host.frameLocator('#embed').locator('[data-embed-root]')).toHaveCount(0);
  await expect(host.frameLocator('#embed').getByTestId('thread')).toHaveCount(0);
  await host.close();
});

test('a token past its lifetime is refused, and so are the calls of a page opened with it', async () => {
  test.setTimeout(150_000);
  const t = await token({ view: 'chat', lead_id: leadId, origin: allowedHost, ttl_seconds: 60 });
  const host = await framed(allowedHost, t.url);
  const frame = host.frameLocator('#embed');
  await expect(frame.getByTestId('message-text').first()).toBeVisible();
  await expect(frame.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const wait = new Date(t.expires_at).getTime() - Date.now() + 1_500;
  await host.waitForTimeout(Math.max(wait, 0));
  // A call of the open page now fails (its cookie carries the expired token)…
  await frame.getByTestId('composer-input').fill('Too late');
  await frame.getByTestId('composer-input').press('Enter');
  await host.waitForTimeout(2_000);
  expect((await fake.received(ELLA)).map((r) => r.text)).not.toContain('Too late');
  // … and loading it again shows why, inside the frame.
  await host.reload();
  await expect(host.frameLocator('#embed').getByTestId('embed-refused')).toContainText('expired');
  await host.close();
});
