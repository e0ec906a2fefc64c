import type { ProgressEvent, ProgressSink, Warning } from "../engine/types.ts";
import { formatBytes } from "./format.ts";

/**
 * One line on stderr, redrawn at most 10 times a second: files, bytes, rate and ETA. Warnings
 * are printed above it. Off when stderr is not a terminal or output is JSON.
 */
export class ProgressLine implements ProgressSink {
  private last = 0;
  private readonly started = Date.now();
  private drawn = false;
  private readonly enabled: boolean;
  readonly warnings: Warning[] = [];
  private readonly stream: NodeJS.WriteStream;

  constructor(stream: NodeJS.WriteStream, enabled: boolean) {
    this.stream = stream;
    this.enabled = enabled && Boolean(stream.isTTY);
  }

  progress(e: ProgressEvent): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    const secs = (now - this.started) / 1000;
    const rate = secs > 0 ? e.bytes / secs : 0;
    let eta = "";
    if (e.totalBytes && rate > 0 && e.bytes < e.totalBytes) eta = ` ETA ${Math.ceil((e.totalBytes - e.bytes) / rate)}s`;
    const files = e.totalFiles ? `${e.files}/${e.totalFiles}` : `${e.files}`;
    const bytes = e.totalBytes ? `${formatBytes(e.bytes)}/${formatBytes(e.totalBytes)}` : formatBytes(e.bytes);
    const line = `${e.phase}: ${files} files, ${bytes}, ${formatBytes(rate)}/s${eta}${e.path ? `  ${e.path}` : ""}`;
    this.stream.write(`\r\x1b[K${line.slice(0, (this.stream.columns || 100) - 1)}`);
    this.drawn = true;
  }

  warn(w: Warning): void {
    this.warnings.push(w);
    this.clear();
    this.stream.write(`warning: ${w.path}: ${w.message}\n`);
  }

  clear(): void {
    if (this.drawn) this.stream.write("\r\x1b[K");
    this.drawn = false;
  }
}
