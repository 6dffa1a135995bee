// npm run bench:ingest [-- --publishers 20 --seconds 30 --warmup 8 --old-streams 2 --old-seconds 15 --outputs rtsp+rtmp
//                         --content noisy --source browser]
//
// --source rtsp: the same clip published by K ffmpeg RTSP publishers (-c copy, as an IP camera relayed by ffmpeg)
// instead of browser-style WebSocket publishers; the publishers' own CPU is not the relay's and is not counted.
//
// What one browser stream costs the server. K publishers replay a 720p30 H.264 + Opus clip over the page's WebSocket
// protocol in real time (one moof+mdat per frame); the relay runs as its own process with the built-in RTSP relay (fed
// in process, no ffmpeg) and (--outputs rtsp+rtmp, the default) one RTMP destination on nginx-rtmp per stream, i.e.
// one ffmpeg per stream that copies video and transcodes Opus to AAC. One RTSP player per stream counts the frames that
// come out. CPU is the relay process plus every ffmpeg below it, from /proc, over a steady-state window, split by
// process kind. With RTMP, the AAC transcode is also timed on its own (ffmpeg -benchmark on the clip's audio): the part
// of the RTMP cost that FLV in ffmpeg 5.1 forces on any design that relays a browser's Opus.
//
// Then, in the same run, the old design: Node writes raw 720p30 frames (and PCM) into an ffmpeg per stream that
// encodes with libx264 and publishes to the same relay over RTSP. Its per-stream cost is the encoder's CPU alone
// (not the Node feeding it, not the relay): a lower bound. It is compared with the new design's RTSP path (same
// outputs) and with everything the new design ran.
//
// --record DIR [--record-rounds N]: the new design twice, recording off then on into DIR, and what recording added
// (record-compare.ts); with N rounds, N such pairs back to back and their median.
//
// Prints one JSON object on stdout and a table on stderr.
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startNginxRtmp, type NginxRtmp } from '../test/support/nginx-rtmp.ts';
import { buildClip, pcmSecond, rawFrames } from './clip.ts';
import { OldEncoder } from './old-design.ts';
import { commandLine, cpuSeconds, descendants, machine, median, pssBytes, systemTicks, treeCpuSeconds, treeRssBytes } from './proc.ts';
import { Interrupt } from './interrupt.ts';
import { serverNodeFlags, startRelayProcess, type RelayProcess } from './relay-process.ts';
import { AUDIO_PACKETS_PER_FRAGMENT } from '../web/uplink.ts';
import { aacEncodeArgs } from '../server/egress/argv.ts';
import { FrameCounter } from './rtsp-frames.ts';
import { ClipPublisher } from './ws-publisher.ts';
import { compareRecording, RECORD_PHASE_ENV, writeSyscalls } from './record-compare.ts';

const { values } = parseArgs({
  options: {
    publishers: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '8' },
    'old-streams': { type: 'string', default: '2' },
    'old-seconds': { type: 'string', default: '15' },
    bitrate: { type: 'string', default: '2500k' },
    // rtsp+rtmp: the built-in relay and one RTMP destination per stream (the usual restreaming setup);
    // rtsp: the relay alone, the same outputs as the old design below.
    outputs: { type: 'string', default: 'rtsp+rtmp' },
    // noisy (the default: what a camera and a microphone give, sensor noise on the picture and pink noise under a
    // tone) | testsrc2 (a clean synthetic card and a pure 440 Hz tone in both channels: cheaper for the old design's
    // encoder, and the worst case for ffmpeg's AAC encoder, whose transcode then costs about 4× as much; see clip.ts)
    content: { type: 'string', default: 'noisy' },
    source: { type: 'string', default: 'browser' },
    record: { type: 'string' },
    'record-rounds': { type: 'string', default: '1' },
  },
});
const recordPhase = process.env[RECORD_PHASE_ENV];
if (values.record !== undefined && recordPhase === undefined) {
  const rounds = Number(values['record-rounds']);
  if (!Number.isInteger(rounds) || rounds < 1) usage('--record-rounds must be 1 or more');
  await compareRecording(values.record, process.argv.slice(2), rounds);
  process.exit(0);
}
if (values.source !== 'browser' && values.source !== 'rtsp') usage('--source must be browser or rtsp');
const rtspSource = values.source === 'rtsp';
if (values.content !== 'testsrc2' && values.content !== 'noisy') usage('--content must be testsrc2 or noisy');
if (values.outputs !== 'rtsp' && values.outputs !== 'rtsp+rtmp') usage('--outputs must be rtsp or rtsp+rtmp');
const withRtmp = values.outputs === 'rtsp+rtmp';
const K = positive(values.publishers, '--publishers');
const seconds = positive(values.seconds, '--seconds');
const warmup = positive(values.warmup, '--warmup');
const oldStreams = Number(values['old-streams']);
if (!Number.isInteger(oldStreams) || oldStreams < 0) usage('--old-streams must be 0 or more');
const oldSeconds = positive(values['old-seconds'], '--old-seconds');
const FPS = 30;
const WIDTH = 1280;
const HEIGHT = 720;
const CLIP_SECONDS = 10;
const RAW_FRAMES = 60; // 2 s of decoded frames, looped: 83 MB of yuv420p held in memory

const log = (s: string) => process.stderr.write(`${s}\n`);

const dir = mkdtempSync(path.join(os.tmpdir(), 'relaycast-bench-ingest-'));
let nginx: NginxRtmp | undefined;
let relay: RelayProcess | undefined;
const publishers: ClipPublisher[] = [];
/** --source rtsp: one ffmpeg per stream, publishing the clip over RTSP. */
const RTSP_PUBLISHER = { reject: false, stdin: 'ignore', cleanup: true, buffer: true } as const;
const rtspPublishers: Array<ResultPromise<typeof RTSP_PUBLISHER>> = [];
const readers: FrameCounter[] = [];
const encoders: OldEncoder[] = [];
const timers: NodeJS.Timeout[] = [];
const interrupt = new Interrupt();
const sleep = (ms: number) => interrupt.sleep(ms);

let exitCode = 0;
try {
  log(`encoding the clip (${WIDTH}x${HEIGHT}@${FPS}, ${values.bitrate}bit/s)...`);
  const clip = await buildClip({ dir, width: WIDTH, height: HEIGHT, fps: FPS, seconds: CLIP_SECONDS, videoBitrate: values.bitrate, audioBitrate: '64k', content: values.content });

  if (withRtmp) nginx = await startNginxRtmp();
  relay = await startRelayProcess([
    ...(nginx ? ['--output', `rtmp://127.0.0.1:${nginx.port}/live/{stream}`] : []),
    '--max-publishers', String(K + 10),
    '--max-clients', String(K * 3 + 20),
    ...(recordPhase === 'on' && values.record !== undefined ? ['--record', values.record] : []),
  ]);
  const rtspUrl = (name: string) => `rtsp://127.0.0.1:${relay!.rtspPort}/${name}`;

  // ---- new design: K browser publishers (or K ffmpeg RTSP publishers) ----
  log(`starting ${K} ${rtspSource ? 'RTSP (ffmpeg -c copy)' : 'browser-style'} publishers...`);
  if (rtspSource) {
    // The clip as one file ffmpeg can loop in real time: H.264 and Opus copied into Matroska.
    const mkv = path.join(dir, 'clip.mkv');
    await execa('ffmpeg', ['-hide_banner', '-v', 'error', '-y', '-r', String(FPS), '-i', path.join(dir, 'clip.h264'), '-i', path.join(dir, 'clip.opus'), '-map', '0:v', '-map', '1:a', '-c', 'copy', mkv]);
    for (let i = 0; i < K; i++) {
      rtspPublishers.push(execa('ffmpeg', ['-hide_banner', '-v', 'error', '-re', '-stream_loop', '-1', '-i', mkv, '-c', 'copy', '-f', 'rtsp', '-rtsp_transport', 'tcp', rtspUrl(`bench-${i}`)], RTSP_PUBLISHER));
    }
    await sleep(2000);
  } else {
    for (let i = 0; i < K; i++) {
      const p = new ClipPublisher({ httpPort: relay.httpPort, stream: `bench-${i}`, clip });
      await p.start();
      publishers.push(p);
    }
    timers.push(setInterval(() => {
      const now = performance.now();
      for (const p of publishers) p.pump(now);
    }, 4));
  }
  log('attaching one RTSP player per stream...');
  for (let i = 0; i < K; i++) readers.push(await FrameCounter.attach(rtspUrl(`bench-${i}`), FPS));
  log(`warming up ${warmup} s...`);
  await sleep(warmup * 1000);
  interrupt.check();

  const cpu0 = treeCpuSeconds(relay.pid);
  const writes0 = writeSyscalls(relay.pid);
  const sys0 = systemTicks();
  const self0 = process.cpuUsage();
  // An RTSP publisher sends the clip's frame rate in real time: what it sent is FPS × the window.
  const sentNow = () => (rtspSource ? Array.from({ length: K }, () => Math.round((performance.now() / 1000) * FPS)) : publishers.map((p) => p.counters.videoFrames));
  const sent0 = sentNow();
  const recv0 = readers.map((r) => r.frames);
  const missing0 = readers.map((r) => r.missing);
  const t0 = performance.now();
  log(`measuring ${K} streams for ${seconds} s...`);
  let mem = { nodeRss: 0, ffmpegRss: 0, ffmpegPss: 0, ffmpegCount: 0 };
  for (let s = 0; s < seconds; s += 5) {
    await sleep(Math.min(5, seconds - s) * 1000);
    interrupt.check();
    // Only ffmpeg children: `node --import tsx` also runs an esbuild service below the relay.
    const ffmpegs = descendants(relay.pid).filter((pid) => commandLine(pid)[0]?.endsWith('ffmpeg'));
    mem = {
      nodeRss: rssOf(relay.pid),
      ffmpegRss: sum(ffmpegs.map(rssOf)),
      ffmpegPss: sum(ffmpegs.map(pssBytes)),
      ffmpegCount: ffmpegs.length,
    };
  }
  const cpu1 = treeCpuSeconds(relay.pid);
  const writes1 = writeSyscalls(relay.pid);
  const sys1 = systemTicks();
  const self1 = process.cpuUsage(self0);
  const wall = (performance.now() - t0) / 1000;
  const sent1 = sentNow();
  for (const p of publishers) p.pause();
  for (const p of rtspPublishers) p.kill('SIGINT');
  const apiStreams = await fetchStreams(relay.httpPort);
  await sleep(2000); // drain: frames in flight reach the players
  const recv1 = readers.map((r) => r.frames);
  const missing1 = readers.map((r) => r.missing);

  // CPU by kind of process: the relay (Node) itself, ffmpeg → RTMP (and ffmpeg → RTSP, if a destination is one).
  const kindOf = (pid: number) => {
    const cmd = commandLine(pid).join(' ');
    return cmd.includes('rtmp://') ? 'rtmp' : cmd.includes('rtsp://') ? 'rtsp' : 'other';
  };
  const byKind = { node: cpu1.root - cpu0.root, rtsp: 0, rtmp: 0, other: 0, exited: cpu1.reaped - cpu0.reaped };
  // A child alive at the end but not at the start (a restarted ffmpeg) counts from 0; one that exited is in `exited`.
  for (const [pid, c1] of cpu1.children) byKind[kindOf(pid)] += c1 - (cpu0.children.get(pid) ?? 0);
  const restartedPids = [...cpu1.children.keys()].filter((pid) => !cpu0.children.has(pid)).length;
  const treePercent = ((cpu1.total - cpu0.total) / wall) * 100;
  const pct = (cpuSec: number) => round((cpuSec / wall / K) * 100, 3);
  const sentWindow = sent1.map((s, i) => s - (sent0[i] ?? 0));
  const recvWindow = recv1.map((r, i) => r - (recv0[i] ?? 0));
  const missingWindow = missing1.map((m, i) => m - (missing0[i] ?? 0));
  const outputs = apiStreams.flatMap((s) => s.outputs);
  const newDesign = {
    streams: K,
    windowSeconds: round(wall, 1),
    cpu: {
      percentOfOneCorePerStream: round(treePercent / K, 3),
      // What the old design's outputs (RTSP only) cost in the new one: the relay process (RTSP is fed in process).
      rtspPathPercentOfOneCorePerStream: pct(byKind.node + byKind.rtsp + byKind.other),
      totalPercentOfOneCore: round(treePercent, 1),
      perStreamBreakdown: { relayNode: pct(byKind.node), ffmpegRtspCopy: pct(byKind.rtsp), ffmpegRtmpCopyPlusAac: pct(byKind.rtmp), exitedChildren: pct(byKind.exited), otherChildren: pct(byKind.other) },
      ffmpegRestartsInWindow: restartedPids,
    },
    // The relay process's write-family syscalls per second per stream: all (sockets and files), and off its main thread
    // (Node's file writes, from the libuv thread pool).
    writeSyscallsPerSecondPerStream: { all: round((writes1.all - writes0.all) / wall / K, 2), offMainThread: round((writes1.offMainThread - writes0.offMainThread) / wall / K, 2) },
    memory: {
      relayNodeRssMiB: round(mem.nodeRss / 1048576, 1),
      ffmpegProcesses: mem.ffmpegCount,
      ffmpegRssSumMiB: round(mem.ffmpegRss / 1048576, 1),
      ffmpegPssSumMiB: round(mem.ffmpegPss / 1048576, 1),
      // PSS for the ffmpegs: their shared libraries are counted once, not once per process.
      perStreamMiB: round((mem.nodeRss + mem.ffmpegPss) / K / 1048576, 1),
    },
    frames: {
      sent: sum(sentWindow),
      received: sum(recvWindow),
      missingByRtpTimestamp: sum(missingWindow),
      lostVideoRtpPackets: sum(readers.map((r) => r.lostPackets)),
      streamsWithLoss: missingWindow.filter((m, i) => m > 0 || (recvWindow[i] ?? 0) < (sentWindow[i] ?? 0) - 2).length,
      minReceivedShare: round(Math.min(...recvWindow.map((r, i) => r / Math.max(1, sentWindow[i] ?? 0))), 4),
      publisherSkippedFrames: sum(publishers.map((p) => p.counters.skippedFrames)),
      publisherMaxBufferedBytes: Math.max(0, ...publishers.map((p) => p.counters.maxBufferedBytes)),
      publisherProblems: publishers.filter((p) => p.problem !== undefined).map((p) => p.problem),
    },
    outputs: {
      running: outputs.filter((o) => o.state === 'running').length,
      total: outputs.length,
      restarts: sum(outputs.map((o) => o.restarts)),
      notRunning: outputs.filter((o) => o.state !== 'running').map((o) => `${o.kind}:${o.state}${o.lastError ? ` (${o.lastError})` : ''}`).slice(0, 10),
    },
    machineBusyPercent: round(((sys1.busy - sys0.busy) / (sys1.total - sys0.total)) * 100, 1),
    benchProcessPercentOfOneCore: round(((self1.user + self1.system) / 1e6 / wall) * 100, 1),
  };
  log(`new design: ${newDesign.cpu.percentOfOneCorePerStream}% of a core per stream`);

  await Promise.all(publishers.map((p) => p.close()));
  await Promise.allSettled(rtspPublishers);
  await Promise.all(readers.map((r) => r.close()));
  readers.length = 0;
  await sleep(1000);
  interrupt.check();

  // ---- old design: the server encodes ----
  let oldDesign: Record<string, unknown> | undefined;
  if (oldStreams > 0) {
    log(`old design: rendering ${RAW_FRAMES} raw frames, starting ${oldStreams} encoders...`);
    const frames = await rawFrames(clip, RAW_FRAMES);
    const pcm = pcmSecond();
    for (let i = 0; i < oldStreams; i++) encoders.push(new OldEncoder({ url: rtspUrl(`old-${i}`), width: WIDTH, height: HEIGHT, fps: FPS, bitrate: values.bitrate, frames, pcm }));
    timers.push(setInterval(() => {
      const now = performance.now();
      for (const e of encoders) e.pump(now);
    }, 4));
    for (let i = 0; i < oldStreams; i++) readers.push(await FrameCounter.attach(rtspUrl(`old-${i}`), FPS));
    await sleep(5000);
    interrupt.check();
    const enc0 = encoders.map((e) => cpuSeconds(e.pid));
    const relay0 = treeCpuSeconds(relay.pid).total;
    const self0b = process.cpuUsage();
    const sys0b = systemTicks();
    const drop0 = encoders.map((e) => e.framesDropped);
    const written0 = encoders.map((e) => e.framesWritten);
    const recv0b = readers.map((r) => r.frames);
    const missing0b = readers.map((r) => r.missing);
    const t0b = performance.now();
    log(`measuring ${oldStreams} old-design streams for ${oldSeconds} s...`);
    await sleep(oldSeconds * 1000);
    interrupt.check();
    const wallB = (performance.now() - t0b) / 1000;
    const encCpu = encoders.map((e, i) => ((cpuSeconds(e.pid) - (enc0[i] ?? 0)) / wallB) * 100);
    const relayCpu = ((treeCpuSeconds(relay.pid).total - relay0) / wallB) * 100;
    const selfB = process.cpuUsage(self0b);
    const sys1b = systemTicks();
    const encRss = encoders.map((e) => rssOf(e.pid));
    const encPss = encoders.map((e) => pssBytes(e.pid));
    const dropped = encoders.map((e, i) => e.framesDropped - (drop0[i] ?? 0));
    const written = encoders.map((e, i) => e.framesWritten - (written0[i] ?? 0));
    const fpsOut = readers.map((r, i) => (r.frames - (recv0b[i] ?? 0)) / wallB);
    const missingB = readers.map((r, i) => r.missing - (missing0b[i] ?? 0));
    // Real time: the encoder took (nearly) every frame as it came and players got the full rate. A frame or two
    // dropped on a shared machine is scheduling noise; a falling-behind encoder drops steadily.
    const keptRealTime = dropped.every((d, i) => d <= 0.01 * ((written[i] ?? 0) + d)) && fpsOut.every((f) => f >= FPS * 0.97) && encoders.every((e) => e.running);
    oldDesign = {
      streams: oldStreams,
      windowSeconds: round(wallB, 1),
      encoder: `ffmpeg rawvideo yuv420p ${WIDTH}x${HEIGHT}@${FPS} on stdin + s16le on fd 3 → libx264 baseline veryfast zerolatency ${values.bitrate} + libopus 64k → RTSP`,
      cpu: {
        percentOfOneCorePerStream: round(median(encCpu), 1),
        perEncoder: encCpu.map((c) => round(c, 1)),
        relayDuringOldPhasePercentOfOneCore: round(relayCpu, 1),
        nodeFeederPercentOfOneCore: round(((selfB.user + selfB.system) / 1e6 / wallB) * 100, 1),
      },
      rssPerEncoderMiB: round(median(encRss) / 1048576, 1),
      pssPerEncoderMiB: round(median(encPss) / 1048576, 1),
      keptRealTime,
      framesWritten: sum(written),
      framesDroppedBecauseEncoderBehind: sum(dropped),
      outputFps: fpsOut.map((f) => round(f, 2)),
      missingByRtpTimestamp: sum(missingB),
      encoderErrors: encoders.filter((e) => !e.running).map((e) => e.stderr.slice(-500)),
      machineBusyPercent: round(((sys1b.busy - sys0b.busy) / (sys1b.total - sys0b.total)) * 100, 1),
    };
  }

  const aacAlone = withRtmp ? await aacTranscodePercent(path.join(dir, 'clip.opus'), CLIP_SECONDS) : undefined;
  const oldPerStream = (oldDesign?.['cpu'] as { percentOfOneCorePerStream: number } | undefined)?.percentOfOneCorePerStream;
  const newPerStream = newDesign.cpu.percentOfOneCorePerStream;
  const newRtspPath = newDesign.cpu.rtspPathPercentOfOneCorePerStream;
  const ratio = (a: number | undefined, b: number) => (a !== undefined && b > 0 ? round(a / b, 1) : null);
  const result = {
    bench: 'ingest',
    machine: machine(),
    settings: {
      publishers: K,
      seconds,
      warmupSeconds: warmup,
      oldStreams,
      oldSeconds,
      clip: clip.settings,
      clipVideoKbps: Math.round(clip.videoBitsPerSecond / 1000),
      source: values.source,
      uplink: rtspSource
        ? 'RTSP over TCP from one ffmpeg per stream (-re -stream_loop -1 -c copy of the clip: H.264 + Opus), ANNOUNCE/RECORD'
        : `WebSocket, one moof+mdat per video frame, ${AUDIO_PACKETS_PER_FRAGMENT} Opus packets (20 ms each) per audio fragment, as the page sends them`,
      outputs: values.outputs,
      relay: `node ${serverNodeFlags().join(' ')} --import tsx server/main.ts --log-level warn, own process; outputs: built-in RTSP relay (in-process RTP packetizer)${withRtmp ? ' + rtmp://127.0.0.1/live/{stream} on nginx-rtmp (video copy, Opus→AAC 128k)' : ''}`,
      readers: 'one RTSP/TCP player per stream (test/support/rtsp-client.ts), counting marker bits',
      cpu: 'relay PID + all descendants (utime+stime, exited children via cutime+cstime) from /proc, per wall second',
      ffmpeg: (await execa('ffmpeg', ['-version'])).stdout.split('\n')[0] ?? '',
    },
    new: newDesign,
    // The Opus → AAC transcode by itself, at the RTMP output's settings, per stream (faster than real time, no I/O).
    aacTranscodeAlonePercentOfOneCorePerStream: aacAlone ?? null,
    old: oldDesign ?? null,
    oldOverNewCpuRatio: {
      // Like for like: the old encoder (which feeds RTSP only) against the new design's RTSP path.
      sameOutputs: ratio(oldPerStream, newRtspPath),
      // The old encoder against everything the new design ran (RTSP and, with --outputs rtsp+rtmp, RTMP with AAC).
      allNewOutputs: ratio(oldPerStream, newPerStream),
    },
    targets: { newPercentOfOneCorePerStream: 2, oldOverNewCpuRatio: 10, publishersWithoutFrameLoss: 20 },
    met: {
      cpu: newPerStream <= 2,
      cpuRtspPath: newRtspPath <= 2,
      ratioSameOutputs: oldPerStream !== undefined ? oldPerStream / newRtspPath >= 10 : null,
      noFrameLoss: K >= 20 && newDesign.frames.streamsWithLoss === 0 && newDesign.frames.missingByRtpTimestamp === 0,
    },
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  const o = oldDesign as { streams: number; cpu: { percentOfOneCorePerStream: number }; pssPerEncoderMiB: number; keptRealTime: boolean; framesDroppedBecauseEncoderBehind: number; missingByRtpTimestamp: number } | undefined;
  const n = newDesign;
  log('');
  log(`  ${clip.settings}; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})`);
  log('  design                  streams  CPU/stream (% core)  mem/stream   frames sent → received   missing   real time');
  log(`  ${(withRtmp ? 'new (copy, RTSP+RTMP)' : 'new (copy, RTSP)').padEnd(22)}  ${pad(K, 7)}  ${pad(n.cpu.percentOfOneCorePerStream, 19)}  ${pad(`${n.memory.perStreamMiB} MiB`, 10)}   ${pad(`${n.frames.sent} → ${n.frames.received}`, 22)}   ${pad(n.frames.missingByRtpTimestamp, 7)}   ${n.frames.publisherSkippedFrames === 0 ? 'yes' : 'no'}`);
  if (o) log(`  old (x264 veryfast)     ${pad(o.streams, 7)}  ${pad(o.cpu.percentOfOneCorePerStream, 19)}  ${pad(`${o.pssPerEncoderMiB} MiB`, 10)}   ${pad(`dropped ${o.framesDroppedBecauseEncoderBehind}`, 22)}   ${pad(o.missingByRtpTimestamp, 7)}   ${o.keptRealTime ? 'yes' : 'NO'}`);
  const b = n.cpu.perStreamBreakdown;
  log(`  new per stream: relay (Node, RTSP in process) ${b.relayNode}%${b.ffmpegRtspCopy > 0 ? ` + ffmpeg→RTSP ${b.ffmpegRtspCopy}%` : ''} + ffmpeg→RTMP ${b.ffmpegRtmpCopyPlusAac}%${aacAlone !== undefined ? ` (of which the AAC transcode alone: ${aacAlone}%)` : ''}; outputs running ${n.outputs.running}/${n.outputs.total}; machine busy ${n.machineBusyPercent}%`);
  const yes = (b: boolean | null) => (b === null ? 'n/a' : b ? 'met' : 'NOT met');
  log(`  new RTSP path (the relay process): ${newRtspPath}% per stream (≤ 2%: ${yes(result.met.cpuRtspPath)}); all outputs: ${newPerStream}% (≤ 2%: ${yes(result.met.cpu)})`);
  log(`  old/new CPU: ${result.oldOverNewCpuRatio.sameOutputs ?? 'n/a'}× like for like (≥ 10×: ${yes(result.met.ratioSameOutputs)}), ${result.oldOverNewCpuRatio.allNewOutputs ?? 'n/a'}× against all new outputs; ${K} publishers without frame loss: ${yes(result.met.noFrameLoss)}`);
} catch (err) {
  exitCode = 1;
  log(`bench:ingest failed: ${err instanceof Error ? err.message : String(err)}`);
  if (relay) log(`relay log (tail):\n${relay.log().slice(-3000)}`);
} finally {
  for (const t of timers) clearInterval(t);
  await Promise.allSettled(readers.map((r) => r.close()));
  await Promise.allSettled(publishers.map((p) => p.close()));
  for (const p of rtspPublishers) if (p.exitCode === null) p.kill('SIGKILL');
  await Promise.allSettled(rtspPublishers);
  await Promise.allSettled(encoders.map((e) => e.stop()));
  await relay?.stop().catch(() => undefined);
  await nginx?.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);

function positive(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) usage(`${flag} must be a positive number, not "${s}"`);
  return n;
}

/**
 * CPU of decoding Opus and encoding AAC as the RTMP output does (server/egress/argv.ts), in % of one core per stream,
 * from ffmpeg's own -benchmark (utime + stime) over `loops` passes of the clip's audio.
 */
async function aacTranscodePercent(opusPath: string, clipSeconds: number, loops = 6): Promise<number> {
  const r = await execa('ffmpeg', ['-hide_banner', '-nostdin', '-benchmark', '-stream_loop', String(loops - 1), '-i', opusPath, ...aacEncodeArgs(), '-f', 'null', '-']);
  const m = /bench: utime=([\d.]+)s stime=([\d.]+)s/.exec(r.stderr);
  if (!m) throw new Error(`ffmpeg -benchmark printed no times:\n${r.stderr.slice(-500)}`);
  return round(((Number(m[1]) + Number(m[2])) / (clipSeconds * loops)) * 100, 3);
}

function usage(problem: string): never {
  process.stderr.write(`bench:ingest: ${problem}\n`);
  process.exit(2);
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function rssOf(pid: number): number {
  try {
    return treeRssBytes(pid).root;
  } catch {
    return 0;
  }
}

interface ApiStream {
  name: string;
  outputs: Array<{ kind: string; state: string; restarts: number; lastError?: string }>;
}

async function fetchStreams(port: number): Promise<ApiStream[]> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/api/streams`);
    const body = (await r.json()) as unknown;
    // Either a bare array or { streams: [...] }.
    const list = Array.isArray(body) ? body : ((body as { streams?: unknown }).streams ?? []);
    return Array.isArray(list) ? (list as ApiStream[]).filter((s) => Array.isArray(s.outputs)) : [];
  } catch {
    return [];
  }
}

function pad(v: unknown, n: number): string {
  return String(v).padStart(n);
}
