// Disk failures stay local to the recording: the stream's recording stops with a sentence (log and /api/streams),
// RTSP players keep getting every packet, and recording resumes by itself once the disk is usable again.
// As root (CI, this machine) chmod does not stop writes, so the failures are real ones root cannot write through:
// the stream's directory replaced by a file (ENOTDIR/EEXIST at the next segment), and, where mount is allowed, a
// tiny tmpfs that fills up mid-segment (ENOSPC), then grown with a remount.
import { execa } from 'execa';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RecordingStatus } from '../../../server/record/recorder.ts';
import { waitFor } from '../../support/ffmpeg.ts';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { freshRecordDir, probeMp4, removeRecordDirs, segmentFilesOf } from '../../support/recordings.ts';
import { RtspTestClient } from '../../support/rtsp-client.ts';

let relay: TestRelay | undefined;
let ffmpeg: Publisher | undefined;
let player: RtspTestClient | undefined;
const mounts: string[] = [];

afterEach(async () => {
  await player?.close();
  if (ffmpeg) await stopProcess(ffmpeg);
  await relay?.close();
  for (const m of mounts.splice(0)) await execa('umount', [m], { reject: false });
  removeRecordDirs();
  relay = undefined;
  ffmpeg = undefined;
  player = undefined;
});

async function recording(name: string): Promise<RecordingStatus | undefined> {
  const res = await fetch(`http://127.0.0.1:${relay!.relay.http.port()}/api/streams`);
  const list = (await res.json()) as Array<{ name: string; recording?: RecordingStatus }>;
  return list.find((s) => s.name === name)?.recording;
}

/** Record "cam" (RTSP ffmpeg, 1 s GOP) into `dir` with 2 s segments, an RTSP player attached over TCP. */
async function recordWithPlayer(dir: string): Promise<void> {
  relay = await startTestRelay(['--record', dir, '--record-segment', '2']);
  ffmpeg = publish({ url: relay.url('cam'), gop: 30 });
  await waitLive(relay.relay, 'cam');
  player = await RtspTestClient.connect(relay.url('cam'));
  await player.play({ transport: 'tcp' });
  expect(await waitFor(async () => (await recording('cam'))?.state === 'recording', 10_000)).toBe(true);
}

/** The player got every packet since it started: no sequence gaps on any track, and packets still arriving. */
async function expectEveryPacket(): Promise<void> {
  const before = player!.tracks.map((t) => t.packets);
  await new Promise((r) => setTimeout(r, 500));
  player!.tracks.forEach((t, i) => {
    expect(t.packets).toBeGreaterThan(before[i]!);
    expect(t.seqJumps).toBe(0);
  });
}

async function expectStoppedWith(sentence: RegExp): Promise<RecordingStatus> {
  let status: RecordingStatus | undefined;
  expect(await waitFor(async () => (status = await recording('cam'))?.state === 'error', 15_000)).toBe(true);
  expect(status!.error).toMatch(/^recording of stream "cam" stopped: /);
  expect(status!.error).toMatch(sentence);
  expect(relay!.logs.some((l) => l['event'] === 'record.failed' && String(l['message']).match(sentence))).toBe(true);
  return status!;
}

async function expectResumed(dir: string, filesBefore: number): Promise<void> {
  expect(await waitFor(async () => (await recording('cam'))?.state === 'recording', 20_000)).toBe(true);
  expect((await recording('cam'))?.error).toBeUndefined();
  expect(await waitFor(() => segmentFilesOf(dir, 'cam').length > filesBefore, 10_000)).toBe(true);
}

const mountable = await canMountTmpfs();

describe('a recording directory that fails', () => {
  it('replaced by a file: the recording stops with a sentence, players get every packet, and it resumes when fixed', async () => {
    const dir = freshRecordDir();
    await recordWithPlayer(dir);
    renameSync(join(dir, 'cam'), join(dir, 'cam-moved'));
    writeFileSync(join(dir, 'cam'), 'not a directory');
    await expectStoppedWith(/(not a directory|exists already)/);
    await expectEveryPacket();
    expect(relay!.relay.registry.get('cam')?.state).toBe('live');
    rmSync(join(dir, 'cam'));
    await expectResumed(dir, 0);
    await expectEveryPacket();
    // The segments written before the failure are whole files.
    for (const f of segmentFilesOf(dir, 'cam-moved')) expect((await probeMp4(f)).startsOnKeyframe).toBe(true);
  }, 60_000);

  it.skipIf(!mountable)('a full disk (a 400 KiB tmpfs) mid-segment: stopped with "disk is full", the file stays valid, players get every packet, resumes after a remount', async () => {
    const dir = freshRecordDir();
    const cam = join(dir, 'cam');
    mkdirSync(cam);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=400k', 'tmpfs', cam]);
    mounts.push(cam);
    await recordWithPlayer(dir);
    await expectStoppedWith(/the disk is full.*\(ENOSPC\)/);
    await expectEveryPacket();
    const files = segmentFilesOf(dir, 'cam');
    // The write cut short was cut off again: every file is init + whole fragments.
    for (const f of files) expect((await probeMp4(f)).startsOnKeyframe).toBe(true);
    await execa('mount', ['-o', 'remount,size=64m', cam]);
    await expectResumed(dir, files.length);
    await expectEveryPacket();
  }, 60_000);
});

async function canMountTmpfs(): Promise<boolean> {
  const probe = freshRecordDir();
  const r = await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { reject: false });
  if (r.exitCode !== 0) return false;
  await execa('umount', [probe], { reject: false });
  removeRecordDirs();
  return true;
}
