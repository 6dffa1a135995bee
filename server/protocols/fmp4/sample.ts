// What the hub's frame readers get: samples in the codec's sample form, and each track's configuration. Defined here,
// with the converters that turn them into fMP4, so the hub (stream/samples.ts makes them) and every frame reader
// (egress, HTTP, recorder) share one definition.

export interface Sample {
  /** Presentation and decode time in the track's clock rate, on the stream's one timeline. */
  pts: number;
  dts: number;
  keyframe: boolean;
  /** Sample form: length-prefixed NAL units (4-byte lengths) for H.264/H.265, a raw frame for audio. */
  data: Uint8Array;
}

/** What an MP4 sample entry needs of a track; `version` changes whenever it does (a new init segment is due). */
export type SampleConfig =
  | { codec: 'h264'; clockRate: 90000; avcC: Uint8Array; width: number; height: number; version: number }
  | { codec: 'h265'; clockRate: 90000; hvcC: Uint8Array; width: number; height: number; version: number }
  | { codec: 'aac'; clockRate: number; audioSpecificConfig: Uint8Array; sampleRate: number; channels: number; version: number }
  | { codec: 'opus'; clockRate: 48000; channels: number; version: number }
  | { codec: 'pcma' | 'pcmu'; clockRate: number; channels: number; version: number };

export type SampleCodec = SampleConfig['codec'];
