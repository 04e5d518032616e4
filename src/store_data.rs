//! What each wasmtime `Store` carries: the WASI context (if any) and the resource limiter.

use wasmtime::StoreLimits;
use wasmtime_wasi::p1::WasiP1Ctx;

/// Per-instance host state.
pub(crate) struct StoreData {
    pub(crate) wasi: Option<WasiP1Ctx>,
    pub(crate) limits: StoreLimits,
}

impl StoreData {
    /// The WASI context. Only the WASI linker calls this, and instances are linked with it only when they were
    /// given a context, so a missing context is a bug in this crate.
    pub(crate) fn wasi_mut(&mut self) -> &mut WasiP1Ctx {
        self.wasi
            .as_mut()
            .expect("WASI imports are only linked for instances built with a WASI context")
    }
}
