// The account manager and the live chat against the real binary, its embedded PostgreSQL and the
// offline WhatsApp (the stand-in for WhatsApp, driven through its control API as a phone would
// act): link by QR and by pairing code, a QR replaced in place, messages both ways with ticks,
// typing both ways, a dropped socket and a server restart with nothing missing or doubled, a
// 10,000-message thread, isolation between users, a STOP shown in the chat, and a logout from the
// phone.
//
// The tests run in order on one stack (each builds on the accounts the previous ones linked).
import { test, expect, type Page, type BrowserContext } from '@playwright/test';
import path from 'node:path';
import { Fake, Server, artifacts } from './support/stack';

test.describe.configure({ mode: 'serial' });

const password = 'correct horse battery';
const ME = '15550001111'; // the offline WhatsApp's default phone: linked by QR
const SECOND = '15550002222'; // linked by pairing code
const ANA = '15550009001';
const BEN = '15550009002';
const CHLOE = '15550009003'; // writes the 10,000-message thread

let fake: Fake;
let server: Server;
let owner: BrowserContext;
let page: Page;

const url = (p: string) => server.base + p;
const unique = (who: string) => `${who}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.test`;

async function hydrated(p: Page) {
  await expect(p.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

async function signUp(p: Page, email: string) {
  await p.goto(url('/signup'));
  await p.getByTestId('auth-email').fill(email);
  await p.getByTestId('auth-password').fill(password);
  await p.getByTestId('auth-submit').click();
  await expect(p).toHaveURL(/\/$/);
  await hydrated(p);
}

/** Every WebSocket the page opens is recorded, and new ones can be made to fail (a dead network). */
async function trackSockets(context: BrowserContext) {
  await context.addInitScript(() => {
    const w = window as any;
    const Native = window.WebSocket;
    w.__sockets = [];
    w.__blockSockets = false;
    class Tracked extends Native {
      constructor(address: string | URL, protocols?: string | string[]) {
        // Port 9 on loopback refuses the connection: the client sees a failed connect.
        super(w.__blockSockets ? 'ws://127.0.0.1:9/' : address, protocols);
        w.__sockets.push(this);
      }
    }
    w.WebSocket = Tracked;
  });
}

async function shoot(p: Page, name: string) {
  for (const width of [360, 1280]) {
    await p.setViewportSize({ width, height: 800 });
    await p.waitForTimeout(150);
    await p.screenshot({ path: path.join(artifacts, `${name}-${width}.png`) });
  }
  await p.setViewportSize({ width: 1280, height: 800 });
}

async function addAccount(p: Page, name: string) {
  await p.getByTestId('add-account').click();
  await p.getByTestId('add-account-form').getByTestId('account-name').fill(name);
  await p.getByTestId('add-account-submit').click();
  // Creating an account opens its link dialog with the first QR code.
  await expect(p.getByTestId('link-modal')).toBeVisible();
}

/** The phone scans the QR on show (again if the QR turned over between reading and scanning). */
async function scanShownQr(p: Page, phone?: string) {
  for (let attempt = 1; ; attempt++) {
    const qr = await p.getByTestId('qr').getAttribute('data-qr');
    expect(qr).toBeTruthy();
    try {
      await fake.scan(qr!, phone);
      return;
    } catch (e) {
      if (attempt === 3) throw e;
    }
  }
}

function row(p: Page, name: string) {
  return p.getByTestId('account-row').filter({ has: p.getByTestId('account-name').getByText(name, { exact: true }) });
}

async function openThread(p: Page, number: string) {
  await p.goto(url('/chats'));
  await hydrated(p);
  await p.getByTestId('conversation-row').filter({ hasText: `+${number}` }).first().click();
  await expect(p.getByTestId('thread')).toBeVisible();
}

function bubbles(p: Page, text: string) {
  return p.getByTestId('message').filter({ has: p.getByTestId('message-text').getByText(text, { exact: true }) });
}

/** The server stored these texts (checked through the REST API, not the page under test). */
async function storedTexts(p: Page, leadId: string): Promise<string[]> {
  const response = await p.request.get(url(`/api/conversations/${leadId}/messages?limit=200`));
  expect(response.status()).toBe(200);
  return (await response.json()).messages.map((m: { text: string | null }) => m.text);
}

test.beforeAll(async ({ browser }) => {
  fake = await Fake.start('whatsapp');
  await fake.addAccount(SECOND, '100000000000002', 'Second Phone');
  await fake.addAccount(ANA, '190000000009001', 'Ana Contact');
  await fake.addAccount(BEN, '190000000009002', 'Ben Contact');
  await fake.addAccount(CHLOE, '190000000009003', 'Chloe Contact');
  // Short QR codes, so turning over and running out are seen in seconds.
  server = await Server.start('whatsapp', fake, { WHATSAPP_QR_TIMEOUT: '5000' });
  owner = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await trackSockets(owner);
  page = await owner.newPage();
  await signUp(page, unique('owner'));
});

test.afterAll(async () => {
  await owner?.close();
  await server?.down();
  await fake?.stop();
});

test('add an account, the phone scans the QR: the dialog closes and the badge turns active', async () => {
  await expect(page.getByTestId('account-quota')).toContainText('0 of 5');
  await addAccount(page, 'Sales line');
  const qr = page.getByTestId('qr');
  await expect(qr.locator('svg')).toBeVisible();
  await expect(page.getByTestId('qr-countdown')).toContainText(/Refreshes in \d+ s/);
  await shoot(page, 'qr-modal');
  await scanShownQr(page);
  await expect(page.getByTestId('link-modal')).toHaveCount(0, { timeout: 20_000 });
  const sales = row(page, 'Sales line');
  await expect(sales).toHaveAttribute('data-status', 'active', { timeout: 20_000 });
  await expect(sales.getByTestId('account-phone')).toContainText(ME);
});

test('link with a pairing code instead', async () => {
  await addAccount(page, 'Second line');
  await page.getByTestId('link-by-phone').click();
  await page.getByTestId('link-phone').fill(`+${SECOND}`);
  await page.getByTestId('get-code').click();
  const code = page.getByTestId('pairing-code');
  await expect(code).toHaveText(/^[A-Z0-9]{4}-[A-Z0-9]{4}$/);
  await expect(page.getByTestId('code-countdown')).toContainText(/Valid for \d+ s/);
  await fake.enterCode((await code.textContent())!, SECOND);
  await expect(page.getByTestId('link-modal')).toHaveCount(0, { timeout: 20_000 });
  const second = row(page, 'Second line');
  await expect(second).toHaveAttribute('data-status', 'active', { timeout: 20_000 });
  await expect(second.getByTestId('account-phone')).toContainText(SECOND);
});

test('an expiring QR is replaced in place; when they run out, Try again starts over', async () => {
  await addAccount(page, 'Spare line');
  const qr = page.getByTestId('qr');
  const first = await qr.getAttribute('data-qr');
  const dialog = await page.getByTestId('link-modal').elementHandle();
  await expect.poll(() => qr.getAttribute('data-qr'), { timeout: 15_000 }).not.toBe(first);
  // The same dialog, not a new one.
  expect(await dialog!.evaluate((el) => el.isConnected)).toBe(true);
  // Six codes of 5 s each, then a clear end state.
  await expect(page.getByTestId('link-ended')).toBeVisible({ timeout: 45_000 });
  await page.getByTestId('link-retry').click();
  await expect(qr.locator('svg')).toBeVisible({ timeout: 15_000 });
  await page.getByTestId('close-link').click();
  await expect(page.getByTestId('link-modal')).toHaveCount(0);
  await expect(page.getByTestId('account-quota')).toContainText('3 of 5');
  await shoot(page, 'accounts');
});

let anaLead = '';

test('a contact writes: the conversation appears live with a new lead; the open thread gets the next message', async () => {
  await page.goto(url('/chats'));
  await hydrated(page);
  await fake.send(ANA, ME, 'Hi! Is the blue sofa still available?');
  const conversation = page.getByTestId('conversation-row').filter({ hasText: `+${ANA}` });
  await expect(conversation).toBeVisible({ timeout: 20_000 });
  await expect(conversation.getByTestId('conversation-preview')).toContainText('blue sofa');
  await expect(conversation.getByTestId('unread-count')).toHaveText('1');
  // Named as the contact's WhatsApp name once the server has it; the number stays visible.
  await expect(conversation.getByTestId('conversation-name')).toHaveText('Ana Contact');
  await expect(conversation.getByTestId('conversation-meta')).toContainText(`+${ANA}`);
  anaLead = (await conversation.getAttribute('data-lead'))!;
  await conversation.click();
  await expect(bubbles(page, 'Hi! Is the blue sofa still available?')).toHaveCount(1);
  await fake.send(ANA, ME, 'And does it come in green?');
  await expect(bubbles(page, 'And does it come in green?')).toHaveCount(1, { timeout: 20_000 });
  await expect(page.getByTestId('message').last()).toHaveAttribute('data-direction', 'in');
  // The lead exists on the Leads page (opened in another tab: this one keeps the thread).
  const leads = await owner.newPage();
  await leads.goto(url('/leads'));
  await expect(leads.getByTestId('lead-phone').getByText(`+${ANA}`, { exact: true })).toBeVisible();
  // … and opens into its chat.
  await leads.getByTestId('lead-row').filter({ hasText: `+${ANA}` }).getByTestId('lead-chat').click();
  await expect(leads).toHaveURL(new RegExp(`/chats\\?lead=${anaLead}$`));
  await expect(leads.getByTestId('message-text').getByText('And does it come in green?', { exact: true })).toBeVisible();
  await leads.close();
});

test('a reply reaches the contact with the exact text, and its tick goes delivered, then read', async () => {
  const input = page.getByTestId('composer-input');
  await input.fill('Yes, it is!');
  await input.press('Shift+Enter');
  await input.pressSequentially('Green too — 🛋️ <b>not bold</b>');
  await input.press('Enter');
  const text = 'Yes, it is!\nGreen too — 🛋️ <b>not bold</b>';
  const mine = page.getByTestId('message').filter({ has: page.getByTestId('message-text').getByText('Green too', { exact: false }) });
  // Shown at once (optimistic), then confirmed by the server.
  await expect(mine).toHaveCount(1);
  await expect(mine).toHaveAttribute('data-direction', 'out');
  await expect(input).toHaveValue('');
  await expect.poll(async () => (await fake.received(ANA)).map((r) => r.text), { timeout: 20_000 }).toContain(text);
  await expect(mine).toHaveAttribute('data-status', 'delivered', { timeout: 20_000 });
  const id = (await fake.received(ANA)).find((r) => r.text === text)!.id;
  await fake.receipt(ANA, ME, [id], 'read');
  await expect(mine).toHaveAttribute('data-status', 'read', { timeout: 20_000 });
  await expect(mine.getByTestId('message-text')).toHaveText(text);
  expect(await page.locator('b', { hasText: 'not bold' }).count()).toBe(0);
  await shoot(page, 'chat');
});

test('typing shows both ways', async () => {
  await fake.typing(ANA, ME, 'composing');
  await expect(page.getByTestId('thread-status')).toHaveText('typing…', { timeout: 20_000 });
  await fake.typing(ANA, ME, 'paused');
  await expect(page.getByTestId('thread-status')).not.toHaveText('typing…', { timeout: 20_000 });
  await page.getByTestId('composer-input').pressSequentially('Let me check', { delay: 30 });
  await expect
    .poll(async () => (await fake.seen()).some((s) => s.kind === 'composing' && s.to.startsWith(ANA)), { timeout: 20_000 })
    .toBe(true);
  await page.getByTestId('composer-input').fill('');
});

test('a template is filled in for the lead in the composer; one that needs a missing value is refused', async () => {
  for (const [name, content] of [
    ['Greeting', 'Hi {{first_name}}, this is {{company|the sofa team}}.'],
    ['Follow-up by email', 'I sent the brochure to {{email}}.'],
  ]) {
    const created = await page.request.post(url('/api/templates'), { data: { name, content } });
    expect(created.status()).toBe(201);
  }
  await page.getByTestId('insert-template').click();
  await expect(page.getByTestId('template-option')).toHaveCount(2);
  await shoot(page, 'template-picker');
  await page.getByTestId('template-option').filter({ hasText: 'Greeting' }).click();
  // Filled in, not sent: the user edits it before sending.
  await expect(page.getByTestId('composer-input')).toHaveValue('Hi Ana, this is the sofa team.');
  await page.getByTestId('insert-template').click();
  await page.getByTestId('template-option').filter({ hasText: 'Follow-up by email' }).click();
  await expect(page.getByText('needs {{email}}, and Ana Contact has none')).toBeVisible();
  await expect(page.getByTestId('composer-input')).toHaveValue('Hi Ana, this is the sofa team.');
  await page.getByTestId('composer-input').fill('');
  await page.getByTestId('insert-template').click();
  await expect(page.getByTestId('template-picker')).toHaveCount(0);
});

test('a dropped socket resumes from its cursor: what was sent meanwhile shows once', async () => {
  await page.evaluate(() => {
    const w = window as any;
    w.__blockSockets = true;
    for (const s of w.__sockets) s.close();
  });
  await expect(page.getByTestId('live-status')).toBeVisible({ timeout: 20_000 });
  const texts = ['While offline 1', 'While offline 2', 'While offline 3'];
  for (const t of texts) await fake.send(ANA, ME, t);
  await expect.poll(async () => (await storedTexts(page, anaLead)).filter((t) => texts.includes(t)).length, { timeout: 20_000 }).toBe(3);
  await expect(bubbles(page, texts[0])).toHaveCount(0);
  await page.evaluate(() => {
    (window as any).__blockSockets = false;
  });
  for (const t of texts) await expect(bubbles(page, t)).toHaveCount(1, { timeout: 30_000 });
  await expect(page.getByTestId('live-status')).toBeHidden();
  // Nothing doubled, nothing else new.
  await page.waitForTimeout(1000);
  for (const t of texts) await expect(bubbles(page, t)).toHaveCount(1);
});

test('a server restart mid-conversation: messages sent while it was down show once', async () => {
  await server.down();
  const texts = ['During the restart 1', 'During the restart 2'];
  for (const t of texts) await fake.send(ANA, ME, t);
  await expect(page.getByTestId('live-status')).toBeVisible({ timeout: 20_000 });
  await server.up();
  for (const t of texts) await expect(bubbles(page, t)).toHaveCount(1, { timeout: 45_000 });
  await expect(page.getByTestId('live-status')).toBeHidden();
  await page.waitForTimeout(1000);
  for (const t of [...texts, 'While offline 1', 'And does it come in green?']) await expect(bubbles(page, t)).toHaveCount(1);
  // The account came back by itself.
  await page.goto(url('/accounts'));
  await expect(row(page, 'Sales line')).toHaveAttribute('data-status', 'active', { timeout: 20_000 });
});

test('a 10,000-message thread opens on its newest page, scrolls to the oldest, and keeps the DOM small', async () => {
  test.setTimeout(600_000);
  const total = 10_000;
  const label = (i: number) => `Message ${String(i).padStart(5, '0')}`;
  // Sent in order, a few at a time: the engine decrypts and stores each one as it arrives.
  await page.goto('about:blank');
  for (let i = 1; i <= total; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, total - i + 1) }, (_, k) => fake.send(CHLOE, ME, label(i + k))));
  }
  let lead = '';
  await expect
    .poll(
      async () => {
        const list = await (await page.request.get(url('/api/conversations?limit=200'))).json();
        const chloe = list.find((c: { phone_number: string }) => c.phone_number === `+${CHLOE}`);
        lead = chloe?.lead_id ?? '';
        return chloe?.unread_count ?? 0;
      },
      { timeout: 300_000, intervals: [1000] },
    )
    .toBe(total);
  const started = Date.now();
  await page.goto(url(`/chats?lead=${lead}`));
  await expect(bubbles(page, label(total))).toBeVisible();
  console.log(`10,000-message thread: newest message on screen ${Date.now() - started} ms after navigation`);
  const messages = page.getByTestId('messages');
  const nodes = page.getByTestId('message');
  let most = 0;
  for (let i = 0; i < 400 && !(await page.getByTestId('thread-start').isVisible()); i++) {
    await messages.evaluate((el) => el.scrollTo(0, 0));
    await page.waitForTimeout(60);
    most = Math.max(most, await nodes.count());
  }
  await expect(page.getByTestId('thread-start')).toBeVisible();
  await expect(bubbles(page, label(1))).toBeVisible();
  most = Math.max(most, await nodes.count());
  console.log(`10,000-message thread: at most ${most} message nodes in the DOM while scrolling to the oldest`);
  expect(most).toBeLessThanOrEqual(300);
  expect(most).toBeGreaterThan(0);
});

test('another user sees none of it: pages, server functions, REST and the socket', async ({ browser }) => {
  const other = await browser.newContext();
  const intruder = await other.newPage();
  await signUp(intruder, unique('intruder'));
  await expect(intruder.getByText('No accounts yet')).toBeVisible();
  const accountId = await (await page.request.get(url('/api/accounts'))).json().then((l: { id: string }[]) => l[0].id);
  // REST.
  expect((await intruder.request.get(url(`/api/accounts/${accountId}`))).status()).toBe(404);
  expect((await intruder.request.get(url(`/api/conversations/${anaLead}/messages`))).status()).toBe(404);
  // Server functions (as the hydrated page calls them).
  const fn = (route: string, form: Record<string, string>) =>
    intruder.request.post(url(`/fn/${route}`), { form, headers: { origin: server.base } });
  expect((await fn('chats/thread', { lead_id: anaLead })).status()).toBe(404);
  expect((await fn('chats/send', { account_id: accountId, lead_id: anaLead, text: 'x', client_key: 'k' })).status()).toBe(404);
  expect((await fn('whatsapp/accounts/link', { id: accountId, method: 'qr', phone: '' })).status()).toBe(404);
  const own = await (await fn('chats/conversations', { search: '' })).text();
  expect(own).not.toContain(ANA);
  // Pages.
  await intruder.goto(url(`/chats?lead=${anaLead}`));
  await hydrated(intruder);
  await expect(intruder.getByText('blue sofa')).toHaveCount(0);
  await intruder.goto(url('/chats'));
  await expect(intruder.getByTestId('conversation-row')).toHaveCount(0);
  // The socket: everything the intruder's socket carries while the owner gets a message.
  await intruder.evaluate(() => {
    const w = window as any;
    w.__frames = [];
    const socket = new WebSocket(location.origin.replace('http', 'ws') + '/ws');
    socket.onmessage = (e) => w.__frames.push(String(e.data));
  });
  await fake.send(ANA, ME, 'A secret for the owner only');
  await expect.poll(async () => (await storedTexts(page, anaLead)).includes('A secret for the owner only'), { timeout: 20_000 }).toBe(true);
  await intruder.waitForTimeout(1500);
  const frames: string[] = await intruder.evaluate(() => (window as any).__frames);
  expect(frames.length).toBeGreaterThan(0); // the socket was open (its hello at least)
  for (const f of frames) {
    expect(f).not.toContain('secret');
    expect(f).not.toContain(ANA);
    expect(f).not.toContain(accountId);
  }
  await other.close();
});

test('a contact who writes STOP is shown opted out in the chat, and a reply is refused, not sent', async () => {
  await fake.send(BEN, ME, 'Stop');
  await page.goto(url('/chats'));
  await hydrated(page);
  // The lead took the contact's WhatsApp name.
  await page.getByTestId('conversation-row').filter({ hasText: 'Ben Contact' }).click();
  await expect(page.getByTestId('thread')).toBeVisible();
  await expect(page.getByTestId('opted-out')).toContainText('Opted out', { timeout: 20_000 });
  await expect(page.getByTestId('opted-out')).toContainText('Stop');
  await page.getByTestId('composer-input').fill('Are you sure?');
  await page.getByTestId('composer-input').press('Enter');
  const refused = bubbles(page, 'Are you sure?');
  await expect(refused).toHaveAttribute('data-status', 'failed', { timeout: 20_000 });
  await expect(refused.getByTestId('message-failed')).toContainText('opted out');
  // Nothing reached the contact.
  await page.waitForTimeout(1000);
  expect((await fake.received(BEN)).filter((r) => r.text === 'Are you sure?')).toHaveLength(0);
});

test('a logout from the phone (401) turns the badge expired with its reason', async () => {
  await page.goto(url('/accounts'));
  await hydrated(page);
  const device = (await fake.devices()).find((d) => d.user === SECOND);
  expect(device).toBeTruthy();
  await fake.kick(401, device);
  const second = row(page, 'Second line');
  await expect(second).toHaveAttribute('data-status', 'expired', { timeout: 20_000 });
  await expect(second.getByTestId('account-reason')).not.toBeEmpty();
  // The other account is untouched.
  await expect(row(page, 'Sales line')).toHaveAttribute('data-status', 'active');
});
