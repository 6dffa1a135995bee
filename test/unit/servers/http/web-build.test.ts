// The relay checks the pages' build and never builds it itself (server/build-web.ts does, before it starts): each
// state of a root directory, and what the relay logs for it.
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../server/log.ts';
import { checkWebBuilt, webBuildState } from '../../../../server/servers/http/web-build.ts';

const roots: string[] = [];
afterEach(() => roots.splice(0).forEach((r) => rmSync(r, { recursive: true, force: true })));

/** A root with web/index.html and shared/a.ts at `sourcesAt`, and dist/web/index.html at `builtAt` (seconds) if given. */
function root(sourcesAt: number, builtAt?: number): string {
  const r = mkdtempSync(path.join(os.tmpdir(), 'relaycast-web-build-'));
  roots.push(r);
  const file = (rel: string, t: number) => {
    mkdirSync(path.dirname(path.join(r, rel)), { recursive: true });
    writeFileSync(path.join(r, rel), 'x');
    utimesSync(path.join(r, rel), t, t);
  };
  file('web/index.html', sourcesAt - 10);
  file('shared/a.ts', sourcesAt);
  if (builtAt !== undefined) file('dist/web/index.html', builtAt);
  return r;
}

function logged(r: string): Array<{ level: number; event: string; message: string }> {
  const lines: string[] = [];
  checkWebBuilt(createLogger({ sink: (l) => lines.push(l) }), r);
  return lines.map((l) => JSON.parse(l) as { level: number; event: string; message: string });
}

describe('webBuildState and checkWebBuilt', () => {
  it('fresh: built after the newest source (web/ or shared/); nothing logged', () => {
    const r = root(1_700_000_000, 1_700_000_100);
    expect(webBuildState(r)).toBe('fresh');
    expect(logged(r)).toEqual([]);
  });
  it('stale: a file in shared/ newer than the build; the warning names the command', () => {
    const r = root(1_700_000_200, 1_700_000_100);
    expect(webBuildState(r)).toBe('stale');
    expect(logged(r)).toMatchObject([{ event: 'web-stale', message: expect.stringContaining('npm run build') }]);
  });
  it('missing: no dist/web; the warning says the rest of the relay works', () => {
    const r = root(1_700_000_000);
    expect(webBuildState(r)).toBe('missing');
    expect(logged(r)).toMatchObject([{ event: 'web-missing', message: expect.stringMatching(/npm run build.*RTSP/) }]);
  });
  it('no-sources: no web/index.html', () => {
    const r = mkdtempSync(path.join(os.tmpdir(), 'relaycast-web-build-'));
    roots.push(r);
    expect(webBuildState(r)).toBe('no-sources');
    expect(logged(r)).toMatchObject([{ event: 'web-missing' }]);
  });
});
