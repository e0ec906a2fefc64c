// Loading the committed WebAssembly kernels (wasm/build/*.wasm). This layer's lib (ES2023, no DOM)
// has no WebAssembly typings; these are the few calls made.

import { readFile } from "node:fs/promises";

interface WasmModule {
  readonly __wasmModule: unique symbol;
}
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: object): Promise<{ exports: Record<string, unknown> }>;
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Bytes in a WebAssembly memory page. */
const WASM_PAGE = 65536;

/**
 * The module at `url`, compiled once per process by the function returned; a failed load is not
 * kept, so a later call can try again.
 */
export function compiledOnce(url: URL): () => Promise<WasmModule> {
  let compiled: Promise<WasmModule> | undefined;
  return () => {
    if (!compiled) {
      compiled = readFile(url).then((bytes) => wasm.compile(bytes));
      compiled.catch(() => (compiled = undefined));
    }
    return compiled;
  };
}

/**
 * An instance of `module` with a memory of its own of `bytes` (rounded up to whole pages), fixed
 * in size: it never grows, so views over its buffer stay valid.
 */
export async function instantiateWithMemory(module: Promise<WasmModule>, bytes: number): Promise<{ exports: Record<string, unknown>; memory: ArrayBuffer }> {
  const pages = Math.max(1, Math.ceil(bytes / WASM_PAGE));
  const memory = new wasm.Memory({ initial: pages, maximum: pages });
  const instance = await wasm.instantiate(await module, { env: { memory } });
  return { exports: instance.exports, memory: memory.buffer };
}
