// DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 reaches the server from loopback with
// Host and Origin both evil.example. It must not get loopback's no-token publishing.
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLISH_PATH } from '../../../shared/protocol.ts';
import { startTestRelay, type TestRelay } from '../../support/relay.ts';

let t: TestRelay;
beforeAll(async () => {
  t = await startTestRelay();
});
afterAll(async () => {
  await t.close();
});

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

describe('DNS rebinding', () => {
  it('a rebound name gets no loopback trust; localhost and 127.0.0.1 do', async () => {
    const port = t.relay.http.port();
    expect(await hello(port, `evil.example:${port}`)).toMatchObject({ type: 'refused', code: 'bad-token' });
    expect(await hello(port, `localhost:${port}`)).toMatchObject({ type: 'accepted' });
  });
});
