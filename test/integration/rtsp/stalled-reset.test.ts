// Issue 12, item 4 (second bullet): a TCP player that stops reading is dropped with a reset, not a graceful close that
// would sit in FIN-WAIT-1 behind megabytes the player never reads. The player sees ECONNRESET.
// (Linux: the relay's side is also looked up in /proc/net/tcp.)
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHeader } from '../../../server/protocols/rtsp/message.ts';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { RawConnection, requestText, until } from './helpers.ts';

/** DESCRIBE, SETUP trackID=0 interleaved, PLAY on a raw connection; after that it only counts bytes. */
async function play(c: RawConnection, url: string): Promise<void> {
  let cseq = 1;
  const d = await c.request(requestText('DESCRIBE', url, [['CSeq', String(cseq++)]]));
  if (d.status !== 200) throw new Error(`DESCRIBE ${d.status}`);
  const s = await c.request(requestText('SETUP', `${url}/trackID=0`, [['CSeq', String(cseq++)], ['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1']]));
  if (s.status !== 200) throw new Error(`SETUP ${s.status}`);
  const session = getHeader(s.headers, 'Session')?.split(';')[0] ?? '';
  const p = await c.request(requestText('PLAY', `${url}/`, [['CSeq', String(cseq++)], ['Session', session]]));
  if (p.status !== 200) throw new Error(`PLAY ${p.status}`);
}

/**
 * The kernel's IPv4 TCP sockets from local port `port` to remote port `peer` (Linux /proc/net/tcp; states numbered as in
 * Linux's include/net/tcp_states.h, in hex: 01 ESTABLISHED, 04 FIN-WAIT-1 …), with the bytes each has queued to send;
 * undefined where there is no /proc.
 */
function tcpSockets(port: number, peer: number): Array<{ state: string; sendQueue: number }> | undefined {
  if (!existsSync('/proc/net/tcp')) return undefined;
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(`:${hex(port)}`) && f[2]?.endsWith(`:${hex(peer)}`))
    .map((f) => ({ state: f[3] ?? '', sendQueue: parseInt(f[4]?.split(':')[0] ?? '0', 16) }));
}

describe('a stalled TCP player', () => {
  let t: TestRelay;
  let pub: Publisher;
  const name = 'stuck';

  beforeAll(async () => {
    // A small reader policy keeps it quick: 128 KiB of backlog skips to the next keyframe, 500 ms behind drops.
    t = await startTestRelay([], { policy: { skipBacklogBytes: 128 * 1024, maxBehindMs: 500 } });
    pub = publish({ url: t.url(name), audio: 'none', gop: 30, bitrate: '8M', size: '1280x720' });
    await waitLive(t.relay, name);
  });
  afterAll(async () => {
    await stopProcess(pub);
    await t.close();
  });

  it('is dropped with a TCP reset: its next request meets ECONNRESET, and no FIN-WAIT-1 socket holds its data', async () => {
    const player = await RawConnection.connect(t.rtspPort);
    try {
      await play(player, t.url(name));
      await until(() => player.bytes > 64 * 1024, 'the player to receive video');
      const stream = t.relay.registry.get(name);
      if (!stream) throw new Error('stream gone');

      player.socket.pause(); // stop reading: the kernel buffers fill, then the relay's queue
      await until(() => stream.snapshot().readersDropped === 1, 'the stalled player to be dropped', 20_000);
      expect(t.logs.find((l) => l.event === 'reader-dropped')).toMatchObject({ reason: 'too-slow' });
      expect(t.relay.rtsp.playersOf(name)).toBe(0);

      // The relay's side of the connection is gone, not waiting in FIN-WAIT-1 behind megabytes nobody reads.
      const relaySide = tcpSockets(t.rtspPort, player.socket.localPort ?? 0);
      if (relaySide !== undefined) expect(relaySide).toEqual([]);

      // Still not reading, the player sends a keep-alive, as players do: after a reset its socket is closed and the
      // write fails with ECONNRESET. (After a graceful close it would still be open, the FIN queued behind the data.)
      // Reading is no test of this: Node reports a reset that arrives behind unread data as a plain end of stream.
      const write = await new Promise<NodeJS.ErrnoException | undefined>((resolve) =>
        player.socket.write(requestText('GET_PARAMETER', `${t.url(name)}/`, [['CSeq', '99']]), (err) => resolve(err ?? undefined)),
      );
      expect(write?.code).toBe('ECONNRESET');
      await until(() => player.closed, 'the player to see its connection closed', 5000);
      expect(player.error?.code).toBe('ECONNRESET');
    } finally {
      player.close();
    }
  });
});
