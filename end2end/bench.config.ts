// The dashboard benchmark (bench/dashboard.spec.ts): same browser setup as the end-to-end tests,
// its own servers (no shared webServer).
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: './bench',
  outputDir: './test-results/bench',
  timeout: 600_000,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    },
  },
});
