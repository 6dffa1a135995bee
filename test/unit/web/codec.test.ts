import { describe, expect, it } from 'vitest';
import { avcCodec, avcLevel, defaultBitrate, fitSize } from '../../../web/codec.ts';

describe('H.264 codec strings and levels', () => {
  it('picks the smallest level of ITU-T H.264 Table A-1 that holds size, rate and bitrate', () => {
    expect(avcLevel(854, 480, 30, 1_200_000, 'baseline')).toBe(0x1f); // 1620 MBs × 30 > 40500 (3.0)
    expect(avcLevel(640, 360, 30, 1_000_000, 'baseline')).toBe(0x1e);
    expect(avcLevel(1280, 720, 30, 2_500_000, 'main')).toBe(0x1f);
    expect(avcLevel(1280, 720, 60, 4_000_000, 'high')).toBe(0x20);
    expect(avcLevel(1920, 1080, 30, 5_000_000, 'high')).toBe(0x28);
    expect(avcLevel(1920, 1080, 60, 8_000_000, 'high')).toBe(0x2a);
    expect(avcLevel(7680, 4320, 60, 8_000_000, 'high')).toBeUndefined();
  });

  it('writes RFC 6381 avc1 strings for each profile', () => {
    expect(avcCodec('baseline', 0x1f)).toBe('avc1.42E01F');
    expect(avcCodec('main', 0x28)).toBe('avc1.4D0028');
    expect(avcCodec('high', 0x2a)).toBe('avc1.64002A');
  });

  it('fits a source inside a preset without upscaling, in even sizes', () => {
    expect(fitSize(1280, 720, '480p')).toEqual({ width: 854, height: 480 });
    expect(fitSize(640, 480, '720p')).toEqual({ width: 640, height: 480 });
    expect(fitSize(1920, 1200, '1080p')).toEqual({ width: 1728, height: 1080 });
    expect(fitSize(720, 1280, '480p')).toEqual({ width: 480, height: 854 }); // portrait: inside 480p turned on its side
    expect(fitSize(1281, 721, '1080p')).toEqual({ width: 1282, height: 722 });
  });

  it('scales the default bitrate with the frame rate', () => {
    expect(defaultBitrate('720p', 30)).toBe(2_500_000);
    expect(defaultBitrate('720p', 60)).toBeGreaterThan(2_500_000);
    expect(defaultBitrate('720p', 15)).toBeLessThan(2_500_000);
  });
});
