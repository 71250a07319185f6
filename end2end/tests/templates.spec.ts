// Templates against the real binary: the new-template form previews the message as a chosen lead
// would get it (values, first name, fallbacks) and says which value a lead lacks; saved templates
// are listed with their variables.
import { test, expect } from '@playwright/test';
import { hydrated, signUp, uniqueEmail } from './support/auth';

test('a template previews for a chosen lead, names what the lead lacks, and is saved', async ({ page }) => {
  await signUp(page, uniqueEmail('templates'));
  await page.getByTestId('nav-leads').click();
  await hydrated(page);
  await page.getByTestId('input-name').fill('Olga Preview');
  await page.getByTestId('input-phone').fill('+44 7700 900555');
  await page.getByTestId('input-company').fill('Acme Sofas');
  await page.getByTestId('lead-submit').click();
  await expect(page.getByTestId('lead-row').filter({ hasText: 'Olga Preview' })).toBeVisible();

  await page.getByTestId('nav-templates').click();
  await hydrated(page);
  const content = page.getByTestId('input-content');
  await content.fill('Hi {{first_name}} at {{company}}, we will write to {{email|your phone}}.');
  await expect(page.getByTestId('preview-text')).toHaveText('Choose a lead to see the message they would get.');
  await page.getByTestId('preview-lead').selectOption({ label: 'Olga Preview (+447700900555)' });
  await expect(page.getByTestId('preview-text')).toHaveText('Hi Olga at Acme Sofas, we will write to your phone.');
  await content.fill('Hi {{first_name}}, your email is {{email}}.');
  await expect(page.getByTestId('preview-text')).toContainText('Olga Preview has no {{email}}');

  await page.getByTestId('template-form').getByLabel('Name').fill('Welcome');
  await page.getByTestId('template-submit').click();
  const row = page.getByTestId('template-row').filter({ hasText: 'Welcome' });
  await expect(row).toBeVisible();
  await expect(row).toContainText('{{first_name}}');
  await expect(row).toContainText('{{email}}');
});
