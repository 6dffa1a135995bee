// The publish token, for publishers that are not on loopback. Tests cannot bind anything but 127.0.0.1, so a
// WebSocket server of our own hands each connection to the relay's real IngestServer (configured by main.ts from
// the flags) as if it came from another machine: IngestServer.handle(ws, remote, loopback = false).
import { once } from 'node:events';
import type http from 'node:http';
import type { PageConfig } from '../../../shared/protocol.ts';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { startTestRelay, waitLive, type TestRelay } from '../../support/relay.ts';
import { loadPublisherMedia, WsPublisher, type PublisherMedia } from '../../support/ws-publisher.ts';
import { ffmpegChildren, getJson } from './helpers.ts';

let media: PublisherMedia;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  media = await loadPublisherMedia();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  expect(await ffmpegChildren()).toEqual([]);
});

/** A relay plus a WebSocket port whose clients the relay's ingest counts as remote (not loopback). */
async function relayWithRemoteDoor(flags: string[]): Promise<{ relay: TestRelay; remotePort: number }> {
  const relay = await startTestRelay(flags);
  cleanups.push(() => relay.close());
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  wss.on('connection', (ws, req) => relay.relay.ingest.handle(ws, `198.51.100.7:${req.socket.remotePort ?? 0}`, false));
  cleanups.push(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  const a = wss.address();
  return { relay, remotePort: typeof a === 'object' && a !== null ? a.port : 0 };
}

function publisher(port: number, stream: string, token?: string): WsPublisher {
  const p = new WsPublisher({ port, stream, media, ...(token !== undefined ? { token } : {}) });
  cleanups.push(() => p.dispose());
  return p;
}

describe('publish token', () => {
  it('without --publish-token, a remote publisher is refused bad-token with a sentence naming --publish-token', async () => {
    const { relay, remotePort } = await relayWithRemoteDoor([]);
    for (const token of [undefined, 'anything']) {
      const r = await publisher(remotePort, 'remote1', token).connect();
      expect(r).toMatchObject({ kind: 'refused', message: { code: 'bad-token' }, close: { code: 1008 } });
      if (r.kind === 'refused') {
        expect(r.message.message).toContain('--publish-token');
        expect(r.close.reason).toContain('--publish-token');
      }
    }
    // Loopback still publishes without anything.
    expect((await publisher(relay.relay.http.port(), 'local1').connect()).kind).toBe('accepted');
  });

  it('with --publish-token: missing and wrong tokens are refused, the right one is accepted and goes live', async () => {
    const secret = 'tok-7f3a9c0e51';
    const { relay, remotePort } = await relayWithRemoteDoor(['--publish-token', secret]);
    for (const token of [undefined, '', 'wrong', `${secret}x`, secret.slice(0, -1), secret.toUpperCase()]) {
      const r = await publisher(remotePort, 'remote2', token).connect();
      expect(r, `token ${JSON.stringify(token)}`).toMatchObject({ kind: 'refused', message: { code: 'bad-token' } });
    }
    const good = publisher(remotePort, 'remote2', secret);
    expect((await good.connect()).kind).toBe('accepted');
    good.start();
    await waitLive(relay.relay, 'remote2');
    // The token is a secret too: never logged.
    expect(JSON.stringify(relay.logs)).not.toContain(secret);
    expect(relay.logs.some((l) => l['event'] === 'publisher-refused' && l['code'] === 'bad-token' && l['remote'] === `198.51.100.7:${String(l['remote']).split(':')[1]}`)).toBe(true);
    await good.stop();
  });

  it('with --publish-token, loopback publishers need no token', async () => {
    const { relay } = await relayWithRemoteDoor(['--publish-token', 'tok-loopback-1']);
    expect((await publisher(relay.relay.http.port(), 'local2').connect()).kind).toBe('accepted');
  });
});

/**
 * A relay whose HTTP server sees every client as 198.51.100.7 (TEST-NET-2): the socket's remoteAddress is
 * overridden as it connects, so the real upgrade handler and /api/config take the non-loopback paths.
 */
async function relaySeenFromAfar(flags: string[]): Promise<TestRelay> {
  const relay = await startTestRelay(flags);
  cleanups.push(() => relay.close());
  const server = (relay.relay.http as unknown as { server: http.Server }).server;
  server.prependListener('connection', (socket) => Object.defineProperty(socket, 'remoteAddress', { value: '198.51.100.7', configurable: true }));
  return relay;
}

describe('publish token through the HTTP server, for a client that is not on loopback', () => {
  it('with --publish-token: /api/config says a token is required; the WebSocket takes only the right one', async () => {
    const secret = 'tok-remote-42a1';
    const relay = await relaySeenFromAfar(['--publish-token', secret]);
    const port = relay.relay.http.port();
    expect((await getJson<PageConfig>(port, '/api/config')).body.tokenRequired).toBe(true);
    expect(await publisher(port, 'far1').connect()).toMatchObject({ kind: 'refused', message: { code: 'bad-token' } });
    expect(await publisher(port, 'far1', 'nope').connect()).toMatchObject({ kind: 'refused', message: { code: 'bad-token' } });
    expect((await publisher(port, 'far1', secret).connect()).kind).toBe('accepted');
    expect(relay.logs.some((l) => l['event'] === 'publisher-accepted' && String(l['remote']).startsWith('198.51.100.7:'))).toBe(true);
  });

  it('without --publish-token: /api/config does not ask for a token nobody could give, and publishing is refused naming the flag', async () => {
    const relay = await relaySeenFromAfar([]);
    const port = relay.relay.http.port();
    // shared/protocol.ts PageConfig.tokenRequired: "it is not on loopback and the server has one set".
    expect((await getJson<PageConfig>(port, '/api/config')).body.tokenRequired).toBe(false);
    const r = await publisher(port, 'far2').connect();
    expect(r).toMatchObject({ kind: 'refused', message: { code: 'bad-token' } });
    if (r.kind === 'refused') expect(r.message.message).toContain('--publish-token');
  });
});
