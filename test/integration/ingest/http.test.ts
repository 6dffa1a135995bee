// The HTTP side the page needs before it publishes: GET /api/config, the page itself (or a 404 when it was not
// built), and the edges of the static and API routes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PageConfig } from '../../../shared/protocol.ts';
import { startTestRelay, type TestRelay } from '../../support/relay.ts';
import { getJson } from './helpers.ts';

let relay: TestRelay;
let webRelay: TestRelay;
let webRoot: string;
let emptyRoot: string;

beforeAll(async () => {
  webRoot = mkdtempSync(join(tmpdir(), 'relaycast-web-'));
  // Stands for a checkout whose page was never built (dist/web may or may not exist in this one).
  emptyRoot = mkdtempSync(join(tmpdir(), 'relaycast-noweb-'));
  writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>relaycast test page</title>\n');
  writeFileSync(join(tmpdir(), 'relaycast-outside-webroot.txt'), 'outside\n');
  [relay, webRelay] = await Promise.all([
    startTestRelay(['--output', 'rtmp://127.0.0.1:1935/live/{stream}', '--output', 'rtmp://a.example/app/very-secret-stream-key'], { webRoot: emptyRoot }),
    startTestRelay([], { webRoot }),
  ]);
});

afterAll(async () => {
  await Promise.all([relay?.close(), webRelay?.close()]);
  rmSync(webRoot, { recursive: true, force: true });
  rmSync(emptyRoot, { recursive: true, force: true });
});

/** A request exactly as written (fetch would normalise "/../"). */
function rawGet(port: number, path: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP', () => {
  it('GET /api/config is the PageConfig, with outputs masked', async () => {
    const r = await getJson<PageConfig>(relay.relay.http.port(), '/api/config');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      version: 1,
      rtspPort: relay.rtspPort,
      tokenRequired: false, // loopback
      keyframeIntervalMs: 2000,
      videoCodecs: ['avc1'],
      audioCodecs: ['opus'],
      outputs: [
        { url: 'rtmp://127.0.0.1:1935/live/{stream}', kind: 'rtmp' },
        { url: 'rtmp://a.example/app/ve…ey', kind: 'rtmp' },
      ],
    });
    expect(JSON.stringify(r.body)).not.toContain('very-secret-stream-key');
  });

  it('GET /api/streams is an empty list with nothing published; unknown API paths are JSON 404s', async () => {
    expect(await getJson(relay.relay.http.port(), '/api/streams')).toEqual({ status: 200, body: [] });
    const r = await rawGet(relay.relay.http.port(), '/api/nope');
    expect(r.status).toBe(404);
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.body)).toEqual({ error: 'no API at /api/nope' });
  });

  it('GET / without a built page (empty web root) is a plain 404, not a crash', async () => {
    const r = await rawGet(relay.relay.http.port(), '/?stream=cam1');
    expect(r.status).toBe(404);
    expect(r.body).toBe('not found\n');
  });

  it('GET / serves the page from the web root, with its security headers', async () => {
    const r = await rawGet(webRelay.relay.http.port(), '/?stream=cam1');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['content-security-policy']).toContain("default-src 'self'");
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.body).toContain('relaycast test page');
  });

  it('nothing outside the web root is served, and only GET/HEAD are allowed', async () => {
    const port = webRelay.relay.http.port();
    for (const path of ['/../relaycast-outside-webroot.txt', '/%2e%2e/relaycast-outside-webroot.txt', '/..%2frelaycast-outside-webroot.txt', '/%00index.html', '/%zz']) {
      const r = await rawGet(port, path);
      expect(r.status, path).toBe(404);
      expect(r.body, path).not.toContain('outside');
    }
    expect((await rawGet(port, '/', 'POST')).status).toBe(405);
    expect((await rawGet(port, '/api/streams', 'DELETE')).status).toBe(405);
    expect((await rawGet(port, '/', 'HEAD')).status).toBe(200);
  });
});
