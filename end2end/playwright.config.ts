// End-to-end tests against the real server binary (built by `scripts/build-site.sh --dev`), its embedded
// PostgreSQL (no DATABASE_URL: the default path a user gets) and Debian's Chromium.
import { defineConfig } from '@playwright/test';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

const port = Number(process.env.E2E_PORT ?? 3107);
const root = path.resolve(here, '..');
// A build in another target directory (CARGO_TARGET_DIR) can be tested with E2E_TARGET_DIR.
const targetDir = process.env.E2E_TARGET_DIR ?? path.join(root, 'target');
const dataDir = mkdtempSync(path.join(tmpdir(), 'rarity-e2e-'));
// When the tests run as root, the embedded cluster runs as the `postgres` user, which must be able
// to reach its directory inside this one.
chmodSync(dataDir, 0o755);

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: {
    command: path.join(targetDir, 'debug/server'),
    url: `http://127.0.0.1:${port}/readyz`,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 20_000 },
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LEPTOS_SITE_ROOT: path.join(targetDir, 'site'),
      SESSION_ENCRYPTION_KEY: '0f1e2d3c4b5a69788796a5b4c3d2e1f000112233445566778899aabbccddeeff',
      RUST_LOG: 'info',
    },
  },
});
