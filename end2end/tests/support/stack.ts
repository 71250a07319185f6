// A private stack for the WhatsApp end-to-end tests: the offline WhatsApp binary (the stand-in
// for WhatsApp, which is unreachable here) with its control API, and the real server binary
// pointed at it, with its own embedded PostgreSQL under a throwaway DATA_DIR. The server can be
// stopped and started again on the same port and data, as a deployment restarts.
import { spawn, type ChildProcess } from 'node:child_process';
import { expect, type Page } from '@playwright/test';
import { password, uniqueEmail } from './auth';
import { chmodSync, createWriteStream, mkdirSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
export const targetDir = process.env.E2E_TARGET_DIR ?? path.join(root, 'target');
// `release` for the benchmark; the tests use the debug build of `scripts/build-site.sh --dev`.
const profile = process.env.E2E_PROFILE ?? 'debug';
export const artifacts = path.join(here, '../../artifacts');
const logs = path.join(here, '../../test-results/logs');
mkdirSync(artifacts, { recursive: true });
mkdirSync(logs, { recursive: true });

export const SESSION_KEY = '8f1e2d3c4b5a69788796a5b4c3d2e1f000112233445566778899aabbccddeeff';

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export type Received = { from: string; id: string; kind: string; text: string | null; media?: { kind: string; mimetype: string; file_name?: string; ptt?: boolean } | null };
export type Seen = { from: string; to: string; kind: string; ids: string[] };

/** The offline WhatsApp, driven through its control API. */
export class Fake {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly root: string,
    readonly control: string,
  ) {}

  static async start(name: string): Promise<Fake> {
    const child = spawn(path.join(targetDir, profile, 'fake-whatsapp'), ['--port', '0', '--control-port', '0'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: 'fake_whatsapp=warn' },
    });
    child.stderr!.pipe(createWriteStream(path.join(logs, `${name}-fake.log`)));
    const found: Record<string, string> = {};
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the offline WhatsApp did not start')), 30_000);
      child.once('exit', (code) => reject(new Error(`the offline WhatsApp exited with ${code}`)));
      lines.on('line', (line) => {
        const [key, value] = line.split(' ', 2);
        found[key] = value;
        if (found.url && found.root && found.control) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return new Fake(child, found.url, found.root, found.control);
  }

  async stop(): Promise<void> {
    this.child.kill('SIGKILL');
    await exited(this.child);
  }

  async call(method: string, route: string, body?: unknown): Promise<any> {
    const response = await fetch(this.control + route, {
      method,
      headers: body === undefined || typeof body === 'string' ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${route} → ${response.status} ${text}`);
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  /** A phone of its own on this WhatsApp (the default one is +15550001111). */
  addAccount(user: string, lid: string, name: string) {
    return this.call('POST', '/accounts', { user, lid, name });
  }
  scan(qr: string, account?: string) {
    return this.call('POST', account ? `/scan?account=${account}` : '/scan', qr);
  }
  enterCode(code: string, account?: string) {
    return this.call('POST', account ? `/pair-code?account=${account}` : '/pair-code', { code });
  }
  async send(from: string, to: string, text: string): Promise<string> {
    return (await this.call('POST', `/accounts/${from}/send`, { to, text })).id;
  }
  receipt(from: string, to: string, ids: string[], type?: 'read' | 'played') {
    return this.call('POST', `/accounts/${from}/receipt`, { to, ids, type });
  }
  typing(from: string, to: string, state: 'composing' | 'paused') {
    return this.call('POST', `/accounts/${from}/typing`, { to, state });
  }
  presence(from: string, available: boolean) {
    return this.call('POST', `/accounts/${from}/presence`, { available });
  }
  /** That phone encrypts `data`, puts it on the media host and sends it (see the control API). */
  async sendMedia(from: string, to: string, media: { kind: string; data: Buffer; mimetype: string; [k: string]: unknown }): Promise<string> {
    const { data, ...rest } = media;
    return (await this.call('POST', `/accounts/${from}/send-media`, { to, ...rest, data: data.toString('base64') })).id;
  }
  /** The media that phone received in message `id`, downloaded and verified: its bytes and description. */
  async receivedMedia(user: string, id: string): Promise<{ data: Buffer; mimetype: string; file_name?: string; kind: string; ptt?: boolean }> {
    const media = await this.call('GET', `/accounts/${user}/received/${id}/media`);
    return { ...media, data: Buffer.from(media.data, 'base64') };
  }
  received(user: string): Promise<Received[]> {
    return this.call('GET', `/accounts/${user}/received`);
  }
  seen(): Promise<Seen[]> {
    return this.call('GET', '/seen');
  }
  devices(): Promise<{ user: string; device: number; lid: string }[]> {
    return this.call('GET', '/devices');
  }
  kick(code: number, device?: { user: string; device: number }) {
    const only = device ? `?user=${device.user}&device=${device.device}` : '';
    return this.call('POST', `/kick/${code}${only}`);
  }
}

/** The real server binary with its own embedded PostgreSQL. */
export class Server {
  private child: ChildProcess | null = null;
  private runs = 0;
  readonly base: string;

  private constructor(
    readonly name: string,
    readonly port: number,
    readonly dataDir: string,
    private readonly env: Record<string, string>,
  ) {
    this.base = `http://127.0.0.1:${port}`;
  }

  /** `fake` = the offline WhatsApp to point the engine at (none for demo mode). */
  static async start(name: string, fake: Fake | null, env: Record<string, string> = {}): Promise<Server> {
    const dataDir = mkdtempSync(path.join(tmpdir(), `rarity-${name}-`));
    // As root, the embedded cluster runs as `postgres`, which must reach its directory.
    chmodSync(dataDir, 0o755);
    const server = new Server(name, await freePort(), dataDir, {
      ...(fake ? { WHATSAPP_SERVER_URL: fake.url, WHATSAPP_ROOT_PUBLIC_KEY: fake.root } : {}),
      ...env,
    });
    await server.up();
    return server;
  }

  /** Starts the binary (again) and waits until it is ready. */
  async up(): Promise<void> {
    this.runs += 1;
    const child = spawn(path.join(targetDir, profile, 'server'), [], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(this.port),
        DATA_DIR: this.dataDir,
        LEPTOS_SITE_ROOT: path.join(targetDir, 'site'),
        SESSION_ENCRYPTION_KEY: SESSION_KEY,
        RUST_LOG: 'info',
        LOG_FORMAT: 'text',
        ...this.env,
      },
    });
    const log = createWriteStream(path.join(logs, `${this.name}-server-${this.runs}.log`));
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    this.child = child;
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}; see ${logs}`);
      try {
        const response = await fetch(`${this.base}/readyz`);
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error('the server did not become ready');
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Stops the binary as a deployment does (SIGTERM, then waits). */
  async down(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited(child);
    clearTimeout(timer);
  }
}

/**
 * Signs a new user up on `server` in `page` and links one WhatsApp account (named `name`) with
 * the fake's default phone, through the REST API (the account manager has its own spec).
 * Returns the account id.
 */
export async function signUpWithLinkedAccount(page: Page, server: Server, fake: Fake, who: string, name = 'Sales line'): Promise<string> {
  const url = (p: string) => server.base + p;
  await page.goto(url('/signup'));
  await page.getByTestId('auth-email').fill(uniqueEmail(who));
  await page.getByTestId('auth-password').fill(password);
  await page.getByTestId('auth-submit').click();
  await expect(page).toHaveURL(/\/$/);
  const created = await page.request.post(url('/api/accounts'), { data: { session_name: name } });
  expect(created.status()).toBe(201);
  const id = (await created.json()).id;
  const link = await page.request.post(url(`/api/accounts/${id}/link`), { data: { method: 'qr' } });
  expect(link.status()).toBe(202);
  await fake.scan((await link.json()).qr);
  await expect
    .poll(async () => (await (await page.request.get(url(`/api/accounts/${id}`))).json()).status, { timeout: 20_000 })
    .toBe('active');
  return id;
}
