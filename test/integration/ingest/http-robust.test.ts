// Hostile HTTP on the page/API port: malformed targets and resets during an upgrade answer or close that one
// connection; the server keeps serving.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRelay, type TestRelay } from '../../support/relay.ts';

let t: TestRelay;
beforeAll(async () => {
  t = await startTestRelay();
});
afterAll(async () => {
  await t.close();
});

function rawHttp(port: number, text: string, resetAfterWrite = false): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(text);
      if (resetAfterWrite) s.resetAndDestroy();
    });
    let out = '';
    s.on('data', (d) => (out += d.toString()));
    s.on('error', () => resolve(out));
    s.on('close', () => resolve(out));
    setTimeout(() => s.destroy(), 2000);
  });
}

const upgrade = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;

describe('hostile HTTP', () => {
  it('answers a malformed upgrade target with 400 and a malformed plain target with 400', async () => {
    const port = t.relay.http.port();
    expect(await rawHttp(port, upgrade('//['))).toMatch(/^HTTP\/1\.1 400/);
    expect(await rawHttp(port, 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
  });

  it('survives resets while it answers refused upgrades', async () => {
    const port = t.relay.http.port();
    for (let i = 0; i < 20; i++) {
      await rawHttp(port, upgrade('/nope'), true);
      await rawHttp(port, upgrade('/ws/publish', 'Origin: http://evil.example\r\n'), true);
    }
    const r = await fetch(`http://127.0.0.1:${port}/api/config`);
    expect(r.status).toBe(200);
  });
});
