/**
 * Errors of `runtime:wasm`: every failure is a {@link WasmError} with a stable numeric `code` (5000–5013) and a
 * `name` per code. Messages come from the Rust core and read `[5003] export not found: ...`.
 *
 * @module
 */

/** The stable error codes (the numbers never change meaning; new ones are appended). */
export const ErrorCode = {
  CompileError: 5000,
  InstantiateError: 5001,
  CallError: 5002,
  ExportNotFound: 5003,
  InvalidModuleHandle: 5004,
  InvalidInstanceHandle: 5005,
  MemoryError: 5006,
  TypeError: 5007,
  IoError: 5008,
  PermissionDenied: 5009,
  WasiError: 5010,
  FuelExhausted: 5011,
  Timeout: 5012,
  LimitExceeded: 5013,
} as const;
Object.freeze(ErrorCode);

/** One of the {@link ErrorCode} names. */
export type ErrorName = keyof typeof ErrorCode;
/** One of the {@link ErrorCode} numbers. */
export type ErrorCodeNumber = (typeof ErrorCode)[ErrorName];

const NAMES: Record<number, ErrorName> = Object.fromEntries(
  Object.entries(ErrorCode).map(([name, code]) => [code, name as ErrorName]),
);

/** The name of a code (`5003` → `"ExportNotFound"`), or `undefined` for a number that is not one of ours. */
export function errorName(code: number): ErrorName | undefined {
  return NAMES[code];
}

/**
 * An error from the WebAssembly runtime. `code` is the stable number, `name` its name (`"ExportNotFound"`),
 * `message` the core's text (`"[5003] export not found: no export named `nope`"`).
 */
export class WasmError extends Error {
  /** The stable numeric code, 5000–5013. */
  readonly code: ErrorCodeNumber;

  /** `name` follows from `code` (`"WasmError"` for a number that is not one of ours). */
  constructor(code: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code as ErrorCodeNumber;
    this.name = NAMES[code] ?? "WasmError";
  }
}

const PREFIX = /^\[(\d{4})\] /;

/** Lower-case words the core's messages use after `[code] ` (mirrors `src/error.rs`), for errors raised in TS. */
const WORDS: Record<number, string> = {
  5000: "compile error",
  5001: "instantiate error",
  5002: "call error",
  5003: "export not found",
  5004: "invalid module handle",
  5005: "invalid instance handle",
  5006: "memory error",
  5007: "type error",
  5008: "io error",
  5009: "permission denied",
  5010: "wasi error",
  5011: "fuel exhausted",
  5012: "timeout",
  5013: "limit exceeded",
};

/** A `WasmError` raised on the TypeScript side, worded like the core's (`[5007] type error: ...`). */
export function wasmError(code: ErrorCodeNumber, detail: string): WasmError {
  return new WasmError(code, `[${code}] ${WORDS[code]}: ${detail}`);
}

/** A message that already carries its `[code] ` prefix is kept as is; otherwise the prefix is added. */
export function withPrefix(code: number, message: string): string {
  return PREFIX.test(message) ? message : `[${code}] ${message}`;
}
