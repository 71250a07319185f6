// Templates against the real binary: the new-template form previews the message as a chosen lead
// would get it (values, first name, fallbacks) and says which value a lead lacks; saved templates
// are listed with their variables and edited in place; a new user adds the starter set in one click.
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

  // Edited in place: a new name, category and text; the variables follow the text.
  await row.getByTestId('template-edit').click();
  const form = page.getByTestId('template-edit-form');
  await form.getByTestId('edit-name').fill('Welcome back');
  await form.getByTestId('edit-category').fill('welcome');
  await form.getByTestId('edit-content').fill('Hello again {{first_name|there}}!');
  await form.getByTestId('template-save').click();
  const edited = page.getByTestId('template-row').filter({ hasText: 'Welcome back' });
  await expect(edited.getByTestId('template-content')).toHaveText('Hello again {{first_name|there}}!');
  await expect(edited.getByTestId('template-category')).toHaveText('welcome');
  await expect(edited).not.toContainText('{{email}}');
  await page.reload();
  await expect(page.getByTestId('template-row').filter({ hasText: 'Welcome back' })).toBeVisible();
});

test('a new user can add the starter templates in one click', async ({ page }) => {
  await signUp(page, uniqueEmail('starters'));
  await page.getByTestId('nav-templates').click();
  await hydrated(page);
  await page.getByTestId('add-starters').click();
  await expect(page.getByTestId('template-row')).toHaveCount(4);
  for (const name of ['Welcome', 'Follow-up', 'Special offer', 'Call reminder']) {
    await expect(page.getByTestId('template-name').getByText(name, { exact: true })).toBeVisible();
  }
  // Only for an empty list: asking again is refused.
  const again = await page.request.post('/fn/templates/starters', { form: {} });
  expect(again.status()).toBe(409);
});
