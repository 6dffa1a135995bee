// Headless Chromium for page tests: Debian's /usr/bin/chromium driven by playwright-core (never a downloaded
// browser), with fake camera and microphone and auto-accepted permission prompts. A test without Chromium fails with
// the command that installs it (STYLE habit 11).
import { accessSync, constants } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const INSTALL_HINT = 'install Chromium: apt-get install -y chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // A fake camera (a 640x480 test card with a moving pacman) and microphone (a beep), granted without a prompt.
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];

/** $CHROMIUM or /usr/bin/chromium; throws with the install command when it is missing. */
export function chromiumPath(): string {
  const path = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`Chromium not found at ${path}; ${INSTALL_HINT}`);
  }
  return path;
}

export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: [...CHROMIUM_ARGS, ...extraArgs] });
}

export interface OpenedPage {
  page: Page;
  context: BrowserContext;
  /** console.error messages, uncaught exceptions and failed requests, in order. */
  errors: string[];
  close(): Promise<void>;
}

/**
 * Opens `path` (e.g. "/?stream=x") on http://127.0.0.1:PORT in a fresh context (its own permissions and storage),
 * collecting every console error and page error.
 */
export async function openPage(browser: Browser, port: number, path: string, init?: (p: OpenedPage) => Promise<void>): Promise<OpenedPage> {
  const context = await browser.newContext({ acceptDownloads: true });
  await context.grantPermissions(['camera', 'microphone'], { origin: `http://127.0.0.1:${port}` });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  page.on('requestfailed', (r) => {
    // The page's own WebSocket closing is not a failed request worth reporting.
    if (!r.url().startsWith('ws')) errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
  });
  const opened: OpenedPage = { page, context, errors, close: () => context.close() };
  // Before navigation: e.g. page.addInitScript() to stub an API the page probes at load.
  await init?.(opened);
  await page.goto(`http://127.0.0.1:${port}${path}`);
  return opened;
}

/** Waits until the page has probed its encoders and filled the pickers (main.ts sets body[data-ready]). */
export async function waitReady(page: Page, timeoutMs = 15_000): Promise<void> {
  await page.waitForSelector('body[data-ready="true"]', { timeout: timeoutMs });
}

/** Starts recording every data-state the status element takes, readable with stateLog(). */
export async function recordStates(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __states?: string[] };
    const el = document.querySelector('[data-testid="status"]');
    if (!el || w.__states) return;
    const log: string[] = [el.getAttribute('data-state') ?? ''];
    w.__states = log;
    new MutationObserver(() => {
      const s = el.getAttribute('data-state') ?? '';
      if (log[log.length - 1] !== s) log.push(s);
    }).observe(el, { attributes: true, attributeFilter: ['data-state'] });
  });
}

export async function stateLog(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __states?: string[] }).__states ?? []);
}

export async function waitState(page: Page, state: string, timeoutMs = 20_000): Promise<string> {
  await page.waitForSelector(`[data-testid="status"][data-state="${state}"]`, { timeout: timeoutMs });
  return (await page.textContent('[data-testid="status"]')) ?? '';
}
