// The loop both encoder pipelines share: read a frame from the track, hand it to the encoder, always close it;
// stop on failure without closing the encoder (close() does that, once, after flushing what is queued).
import { encoderError, type PageError } from './errors.ts';
import type { FrameSource } from './frames.ts';

interface EncoderLike {
  readonly state: CodecState;
  flush(): Promise<void>;
  close(): void;
}

export abstract class EncoderLoop<F extends { close(): void }> {
  protected closed = false;
  private closing: Promise<void> | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly kind: 'video' | 'audio',
    protected readonly frames: FrameSource<F>,
    private readonly report: (err: PageError) => void,
  ) {}

  /** The encoder to flush and close on close(); undefined until the first frame configured it. */
  protected abstract currentEncoder(): EncoderLike | undefined;

  /** Encode (or drop) one frame; the loop closes the frame afterwards. */
  protected abstract handle(frame: F): Promise<void>;

  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Stops reading, encodes what is queued (the recording wants the last frames) and closes the encoder. Idempotent,
   * and also after a failure: fail() only stops the loop, the encoder is closed here.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.frames.close();
    await this.loop?.catch(() => {});
    const enc = this.currentEncoder();
    if (enc && enc.state === 'configured') await enc.flush().catch(() => {});
    if (enc && enc.state !== 'closed') enc.close();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      const frame = await this.frames.read().catch(() => undefined);
      if (!frame) break;
      try {
        await this.handle(frame);
      } catch (err) {
        this.fail(encoderError(this.kind, err));
      } finally {
        frame.close();
      }
    }
  }

  protected fail(err: PageError): void {
    if (this.closed) return;
    this.closed = true;
    this.frames.close();
    this.report(err);
  }
}
