// DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 reaches the server from loopback with
// Host and Origin both evil.example. It must not get loopback's no-token publishing, nor be told no token is needed.
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLISH_PATH, type PageConfig } from '../../../shared/protocol.ts';
import { startTestRelay, type TestRelay } from '../../support/relay.ts';
import http from 'node:http';

let t: TestRelay;
beforeAll(async () => {
  t = await startTestRelay(['--publish-token', 'rebinding-secret']);
});
afterAll(async () => {
  await t.close();
});

/** Send hello as a page served from `host` (Origin = http://host) would; answer the server's first message. */
function hello(port: number, host: string): Promise<{ type: string; code?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${PUBLISH_PATH}`, { headers: { Host: host }, origin: `http://${host}` });
    ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', version: 1, stream: 'rebound', video: { codec: 'avc1.42e01f', width: 640, height: 360, framerate: 30, bitrate: 1e6 } })));
    ws.once('message', (d) => {
      resolve(JSON.parse(String(d)) as { type: string; code?: string });
      ws.terminate();
    });
    ws.once('unexpected-response', (_q, r) => reject(new Error(`HTTP ${r.statusCode}`)));
    ws.on('error', () => {});
  });
}

/** GET /api/config with the given Host header, from loopback. */
function pageConfig(port: number, host: string): Promise<PageConfig> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/api/config', headers: { Host: host } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(JSON.parse(body) as PageConfig));
    }).on('error', reject);
  });
}

const REBOUND = ['127.0.0.1.evil.example', '127.evil.example', '127.1.2.3.nip.io', '127.0.0.1.EVIL.Example', '127.evil.example.', 'localhost.', 'evil.example'];

describe('DNS rebinding', () => {
  it.each(REBOUND.flatMap((h) => [h, `${h}:PORT`]))('Host %s gets no loopback trust', async (spelling) => {
    const port = t.relay.http.port();
    const host = spelling.replace('PORT', String(port));
    expect(await hello(port, host)).toMatchObject({ type: 'refused', code: 'bad-token' });
    expect((await pageConfig(port, host)).tokenRequired).toBe(true);
  });

  it.each(['localhost:PORT', 'LOCALHOST:PORT', '127.0.0.1:PORT', '127.0.0.1'])('Host %s on loopback publishes without the token', async (spelling) => {
    const port = t.relay.http.port();
    const host = spelling.replace('PORT', String(port));
    expect(await hello(port, host)).toMatchObject({ type: 'accepted' });
    expect((await pageConfig(port, host)).tokenRequired).toBe(false);
  });
});
