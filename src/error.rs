//! The one error type of the runtime, with the stable numeric codes of the `runtime:wasm` docs.

use std::fmt;

/// Stable numeric error codes (5000–5013). Hosts expose these unchanged (`error.code` in TypeScript,
/// `error[CODE]` on the CLI), so the numbers never change meaning; new codes are appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// The bytes are not a valid module, or the code generator rejected them.
    CompileError = 5000,
    /// Linking or instantiation failed (unknown import, start function trapped, pool refused).
    InstantiateError = 5001,
    /// The guest trapped or the host failed during a call.
    CallError = 5002,
    /// No export of that name (or not of the requested kind).
    ExportNotFound = 5003,
    /// The module handle is unknown, forged or already dropped.
    InvalidModuleHandle = 5004,
    /// The instance handle is unknown, forged or already dropped.
    InvalidInstanceHandle = 5005,
    /// Out-of-bounds memory access, no memory export, or a failed `grow`.
    MemoryError = 5006,
    /// Wrong argument count or type, or a value type the API cannot carry (v128, references).
    TypeError = 5007,
    /// Reading a module file failed.
    IoError = 5008,
    /// The capability policy refused the operation.
    PermissionDenied = 5009,
    /// The WASI configuration could not be built (bad preopen, bad env).
    WasiError = 5010,
    /// The guest ran out of fuel.
    FuelExhausted = 5011,
    /// The call exceeded its wall-clock timeout.
    Timeout = 5012,
    /// A configured cap (live instances, live modules, memory) was reached.
    LimitExceeded = 5013,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 14] = [
        Self::CompileError,
        Self::InstantiateError,
        Self::CallError,
        Self::ExportNotFound,
        Self::InvalidModuleHandle,
        Self::InvalidInstanceHandle,
        Self::MemoryError,
        Self::TypeError,
        Self::IoError,
        Self::PermissionDenied,
        Self::WasiError,
        Self::FuelExhausted,
        Self::Timeout,
        Self::LimitExceeded,
    ];

    /// The numeric code.
    pub fn as_u16(self) -> u16 {
        self as u16
    }

    /// The error's name, as the TypeScript `WasmError.name` reads it.
    pub fn name(self) -> &'static str {
        match self {
            Self::CompileError => "CompileError",
            Self::InstantiateError => "InstantiateError",
            Self::CallError => "CallError",
            Self::ExportNotFound => "ExportNotFound",
            Self::InvalidModuleHandle => "InvalidModuleHandle",
            Self::InvalidInstanceHandle => "InvalidInstanceHandle",
            Self::MemoryError => "MemoryError",
            Self::TypeError => "TypeError",
            Self::IoError => "IoError",
            Self::PermissionDenied => "PermissionDenied",
            Self::WasiError => "WasiError",
            Self::FuelExhausted => "FuelExhausted",
            Self::Timeout => "Timeout",
            Self::LimitExceeded => "LimitExceeded",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u16())
    }
}

/// Every failure of the runtime. `Display` reads `[code] message`; [`Error::code`] is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes are not a valid module, or the code generator rejected them.
    #[error("[5000] compile error: {0}")]
    Compile(String),
    /// Linking or instantiation failed (unknown import, start function trapped, WASI setup refused by the engine).
    #[error("[5001] instantiate error: {0}")]
    Instantiate(String),
    /// A host failure during a call (not a trap of the guest's own).
    #[error("[5002] call error: {0}")]
    Call(String),
    /// The guest trapped (5002). The message carries the trap code and the wasm backtrace; the trap itself is the
    /// error's source, so Rust callers match on [`Error::trap`] instead of parsing text.
    #[error("[5002] call error: {message}")]
    Trap {
        /// The trap, rendered with its wasm backtrace.
        message: String,
        /// What trapped.
        #[source]
        trap: wasmtime::Trap,
    },
    /// No export of that name (or not a function).
    #[error("[5003] export not found: {0}")]
    ExportNotFound(String),
    /// A module handle that is malformed, unknown or dropped.
    #[error("[5004] invalid module handle: {0}")]
    InvalidModuleHandle(String),
    /// An instance handle that is malformed, unknown or dropped.
    #[error("[5005] invalid instance handle: {0}")]
    InvalidInstanceHandle(String),
    /// Out-of-bounds memory access, no memory export, or a failed grow.
    #[error("[5006] memory error: {0}")]
    Memory(String),
    /// Wrong argument count or type, a lossy conversion, or malformed host input (JSON, frames).
    #[error("[5007] type error: {0}")]
    Type(String),
    /// Reading a module file failed.
    #[error("[5008] io error: {0}")]
    Io(String),
    /// The capability policy refused the operation.
    #[error("[5009] permission denied: {0}")]
    PermissionDenied(String),
    /// The WASI configuration could not be built.
    #[error("[5010] wasi error: {0}")]
    Wasi(String),
    /// The guest ran out of fuel.
    #[error("[5011] fuel exhausted: {0}")]
    FuelExhausted(String),
    /// The call exceeded its wall-clock timeout.
    #[error("[5012] timeout: {0}")]
    Timeout(String),
    /// A configured cap (live instances, live modules, memory) was reached.
    #[error("[5013] limit exceeded: {0}")]
    LimitExceeded(String),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Compile(_) => ErrorCode::CompileError,
            Self::Instantiate(_) => ErrorCode::InstantiateError,
            Self::Call(_) | Self::Trap { .. } => ErrorCode::CallError,
            Self::ExportNotFound(_) => ErrorCode::ExportNotFound,
            Self::InvalidModuleHandle(_) => ErrorCode::InvalidModuleHandle,
            Self::InvalidInstanceHandle(_) => ErrorCode::InvalidInstanceHandle,
            Self::Memory(_) => ErrorCode::MemoryError,
            Self::Type(_) => ErrorCode::TypeError,
            Self::Io(_) => ErrorCode::IoError,
            Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::Wasi(_) => ErrorCode::WasiError,
            Self::FuelExhausted(_) => ErrorCode::FuelExhausted,
            Self::Timeout(_) => ErrorCode::Timeout,
            Self::LimitExceeded(_) => ErrorCode::LimitExceeded,
        }
    }

    /// The message without the `[code]` prefix.
    pub fn message(&self) -> &str {
        match self {
            Self::Compile(m)
            | Self::Instantiate(m)
            | Self::Call(m)
            | Self::ExportNotFound(m)
            | Self::InvalidModuleHandle(m)
            | Self::InvalidInstanceHandle(m)
            | Self::Memory(m)
            | Self::Type(m)
            | Self::Io(m)
            | Self::PermissionDenied(m)
            | Self::Wasi(m)
            | Self::FuelExhausted(m)
            | Self::Timeout(m)
            | Self::LimitExceeded(m)
            | Self::Trap { message: m, .. } => m,
        }
    }

    /// The wasm trap behind this error: the trap of a 5002 trap, `OutOfFuel` for 5011, `Interrupt` for a 5012
    /// raised by the guest's epoch check; `None` for every other error.
    pub fn trap(&self) -> Option<wasmtime::Trap> {
        match self {
            Self::Trap { trap, .. } => Some(*trap),
            Self::FuelExhausted(_) => Some(wasmtime::Trap::OutOfFuel),
            Self::Timeout(_) => Some(wasmtime::Trap::Interrupt),
            _ => None,
        }
    }
}

/// Result alias for the runtime.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Render a wasmtime error with its whole context chain (trap code, backtrace) on one message.
pub(crate) fn describe(err: &wasmtime::Error) -> String {
    format!("{err:#}")
}
