import { describe, expect, it } from 'vitest';
import { pageFile } from '../../../../server/servers/http/static.ts';

describe('pageFile: the pages\' own routes', () => {
  it('maps / to the publisher page, /status to the status page and /watch/NAME to the viewer page', () => {
    expect(pageFile('/')).toBe('/index.html');
    expect(pageFile('/status')).toBe('/status/index.html');
    expect(pageFile('/status/')).toBe('/status/index.html');
    expect(pageFile('/watch/cam-1.main_2')).toBe('/view/index.html');
  });

  it('refuses /watch/NAME for a name that breaks the name rule', () => {
    for (const bad of ['/watch/', '/watch/..', '/watch/.hidden', '/watch/a b', '/watch/' + 'x'.repeat(65), '/watch/a/b']) {
      expect(pageFile(bad), bad).toBe(bad === '/watch/a/b' ? '/watch/a/b' : undefined);
    }
  });

  it('leaves every other path as it is (the root check in serveStatic confines it)', () => {
    expect(pageFile('/assets/x.js')).toBe('/assets/x.js');
    expect(pageFile('/view/index.html')).toBe('/view/index.html');
  });
});
