// Signing up and waiting for hydration, shared by the specs that run on the suite's own server
// (playwright.config.ts's baseURL).
import { expect, type Page } from '@playwright/test';

export const password = 'correct horse battery';

export const uniqueEmail = (who: string) =>
  `${who}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.test`;

export async function signUp(page: Page, email: string) {
  await page.goto('/signup');
  await page.getByTestId('auth-email').fill(email);
  await page.getByTestId('auth-password').fill(password);
  await page.getByTestId('auth-submit').click();
  await expect(page).toHaveURL(/\/$/);
}

export async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}
