// Loading the FastCDC kernel (wasm/build/fastcdc.wasm, built from wasm/assembly/fastcdc.ts).
//
// The module is compiled once per process; every instance gets its own memory, so chunkers never
// share state. The memory layout below must agree with the kernel source.

import { readFile } from "node:fs/promises";

/** The kernel's exports (see wasm/assembly/fastcdc.ts). */
export interface KernelExports {
  configure(minSize: number, avgSize: number, maxSize: number, smallMask: bigint, largeMask: bigint): void;
  scan(start: number, end: number, final: number, lengths: number, hashes: number, capacity: number): number;
}

export interface KernelInstance {
  readonly exports: KernelExports;
  readonly memory: ArrayBuffer;
}

// Memory layout. The two gear tables sit at addresses the kernel hard-codes.
export const GEAR_ADDRESS = 0;
export const GEAR_LS_ADDRESS = 2048;
/** Cuts reported per scan() call: enough that one call usually covers a whole window. */
export const CUT_CAPACITY = 4096;
export const LENGTHS_ADDRESS = 4096; // u32[CUT_CAPACITY]
export const HASHES_ADDRESS = LENGTHS_ADDRESS + 4 * CUT_CAPACITY; // u64[CUT_CAPACITY]
export const WINDOW_ADDRESS = 65536; // input bytes from here on
const PAGE = 65536;

// This file's lib (ES2023, no DOM) has no WebAssembly typings; these are the few calls we make.
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

/** Where the committed kernel lives; the same relative path from src/chunker and dist/chunker. */
export const KERNEL_URL = new URL("../../wasm/build/fastcdc.wasm", import.meta.url);

let compiled: Promise<WasmModule> | undefined;

function kernelModule(): Promise<WasmModule> {
  if (!compiled) {
    compiled = readFile(KERNEL_URL).then((bytes) => wasm.compile(bytes));
    // A failed load is not cached, so a later call can try again.
    compiled.catch(() => {
      compiled = undefined;
    });
  }
  return compiled;
}

/** A fresh kernel instance with its own fixed-size memory holding a window of `windowBytes`. */
export async function instantiateKernel(windowBytes: number): Promise<KernelInstance> {
  const pages = Math.ceil((WINDOW_ADDRESS + windowBytes) / PAGE);
  // Fixed size: the memory never grows, so views over its buffer stay valid.
  const memory = new wasm.Memory({ initial: pages, maximum: pages });
  const instance = await wasm.instantiate(await kernelModule(), { env: { memory } });
  const { configure, scan } = instance.exports;
  if (typeof configure !== "function" || typeof scan !== "function") {
    throw new Error(`${KERNEL_URL.pathname} is not the FastCDC kernel (missing configure/scan exports)`);
  }
  return {
    exports: { configure, scan } as KernelExports,
    memory: memory.buffer,
  };
}
