//! [`Func`]: a function export resolved once, the fastest way to call one export repeatedly from Rust.

use std::sync::Arc;

use crate::error::Result;
use crate::instance::{CallLimits, InstanceCell, InstanceId};
use crate::runtime::Runtime;
use crate::value::Value;

/// A function export of a live instance, resolved by [`Runtime::func`]. A call skips what
/// [`Runtime::call_into`] pays per call on top of the guest: the export-name lookup, the handle table and the
/// thread-local instance cache; what remains is the instance lock (calls on one instance take turns), argument
/// conversion by signature and wasmtime's entry. Cheap to clone; may be used from any thread. Once the instance
/// is dropped every call is 5005, as with its handle.
#[derive(Clone)]
pub struct Func {
    runtime: Runtime,
    cell: Arc<InstanceCell>,
    instance: InstanceId,
    index: usize,
    /// The export's name, for calls from inside a reentrant host function of its store (which go by name).
    name: Arc<str>,
}

impl Func {
    pub(crate) fn new(
        runtime: Runtime,
        cell: Arc<InstanceCell>,
        instance: InstanceId,
        index: usize,
        name: Arc<str>,
    ) -> Self {
        Self {
            runtime,
            cell,
            instance,
            index,
            name,
        }
    }

    /// The instance this function belongs to.
    pub fn instance(&self) -> InstanceId {
        self.instance
    }

    /// Call with arguments converted by the signature; results are appended to `out` (no allocation once `out`
    /// has room). Errors as for [`Runtime::call`].
    pub fn call_into(&self, args: &[Value], out: &mut Vec<Value>) -> Result<()> {
        self.call_with_limits(args, CallLimits::default(), out)
    }

    /// [`Self::call_into`] with per-call limits.
    #[inline]
    pub fn call_with_limits(&self, args: &[Value], limits: CallLimits, out: &mut Vec<Value>) -> Result<()> {
        let index = self.index;
        let called = (self.runtime).on_cell(&self.cell, self.instance, |s, ticker| {
            s.call_index(index, args, limits, ticker, out)
        });
        match called {
            Err(e) => match crate::runtime::call_in_place(&self.cell, &self.name, args) {
                Some(values) => values.map(|v| out.extend(v)),
                None => Err(e),
            },
            done => done,
        }
    }

    /// Call and return the results in a new vector.
    pub fn call(&self, args: &[Value]) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        self.call_into(args, &mut out)?;
        Ok(out)
    }
}

impl std::fmt::Debug for Func {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Func")
            .field("instance", &self.instance)
            .field("index", &self.index)
            .finish()
    }
}
