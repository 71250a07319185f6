// Media in the chat against the real binary and the offline WhatsApp (whose media host really
// holds the encrypted files): a contact sends a photo, a PDF and a voice note, which show in the
// thread (the photo loads, the PDF downloads byte-identical, the voice note plays); the user sends
// a photo and a PDF from the composer, which the contact's phone decrypts (the PDF byte-identical,
// the photo as a re-encoded JPEG). Screenshots at 360 and 1280 px.
import { test, expect, type Page, type BrowserContext } from '@playwright/test';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { Fake, Server, artifacts, signUpWithLinkedAccount } from './support/stack';

test.describe.configure({ mode: 'serial' });

const ME = '15550001111';
const DANA = '15550008001';

let fake: Fake;
let server: Server;
let context: BrowserContext;
let page: Page;
let leadId = '';

const url = (p: string) => server.base + p;

async function hydrated(p: Page) {
  await expect(p.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

async function shoot(p: Page, name: string) {
  for (const width of [360, 1280]) {
    await p.setViewportSize({ width, height: 800 });
    await p.waitForTimeout(200);
    await p.screenshot({ path: path.join(artifacts, `${name}-${width}.png`) });
  }
  await p.setViewportSize({ width: 1280, height: 800 });
}

// --- Files made here, so the test depends on no fixture ---------------------------------------

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
/** A `width`×`height` PNG with a colour gradient. */
function png(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) {
      row[1 + x * 3] = (x * 255) / width;
      row[2 + x * 3] = (y * 255) / height;
      row[3 + x * 3] = 160;
    }
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
/** One second of a 440 Hz tone as 16-bit mono WAV (what Chromium plays without a codec pack). */
function wav(): Buffer {
  const rate = 8000;
  const samples = rate;
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) data.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 8000), i * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}
function pdf(title: string): Buffer {
  const lines = ['%PDF-1.4', `% ${title}`];
  for (let i = 1; i <= 200; i++) lines.push(`${i} 0 obj << /Page ${i} >> endobj`);
  lines.push('%%EOF');
  return Buffer.from(lines.join('\n') + '\n');
}

test.beforeAll(async ({ browser }) => {
  fake = await Fake.start('media');
  await fake.addAccount(DANA, '190000000008001', 'Dana Contact');
  server = await Server.start('media', fake);
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  page = await context.newPage();
  await signUpWithLinkedAccount(page, server, fake, 'media');
});

test.afterAll(async () => {
  await context?.close();
  await server?.down();
  await fake?.stop();
});

const brochure = pdf('Dana price list');
const tone = wav();

test('a photo, a PDF and a voice note from a contact show in the thread: the photo loads, the PDF downloads intact, the voice note plays', async () => {
  await fake.sendMedia(DANA, ME, { kind: 'image', data: png(320, 200), mimetype: 'image/png', caption: 'The sofa in blue', width: 320, height: 200 });
  await fake.sendMedia(DANA, ME, { kind: 'document', data: brochure, mimetype: 'application/pdf', file_name: 'Price list.pdf' });
  await fake.sendMedia(DANA, ME, { kind: 'audio', data: tone, mimetype: 'audio/wav', ptt: true, seconds: 1 });
  await page.goto(url('/chats'));
  await hydrated(page);
  const conversation = page.getByTestId('conversation-row').filter({ hasText: `+${DANA}` });
  await expect(conversation).toBeVisible({ timeout: 20_000 });
  leadId = (await conversation.getAttribute('data-lead'))!;
  await conversation.click();
  await expect(page.getByTestId('thread')).toBeVisible();

  // The photo, with its caption, actually decoded by the browser.
  const photo = page.getByTestId('media-image').first();
  await expect(photo).toBeVisible({ timeout: 20_000 });
  await expect(page.getByTestId('message-text').getByText('The sofa in blue', { exact: true })).toBeVisible();
  await expect.poll(() => photo.locator('img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(320);

  // The PDF: a card with its name and size; the download is the file the contact sent.
  const card = page.getByTestId('media-document').first();
  await expect(card).toBeVisible({ timeout: 20_000 });
  await expect(card.getByTestId('document-name')).toHaveText('Price list.pdf');
  const [download] = await Promise.all([page.waitForEvent('download'), card.click()]);
  expect(download.suggestedFilename()).toBe('Price list.pdf');
  expect(readFileSync((await download.path())!).equals(brochure)).toBe(true);

  // The voice note plays.
  const audio = page.getByTestId('media-audio').first();
  await expect(audio).toBeVisible({ timeout: 20_000 });
  await expect(audio).toContainText('Voice note · 0:01');
  const played = await audio.locator('audio').evaluate(async (el: HTMLAudioElement) => {
    el.muted = true;
    await el.play();
    await new Promise((r) => setTimeout(r, 400));
    return el.currentTime;
  });
  expect(played).toBeGreaterThan(0);
  await shoot(page, 'chat-media-received');
});

test('a photo and a PDF sent from the composer reach the contact, with an upload progress bar', async () => {
  const input = page.getByTestId('composer-input');
  // The text typed so far goes as the caption.
  await input.fill('Here is our brochure');
  const offer = pdf('Rarity brochure 2027');
  await page.getByTestId('attach-input').setInputFiles({ name: 'Brochure 2027.pdf', mimeType: 'application/pdf', buffer: offer });
  const sentCard = page.getByTestId('message').filter({ has: page.getByTestId('document-name').getByText('Brochure 2027.pdf') });
  await expect(sentCard).toHaveCount(1, { timeout: 20_000 });
  await expect(sentCard).toHaveAttribute('data-direction', 'out');
  await expect(sentCard.getByTestId('message-text')).toHaveText('Here is our brochure');
  await expect(input).toHaveValue('');
  await expect(sentCard).toHaveAttribute('data-status', /delivered|read/, { timeout: 20_000 });
  const pdfId = (await sentCard.getAttribute('data-message-id'))!;
  const got = await fake.receivedMedia(DANA, pdfId);
  expect(got.kind).toBe('document');
  expect(got.file_name).toBe('Brochure 2027.pdf');
  expect(got.data.equals(offer)).toBe(true);

  // A photo, through the same input: shown as sent, received by the phone as a JPEG.
  await page.getByTestId('attach-input').setInputFiles({ name: 'sofa.png', mimeType: 'image/png', buffer: png(400, 300) });
  const outPhotos = page.locator('[data-testid="message"][data-direction="out"]').filter({ has: page.getByTestId('media-image') });
  await expect(outPhotos).toHaveCount(1, { timeout: 20_000 });
  await expect(outPhotos.first()).toHaveAttribute('data-status', /delivered|read/, { timeout: 20_000 });
  const photoId = (await outPhotos.first().getAttribute('data-message-id'))!;
  const photo = await fake.receivedMedia(DANA, photoId);
  expect(photo.kind).toBe('image');
  expect(photo.mimetype).toBe('image/jpeg');
  expect([...photo.data.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
  await expect
    .poll(() => outPhotos.first().locator('img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth))
    .toBe(400);

  // A file the server refuses (an image claim on a PDF) is explained, and nothing is sent.
  const before = (await fake.received(DANA)).length;
  await page.getByTestId('attach-input').setInputFiles({ name: 'fake.png', mimeType: 'image/png', buffer: offer });
  await expect(page.getByText(/claims to be image\/png/)).toBeVisible({ timeout: 10_000 });
  expect((await fake.received(DANA)).length).toBe(before);
  await shoot(page, 'chat-media-sent');

  // The server has every file of the thread, each served only to this user.
  const messages = (await (await page.request.get(url(`/api/conversations/${leadId}/messages?limit=50`))).json()).messages;
  const withFiles = messages.filter((m: { media?: { state: string } }) => m.media);
  expect(withFiles.length).toBe(5);
  expect(withFiles.every((m: { media: { state: string } }) => m.media.state === 'stored')).toBe(true);
});
