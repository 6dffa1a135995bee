// GET /metrics, read with a real Prometheus text-format parser, against known traffic: bytes and frames in after N
// fragments of a browser-style stream, reader counts as RTSP and HTTP players join and leave, an output's restarts
// after its ffmpeg is killed, refusals and authentication failures as they happen. Labels never carry a secret.
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseInitSegment, parseMediaSegment } from '../../../shared/fmp4/reader.ts';
import { silentLogger } from '../../../server/log.ts';
import { RelayFeed } from '../../../server/servers/ws-publish/relay-feed.ts';
import { splitFmp4 } from '../../support/egress-feed.ts';
import { makeBrowserLikeFmp4, waitFor } from '../../support/ffmpeg.ts';
import { startNginxRtmp, type NginxRtmp } from '../../support/nginx-rtmp.ts';
import { scrape } from '../../support/prometheus.ts';
import { publish, PUBLISH_OPTIONS, startTestRelay, stopProcess, waitLive, type ChildLike, type TestRelay } from '../../support/relay.ts';

let t: TestRelay;
let nginx: NginxRtmp;
const children: ChildLike[] = [];
const cleanups: Array<() => void> = [];

/** The stream key of the RTMP destination: a secret, which no label may show. */
const KEY = 'sk-live-0123456789';

beforeAll(async () => {
  nginx = await startNginxRtmp();
  // Outputs only for names starting "out" (config file), so the other streams' readers are players only.
  const config = `/tmp/relaycast-metrics-${process.pid}.json`;
  await import('node:fs/promises').then((fs) => fs.writeFile(config, JSON.stringify({ streams: { outcam: { outputs: [nginx.url(KEY)] } } })));
  t = await startTestRelay(['--config', config, '--publisher-grace', '0', '--read-user', 'viewer', '--read-pass', 'secret-pass']);
}, 30_000);
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await Promise.all(children.splice(0).map(stopProcess));
});
afterAll(async () => {
  await t?.close();
  await nginx?.stop();
});

const port = () => t.relay.http.port();
const authed = (name: string) => `rtsp://viewer:secret-pass@127.0.0.1:${t.rtspPort}/${name}`;

/** A real player that reads until it is stopped. */
function player(name: string, transport: 'tcp' | 'udp'): ChildLike {
  const p = execa('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-rtsp_transport', transport, '-i', authed(name), '-f', 'null', '-'], PUBLISH_OPTIONS);
  children.push(p);
  return p;
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  let last = false;
  const ok = await waitFor(async () => (last = await check()), 15_000, 100);
  if (!ok || !last) throw new Error(`timed out waiting until ${what}`);
}

describe('GET /metrics', () => {
  it('is Prometheus text that a real parser reads, with prom-client\'s process metrics and every relaycast family', async () => {
    const res = await fetch(`http://127.0.0.1:${port()}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = await scrape(port());
    const names = m.families.map((f) => f.name);
    for (const name of [
      'process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds',
      'relaycast_publishers', 'relaycast_rtsp_sessions', 'relaycast_requests_refused_total', 'relaycast_auth_failures_total',
    ]) expect(names).toContain(name);
    expect(m.families.find((f) => f.name === 'relaycast_stream_bytes_in_total')?.type).toBe('COUNTER');
    expect(m.value('relaycast_auth_failures_total', { protocol: 'rtsp' })).toBe(0);
    const post = await fetch(`http://127.0.0.1:${port()}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('counts bytes and frames in from what a browser publisher sent: N fragments, then N more', async () => {
    const file = splitFmp4(new Uint8Array(readFileSync(await makeBrowserLikeFmp4({ seconds: 4, gop: 30 }))));
    const init = parseInitSegment(file.init);
    if (!init.ok) throw new Error(init.error.message);
    const feed = new RelayFeed({ name: 'counted', info: init.value, registry: t.relay.registry, remote: '127.0.0.1:1', logger: silentLogger });
    expect(feed.attach('test').ok).toBe(true);
    cleanups.push(() => feed.detach());
    let samples = 0;
    let sampleBytes = 0;
    const send = (from: number, to: number) => {
      for (const f of file.fragments.slice(from, to)) {
        const parsed = parseMediaSegment(f.bytes, init.value);
        if (!parsed.ok) throw new Error(parsed.error.message);
        for (const tr of parsed.value.tracks) for (const s of tr.sampleList) (samples++, (sampleBytes += s.size));
        feed.write(f.bytes, parsed.value);
      }
    };
    const N = 40;
    send(0, N);
    let m = await scrape(port());
    // Every sample (one video frame or one Opus packet) is one access unit of the hub.
    expect(m.value('relaycast_stream_frames_in_total', { stream: 'counted' })).toBe(samples);
    // RTP: each sample's bytes less its 4-byte NAL length prefixes, plus 12 bytes of header (and a 2-byte FU header)
    // per packet of at most ~1400 bytes.
    const bytesIn = m.value('relaycast_stream_bytes_in_total', { stream: 'counted' })!;
    expect(bytesIn).toBeGreaterThan(sampleBytes * 0.97);
    expect(bytesIn).toBeLessThan(sampleBytes + 14 * (samples + Math.ceil(sampleBytes / 1000)));
    expect(m.value('relaycast_publishers', { protocol: 'websocket' })).toBe(1);
    const before = samples;
    send(N, 2 * N);
    m = await scrape(port());
    expect(m.value('relaycast_stream_frames_in_total', { stream: 'counted' })).toBe(samples);
    expect(samples - before).toBeGreaterThanOrEqual(N);
    expect(m.value('relaycast_stream_bytes_in_total', { stream: 'counted' })).toBeGreaterThan(bytesIn);
  });

  it('follows RTSP (TCP and UDP) and HTTP players as they join and leave, with bytes out per protocol', async () => {
    children.push(publish({ url: t.url('watched'), gop: 30 }));
    await waitLive(t.relay, 'watched');
    const readers = async (protocol: string) => (await scrape(port())).value('relaycast_stream_readers', { stream: 'watched', protocol });
    expect(await readers('rtsp')).toBe(0);
    const tcp = player('watched', 'tcp');
    const udp = player('watched', 'udp');
    await until('2 RTSP players', async () => (await readers('rtsp')) === 2);
    let m = await scrape(port());
    // The publisher's session (TCP) and one player per transport.
    expect(m.value('relaycast_rtsp_sessions', { transport: 'tcp' })).toBe(2);
    expect(m.value('relaycast_rtsp_sessions', { transport: 'udp' })).toBe(1);
    expect(m.value('relaycast_publishers', { protocol: 'rtsp' })).toBeGreaterThanOrEqual(1);

    const http = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port()}/watched.mp4`, { signal: http.signal, headers: { Authorization: `Basic ${Buffer.from('viewer:secret-pass').toString('base64')}` } });
    expect(res.status).toBe(200);
    const body = res.body!.getReader();
    let received = 0;
    void (async () => {
      for (;;) {
        const r = await body.read().catch(() => ({ done: true as const, value: undefined }));
        if (r.done) return;
        received += r.value.length;
      }
    })();
    await until('1 HTTP player', async () => (await readers('http')) === 1);
    await until('HTTP bytes out', async () => ((await scrape(port())).value('relaycast_stream_bytes_out_total', { stream: 'watched', protocol: 'http' }) ?? 0) > 0);
    m = await scrape(port());
    const rtspOut = m.value('relaycast_stream_bytes_out_total', { stream: 'watched', protocol: 'rtsp' })!;
    expect(rtspOut).toBeGreaterThan(0);
    // The HTTP player got at least the media counted for it (plus the MP4 framing).
    const httpOut = m.value('relaycast_stream_bytes_out_total', { stream: 'watched', protocol: 'http' })!;
    await until('the HTTP player read what was counted', async () => received >= httpOut);

    http.abort();
    await until('no HTTP player', async () => (await readers('http')) === 0);
    await stopProcess(udp);
    await until('1 RTSP player', async () => (await readers('rtsp')) === 1);
    expect((await scrape(port())).value('relaycast_rtsp_sessions', { transport: 'udp' })).toBe(0);
    await stopProcess(tcp);
    await until('no RTSP player', async () => (await readers('rtsp')) === 0);
    m = await scrape(port());
    expect(m.value('relaycast_stream_bytes_out_total', { stream: 'watched', protocol: 'rtsp' })).toBeGreaterThanOrEqual(rtspOut);
    expect(m.value('relaycast_reader_drops_total', { stream: 'watched' })).toBe(0);
  }, 40_000);

  it('counts an output\'s restarts after its ffmpeg is killed; its label is the masked URL', async () => {
    children.push(publish({ url: t.url('outcam'), gop: 30 }));
    await waitLive(t.relay, 'outcam');
    const up = async () => (await scrape(port())).value('relaycast_output_up', { stream: 'outcam', index: '0' });
    await until('the output runs', async () => (await up()) === 1);
    let m = await scrape(port());
    const [sample] = m.samples('relaycast_output_up').filter((s) => s.labels['stream'] === 'outcam');
    expect(sample?.labels['url']).toMatch(/^rtmp:\/\/127\.0\.0\.1:\d+\//);
    expect(m.value('relaycast_output_restarts_total', { stream: 'outcam', index: '0' })).toBe(0);
    expect(m.value('relaycast_stream_readers', { stream: 'outcam', protocol: 'output' })).toBe(1);

    const running = t.logs.filter((l) => l['event'] === 'egress.running' && l['stream'] === 'outcam');
    const pid = running.at(-1)?.['pid'];
    expect(typeof pid).toBe('number');
    process.kill(pid as number, 'SIGKILL');
    await until('the output restarted', async () => (await scrape(port())).value('relaycast_output_restarts_total', { stream: 'outcam', index: '0' }) === 1);
    await until('the output runs again', async () => (await up()) === 1);
    m = await scrape(port());
    const text = await (await fetch(`http://127.0.0.1:${port()}/metrics`)).text();
    expect(text).not.toContain(KEY);
    expect(text).not.toContain('secret-pass');
    expect(m.value('relaycast_output_restarts_total', { stream: 'outcam', index: '0' })).toBe(1);
  }, 40_000);

  it('counts refusals and authentication failures by protocol and reason', async () => {
    children.push(publish({ url: t.url('taken'), gop: 30 }));
    await waitLive(t.relay, 'taken');
    // A second publisher for a live name is refused (RTSP 403).
    const second = publish({ url: t.url('taken'), duration: 2 });
    await second;
    let m = await scrape(port());
    expect(m.value('relaycast_requests_refused_total', { protocol: 'rtsp', reason: 'in-use' })).toBe(1);
    // Wrong read credentials, over RTSP and over HTTP.
    const probe = await execa('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', `rtsp://viewer:wrong@127.0.0.1:${t.rtspPort}/taken`], { reject: false });
    expect(probe.exitCode).not.toBe(0);
    const res = await fetch(`http://127.0.0.1:${port()}/taken.mp4`, { headers: { Authorization: `Basic ${Buffer.from('viewer:wrong').toString('base64')}` } });
    expect(res.status).toBe(401);
    m = await scrape(port());
    expect(m.value('relaycast_auth_failures_total', { protocol: 'rtsp' })).toBeGreaterThanOrEqual(1);
    expect(m.value('relaycast_auth_failures_total', { protocol: 'http' })).toBe(1);
  }, 30_000);
});
