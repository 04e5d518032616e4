//! Linking instances: imports served by other instances' exports ([`ExportRef`], or a whole instance as a
//! namespace through [`Imports::instance`]).
//!
//! Wasm objects (functions, memories, tables, globals) belong to one wasmtime `Store`, and linking shares the
//! object itself — a write through one instance is seen by the other, as in wasm — so linked instances live in
//! one store. The ownership rule:
//!
//! - An instance whose imports name other instances is created **in their store**. Every instance it names
//!   must live in that one store (5001 otherwise): link instances into a store as you create them.
//! - A store lives while any handle of its instances does. Dropping an exporter's handle makes that handle
//!   5005 at once, but its objects (and the store's pool slots) stay alive for the instances linked to them;
//!   the store is freed with its last handle.
//! - A store's instances share what wasmtime keeps per store: its limits (fuel, timeout, memory cap), its
//!   WASI context and its lock (calls on any of them take turns). So an instance joining a store takes no
//!   limits of its own (5001 if given; set them on the store's first instance); WASI options are taken when
//!   the store has no WASI context yet, else refused (5001).
//!
//! Instances that link nothing keep the fast path (their own store, pooled, pre-instantiated). Joining a
//! store builds a `Linker` for the one instantiation: tens of microseconds, paid by linked instances only.

use std::sync::Arc;

use wasmtime::{Extern, Linker};

use crate::error::{Error, Result};
use crate::host_func::{self, BridgeHome, HostFunc, Imports, Provided, Source};
use crate::host_request::HostChannel;
use crate::instance::{
    self, first_memory_name, InstanceId, InstanceOptions, InstanceState, Instantiating, Member, Outcome,
};
use crate::module::{import_info, CompiledModule, ImportInfo};
use crate::store_data::StoreData;
use crate::wasi::BuiltWasi;

/// An export of a live instance, given as an import of another ([`Imports::export`]): a function, memory,
/// table or global, shared rather than copied. The exporting instance's store outlives the link (see the
/// module docs for the ownership rule).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExportRef {
    /// The exporting instance.
    pub instance: InstanceId,
    /// Its export's name.
    pub name: String,
}

impl ExportRef {
    /// Export `name` of `instance`.
    pub fn new(instance: InstanceId, name: impl Into<String>) -> Self {
        Self {
            instance,
            name: name.into(),
        }
    }
}

/// What [`Join::start`] gives: the instantiation's future and the store's mailbox, or the linking error with
/// the state to put back.
pub(crate) type StartedJoin =
    std::result::Result<(Instantiating, Option<Arc<HostChannel>>), (Box<InstanceState>, Error)>;

/// 5001 when an instance joining a store was given options the store decides.
pub(crate) fn check_options(options: &InstanceOptions, store_of: InstanceId) -> Result<()> {
    let given = [
        ("fuel", options.fuel.is_some()),
        ("call_fuel", options.call_fuel.is_some()),
        ("timeout", options.timeout.is_some()),
        ("max_memory_bytes", options.max_memory_bytes.is_some()),
        ("preemptible", options.preemptible.is_some()),
    ];
    match given.iter().find(|(_, set)| *set) {
        Some((name, _)) => Err(Error::Instantiate(format!(
            "`{name}` cannot be set on an instance linked to instance {}: linked instances share its store and \
             its limits; set them when creating instance {}",
            store_of.0, store_of.0
        ))),
        None => Ok(()),
    }
}

/// What an instance joining a store links to: the instances its imports name, as (handle, member of the
/// store), the runtime's host modules, and a WASI context when it brings the store's first.
pub(crate) struct Join<'a> {
    pub(crate) compiled: &'a Arc<CompiledModule>,
    pub(crate) imports: &'a Imports,
    pub(crate) members: &'a [(InstanceId, usize)],
    pub(crate) shared: &'a Imports,
    pub(crate) wasi: Option<BuiltWasi>,
}

impl Join<'_> {
    /// Instantiate into `state`'s store on this thread and add the instance as its newest member. Every
    /// import is resolved before anything runs: a missing one, or an export of the wrong kind or type, is
    /// 5001 naming it; a trapping start function is 5001 too (its effects on shared objects stay, as in wasm).
    pub(crate) fn add_to(self, state: &mut InstanceState) -> Result<()> {
        let compiled = self.compiled.clone();
        let linker = self.link(state)?;
        let channel = state.store.data().channel.clone();
        let instance = match channel {
            Some(channel) => instance::instantiate_on_fiber(
                Some(channel),
                linker.instantiate_async(&mut state.store, &compiled.module),
            ),
            None => linker.instantiate(&mut state.store, &compiled.module),
        }
        .map_err(|e| instance::instantiate_error(&e))?;
        state.members.push(Member::new(instance, compiled));
        Ok(())
    }

    /// [`Self::add_to`] as an async call's future (the start function may wait in host functions answered
    /// outside the call); the state travels in it. Linking errors come back at once, with the state.
    /// Also returns the store's mailbox for suspending host functions, if it has one.
    pub(crate) fn start(self, mut state: Box<InstanceState>) -> StartedJoin {
        let compiled = self.compiled.clone();
        let linker = match self.link(&mut state) {
            Ok(linker) => linker,
            Err(e) => return Err((state, e)),
        };
        let channel = state.store.data().channel.clone();
        let running: Instantiating = Box::pin(async move {
            let result = linker.instantiate_async(&mut state.store, &compiled.module).await;
            let outcome = match result {
                Ok(instance) => {
                    state.members.push(Member::new(instance, compiled));
                    Ok(Outcome::Instantiated)
                }
                Err(e) => Err(instance::instantiate_error(&e)),
            };
            (state, outcome)
        });
        Ok((running, channel))
    }

    /// Resolve every import into a linker for the one instantiation (see [`Self::add_to`]); gives the store the
    /// WASI context this instance brings and, when it imports suspending host functions, a mailbox for them.
    fn link(mut self, state: &mut InstanceState) -> Result<Linker<StoreData>> {
        let compiled = self.compiled;
        let needs_wasi = compiled.needs_wasi();
        let mut linker = if needs_wasi {
            compiled.slot.wasi_linker.clone()
        } else {
            compiled.slot.plain_linker.clone()
        };
        linker.allow_shadowing(true);
        if let Some(wasi) = self.wasi.take() {
            state.adopt_wasi(wasi);
        }
        let memory = first_memory_name(compiled);
        let (mut suspends, mut in_place, mut home) = (false, false, BridgeHome::NONE);
        for import in compiled.module.imports() {
            if needs_wasi && import.module() == "wasi_snapshot_preview1" {
                continue;
            }
            let info = import_info(import.module(), import.name(), &import.ty());
            let export = match self.imports.lookup(&info.module, &info.name) {
                Some(Provided::Func(f)) => {
                    suspends |= define_host(&mut linker, &import, &info, Some(f), &memory)?;
                    in_place |= f.is_reentrant();
                    home = home.and(f.bridge_home());
                    continue;
                }
                Some(Provided::Export(e)) => Some(self.export(state, e.instance, &e.name, &info)?),
                Some(Provided::Namespace(id)) => self.namespace_export(state, id, &info),
                None => None,
            };
            match export {
                Some(export) => linker
                    .define(&state.store, &info.module, &info.name, export)
                    .map(|_| ())
                    .map_err(|e| Error::Instantiate(format!("cannot link {}: {e:#}", info.describe())))?,
                None => {
                    let f = self.shared.get(&info.module, &info.name);
                    suspends |= define_host(&mut linker, &import, &info, f, &memory)?;
                    in_place |= f.is_some_and(HostFunc::is_reentrant);
                    home = home.and(f.map_or(BridgeHome::NONE, HostFunc::bridge_home));
                }
            }
        }
        state.add_host_kinds(suspends, in_place, home)?;
        if suspends {
            state.enable_suspending();
        }
        Ok(linker)
    }

    /// The store member behind handle `id` (one of `members`).
    fn member(&self, id: InstanceId) -> usize {
        let found = self.members.iter().find(|(i, _)| *i == id);
        found.map(|(_, m)| *m).unwrap_or(usize::MAX)
    }

    /// Export `name` of instance `id`, for import `info` (5001 when it has none).
    fn export(&self, state: &mut InstanceState, id: InstanceId, name: &str, info: &ImportInfo) -> Result<Extern> {
        let member = state.members.get(self.member(id)).map(|m| m.instance);
        member
            .and_then(|instance| instance.get_export(&mut state.store, name))
            .ok_or_else(|| {
                Error::Instantiate(format!(
                    "unknown import {}: instance {} has no export `{name}`",
                    info.describe(),
                    id.0
                ))
            })
    }

    /// Instance `id`'s export of the import's name, if it has one (else the runtime's host modules may serve it).
    fn namespace_export(&self, state: &mut InstanceState, id: InstanceId, info: &ImportInfo) -> Option<Extern> {
        let instance = state.members.get(self.member(id))?.instance;
        instance.get_export(&mut state.store, &info.name)
    }
}

/// Define host function `found` for import `info` with its own trampoline (the store's slot table is fixed).
/// Returns whether it suspends.
fn define_host(
    linker: &mut Linker<StoreData>,
    import: &wasmtime::ImportType<'_>,
    info: &ImportInfo,
    found: Option<&HostFunc>,
    memory: &Option<Arc<str>>,
) -> Result<bool> {
    let f = host_func::host_import(info, found)?;
    let Some(ty) = import.ty().func().cloned() else {
        return Err(Error::Instantiate(format!(
            "import {} is not a function",
            info.describe()
        )));
    };
    let suspending = f.is_suspending();
    host_func::define(linker, info, ty, Source::Own(f, memory.clone()), suspending)?;
    Ok(suspending)
}
