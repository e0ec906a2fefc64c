// Loading the FastCDC kernel (wasm/build/fastcdc.wasm, built from wasm/assembly/fastcdc.ts).
//
// The module is compiled once per process; every instance gets its own memory, so chunkers never
// share state. The memory layout below must agree with the kernel source.

import { compiledOnce, instantiateWithMemory } from "./wasm-module.ts";

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

/** Where the committed kernel lives; the same relative path from src/chunker and dist/chunker. */
export const KERNEL_URL = new URL("../../wasm/build/fastcdc.wasm", import.meta.url);

const kernelModule = compiledOnce(KERNEL_URL);

/** A fresh kernel instance with its own fixed-size memory holding a window of `windowBytes`. */
export async function instantiateKernel(windowBytes: number): Promise<KernelInstance> {
  const instance = await instantiateWithMemory(kernelModule(), WINDOW_ADDRESS + windowBytes);
  const { configure, scan } = instance.exports;
  if (typeof configure !== "function" || typeof scan !== "function") {
    throw new Error(`${KERNEL_URL.pathname} is not the FastCDC kernel (missing configure/scan exports)`);
  }
  return {
    exports: { configure, scan } as KernelExports,
    memory: instance.memory,
  };
}
