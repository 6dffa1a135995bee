// A slow uplink. On loopback the kernel's socket buffers (tens of MB) hide any slowness for minutes, so the page's
// WebSocket is wrapped in one whose bufferedAmount drains at a fixed rate, as a narrow link would; the bytes still
// reach the test server at once, which checks that the page only ever drops video up to a keyframe.
import { describe, expect, it } from 'vitest';
import { waitState, type OpenedPage } from '../support/browser.ts';
import { codedPicture, frameNumGaps, spsOf } from '../support/h264-frame-num.ts';
import { parseUpload, usePageHarness } from '../support/page-harness.ts';

const h = usePageHarness();
const LINK_BYTES_PER_S = 50_000; // 400 kbit/s

const slowLink = async (p: OpenedPage): Promise<void> => {
  await p.page.addInitScript((rate: number) => {
    const w = window as unknown as { __maxBacklog: number };
    w.__maxBacklog = 0;
    class SlowSocket extends WebSocket {
      private queued = 0;
      private last = performance.now();
      private drain(): void {
        const now = performance.now();
        this.queued = Math.max(0, this.queued - ((now - this.last) / 1000) * rate);
        this.last = now;
      }
      override get bufferedAmount(): number {
        this.drain();
        return super.bufferedAmount + Math.round(this.queued);
      }
      override send(d: string | ArrayBufferLike | Blob | ArrayBufferView): void {
        this.drain();
        this.queued += typeof d === 'string' ? d.length : d instanceof Blob ? d.size : d.byteLength;
        w.__maxBacklog = Math.max(w.__maxBacklog, this.queued);
        super.send(d as ArrayBuffer);
      }
    }
    window.WebSocket = SlowSocket;
  }, LINK_BYTES_PER_S);
};

describe('publisher page: slow uplink', () => {
  it('keeps the backlog near one second: drops video to the next keyframe and lowers the bitrate', async () => {
    const { s, p } = await h.start('?stream=slow&source=camera&audio=mic&preset=720p&fps=30&bitrate=2500', {}, slowLink);
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    await p.page.waitForTimeout(10_000);
    expect(await p.page.getByTestId('status').getAttribute('data-state')).toBe('live');
    const maxBacklog = await p.page.evaluate(() => (window as unknown as { __maxBacklog: number }).__maxBacklog);
    // The bound is ~1 s of what the link drains; a keyframe sent just under it may overshoot a little.
    expect(maxBacklog / LINK_BYTES_PER_S).toBeLessThan(2.5);
    expect(Number(await p.page.textContent('#stat-dropped'))).toBeGreaterThan(0);
    expect(await p.page.textContent('#notice')).toMatch(/bitrate lowered to \d+ kbit\/s/);
    const bitrate = (await p.page.textContent('#stat-bitrate')) ?? '';
    expect(bitrate).not.toBe('2.5 Mbit/s');

    // Changing the bitrate (VideoEncoder.configure) keeps the avcC, so the connection is never replaced.
    expect(s.connections).toHaveLength(1);
    // Every drop ends at a keyframe: the far end never sees a picture whose reference was dropped. frame_num (not the
    // timestamps: the fake capture skips frames under load) shows a missing reference picture.
    const upload = parseUpload(s.connections[0]!);
    const track = upload.init.tracks.find((t) => t.kind === 'video')!;
    const sps = spsOf(track.parameterSets!.sps[0]!);
    const v = upload.fragments.filter((f) => f.track === 'video');
    const pictures = v.map((f) => codedPicture(f.sampleData[0]!, track.nalLengthSize!, sps));
    expect(frameNumGaps(pictures, sps)).toEqual([]);
    // And there were drops: video time gaps of several frames that end at a keyframe.
    const dropsToKeyframe = v.filter((f, i) => i > 0 && f.keyframe && f.time - v[i - 1]!.time > 2.5 * 3000).length;
    expect(dropsToKeyframe).toBeGreaterThan(0);
    await p.page.getByRole('button', { name: 'Stop' }).click();
    await waitState(p.page, 'idle');
  });
});
