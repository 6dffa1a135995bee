// --tls-cert/--tls-key: the page, the API and the publisher WebSocket over HTTPS/WSS, so browsers on other machines
// (secure context required for cameras) can publish. A self-signed certificate made with openssl.
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLISH_PATH } from '../../../shared/protocol.ts';
import { startTestRelay, type TestRelay } from '../../support/relay.ts';

let dir: string;
let t: TestRelay;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'relaycast-tls-'));
  await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1']);
  t = await startTestRelay(['--tls-cert', path.join(dir, 'cert.pem'), '--tls-key', path.join(dir, 'key.pem')]);
});
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

function httpsGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { rejectUnauthorized: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('HTTPS and WSS', () => {
  it('serves the API over HTTPS', async () => {
    const r = await httpsGet(`https://127.0.0.1:${t.relay.http.port()}/api/config`);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ version: 1, rtspPort: t.rtspPort });
  });

  it('accepts a publisher over WSS from its own https origin, and refuses the http origin', async () => {
    const port = t.relay.http.port();
    const hello = (origin: string) =>
      new Promise<{ opened: boolean; status?: number; answer?: { type: string } }>((resolve) => {
        const ws = new WebSocket(`wss://127.0.0.1:${port}${PUBLISH_PATH}`, { origin, rejectUnauthorized: false });
        ws.once('unexpected-response', (_req, res) => {
          resolve({ opened: false, status: res.statusCode ?? 0 });
          ws.terminate();
        });
        ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', version: 1, stream: 'tls', video: { codec: 'avc1.42e01f', width: 640, height: 360, framerate: 30, bitrate: 1e6 } })));
        ws.once('message', (data) => {
          resolve({ opened: true, answer: JSON.parse(String(data)) as { type: string } });
          ws.close(1000);
        });
        ws.on('error', () => {});
      });
    expect(await hello(`https://127.0.0.1:${port}`)).toMatchObject({ opened: true, answer: { type: 'accepted' } });
    expect(await hello(`http://127.0.0.1:${port}`)).toMatchObject({ opened: false, status: 403 });
  });
});
