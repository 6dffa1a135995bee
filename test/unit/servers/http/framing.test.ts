// The wire framing of shared fragments, read back by independent parsers over real sockets: the ws client for
// WebSocket frames, Node's HTTP client parser for chunked encoding.
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { MuxedFragment } from '../../../../server/protocols/fmp4/sample-muxer.ts';
import { chunkOf, frameOf } from '../../../../server/servers/http/framing.ts';

function fragment(size: number): MuxedFragment {
  const a = Buffer.alloc(Math.min(40, size), 7);
  const b = Buffer.alloc(size - a.length).map((_, i) => i & 0xff);
  return { chunks: [a, b], resumable: true, bytes: size };
}

/** A bare TCP server that answers the WebSocket handshake (RFC 6455 §4.2.2) and then writes `frames` as they are. */
async function serveFrames(frames: Uint8Array[]): Promise<{ port: number; close(): void }> {
  const server = net.createServer((socket) => {
    socket.once('data', (req: Buffer) => {
      const key = /Sec-WebSocket-Key: (\S+)/i.exec(req.toString('latin1'))?.[1] ?? '';
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      for (const f of frames) socket.write(f);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

describe('frameOf: one unmasked binary WebSocket frame', () => {
  it('fragments of every length class (7-bit, 16-bit, 64-bit) read back whole with the ws client', async () => {
    const frags = [1, 125, 126, 65_535, 65_536, 300_000].map(fragment);
    const server = await serveFrames(frags.map(frameOf));
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    const got: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) got.push(data);
        if (got.length === frags.length) resolve();
      });
      ws.on('error', reject);
    });
    ws.terminate();
    server.close();
    got.forEach((g, i) => expect(Buffer.compare(g, Buffer.concat(frags[i]!.chunks)), `fragment ${i}`).toBe(0));
    expect(frameOf(frags[0]!)).toBe(frameOf(frags[0]!)); // made once
  });
});

describe('chunkOf: one HTTP/1.1 chunk', () => {
  it('a chunked response of several fragments reads back byte for byte with Node\'s HTTP parser', async () => {
    const frags = [fragment(10), fragment(4096), fragment(70_000)];
    const server = net.createServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: video/mp4\r\n\r\n');
      for (const f of frags) socket.write(chunkOf(f));
      socket.end('0\r\n\r\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const body = await new Promise<{ bytes: Buffer; complete: boolean }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ bytes: Buffer.concat(parts), complete: res.complete }));
      }).on('error', reject);
    });
    server.close();
    expect(body.complete).toBe(true);
    expect(Buffer.compare(body.bytes, Buffer.concat(frags.flatMap((f) => f.chunks)))).toBe(0);
  });
});
