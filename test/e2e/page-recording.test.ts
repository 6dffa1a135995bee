// "Record a local copy": an MP4 made by mp4-muxer from the same encoder output, offered for download after Stop.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stateLog, waitState } from '../support/browser.ts';
import { ffprobe } from '../support/ffmpeg.ts';
import { usePageHarness } from '../support/page-harness.ts';

const h = usePageHarness();
const dir = mkdtempSync(path.join(tmpdir(), 'relaycast-rec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('publisher page: local recording', () => {
  it('offers a downloadable MP4 after Stop that ffprobe reads as H.264 + Opus', async () => {
    const { s, p } = await h.start('?stream=rec&source=canvas&audio=mic&preset=480p&fps=30');
    expect(await p.page.isChecked('#record')).toBe(false);
    await p.page.getByLabel('Record a local copy').check();
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    await s.waitFor(() => (s.connections[0]?.binaries.length ?? 0) > 120, '120 fragments (about 2.5 s)');
    await p.page.getByRole('button', { name: 'Stop' }).click();
    await waitState(p.page, 'idle');
    const link = p.page.getByRole('link', { name: 'Download the recording' });
    await link.waitFor();
    expect(await link.getAttribute('href')).toMatch(/^blob:/);
    expect(await link.getAttribute('download')).toMatch(/^rec-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.mp4$/);
    const [download] = await Promise.all([p.page.waitForEvent('download'), link.click()]);
    const file = path.join(dir, 'rec.mp4');
    await download.saveAs(file);
    expect(statSync(file).size).toBeGreaterThan(10_000);
    const info = await ffprobe(file);
    const v = info.streams.find((x) => x.codec_type === 'video');
    const a = info.streams.find((x) => x.codec_type === 'audio');
    expect(v).toMatchObject({ codec_name: 'h264', width: 854, height: 480 });
    expect(a).toMatchObject({ codec_name: 'opus' });
    const duration = Number(info.format?.['duration']);
    expect(duration).toBeGreaterThan(1.5);
    expect(duration).toBeLessThan(10);
    expect(p.errors).toEqual([]);
  });

  it('Stop while the recorder module is still loading leaves the page idle, with nothing started behind it', async () => {
    const { s, p } = await h.start('?stream=rec3&source=canvas&audio=none&preset=480p&record=1');
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    await p.page.route('**/assets/recorder-*.js', async (route) => {
      await held;
      await route.continue();
    });
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'connecting');
    await p.page.waitForTimeout(300); // the canvas is up; start() now awaits the held import
    await p.page.getByRole('button', { name: 'Stop' }).click();
    await waitState(p.page, 'idle');
    release();
    await p.page.waitForTimeout(1500);
    expect(await stateLog(p.page)).toEqual(['idle', 'connecting', 'idle']);
    expect(await p.page.textContent('#stat-bitrate')).toBe('–'); // no stats timer ticking behind an idle page
    expect(s.connections).toHaveLength(0);
    expect(await p.page.isHidden('#preview-empty')).toBe(false);
    expect(await p.page.getByRole('button', { name: /Go live/ }).isEnabled()).toBe(true);
    expect(p.errors).toEqual([]);
  });

  it('a local copy that cannot be written still ends idle, says why, and Go live works again', async () => {
    const { s, p } = await h.start('?stream=rec4&source=canvas&audio=none&preset=480p&record=1', {}, async (o) => {
      // Where a long recording fails for real: turning the finished file into a download (or mp4-muxer's finalize).
      await o.page.addInitScript(() => {
        URL.createObjectURL = () => {
          throw new DOMException('Array buffer allocation failed', 'NotReadableError');
        };
      });
    });
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    await s.waitFor(() => (s.connections[0]?.binaries.length ?? 0) > 20, '20 fragments');
    await p.page.getByRole('button', { name: 'Stop' }).click();
    expect(await waitState(p.page, 'idle')).toMatch(/^Stopped/);
    expect(await p.page.textContent('#recording')).toMatch(/local copy could not be written \(Array buffer allocation failed\); the broadcast itself stopped normally/);
    await p.page.waitForSelector('#go-live:not([disabled])');
    expect(p.errors).toEqual([]);
  });

  it('records the camera with the ?record=1 parameter, audio-free', async () => {
    const { s, p } = await h.start('?stream=rec2&source=camera&audio=none&preset=480p&record=1');
    expect(await p.page.isChecked('#record')).toBe(true);
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    await s.waitFor(() => (s.connections[0]?.binaries.length ?? 0) > 30, '30 fragments');
    await p.page.getByRole('button', { name: 'Stop' }).click();
    const link = p.page.getByRole('link', { name: 'Download the recording' });
    await link.waitFor();
    const [download] = await Promise.all([p.page.waitForEvent('download'), link.click()]);
    const file = path.join(dir, 'rec2.mp4');
    await download.saveAs(file);
    const info = await ffprobe(file);
    expect(info.streams.map((x) => x.codec_name)).toEqual(['h264']);
  });
});
