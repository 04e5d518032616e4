//! [`ModuleBinary`]: a module's wasm binary (or where to read it) and what its code shows, shared by the
//! module's compiled variants.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustc_hash::FxHashSet;
use wasmparser::{ExternalKind, Operator, Parser, Payload, TypeRef};

use crate::error::{Error, Result};
use crate::module::to_binary;

/// Where a module's wasm comes from when another engine variant must be compiled.
pub(crate) enum WasmSource {
    /// The bytes, kept in memory (`compile(bytes)`).
    Bytes(Arc<[u8]>),
    /// The file it was loaded from without being read (`compile_file` on a cache hit), with its size: read
    /// again only if a variant must be compiled, and refused unless it still has the same hash.
    File(PathBuf, u64),
}

/// A module's wasm binary, by its blake3 hash, and the facts about its code found from it on first need.
pub(crate) struct ModuleBinary {
    pub(crate) hash: blake3::Hash,
    pub(crate) source: WasmSource,
    /// See [`Self::is_short`].
    short: OnceLock<FxHashSet<Box<str>>>,
}

/// A remembered file larger than this is not read to find its short exports: its exports take the fiber
/// path (reading and hashing a file this size costs a few milliseconds, once per process).
const SHORT_SCAN_MAX_FILE: u64 = 8 << 20;

impl ModuleBinary {
    pub(crate) fn new(hash: blake3::Hash, source: WasmSource) -> Self {
        Self {
            hash,
            source,
            short: OnceLock::new(),
        }
    }

    /// The wasm's size in bytes (of the file, for a text file).
    pub(crate) fn len(&self) -> u64 {
        match &self.source {
            WasmSource::Bytes(bytes) => bytes.len() as u64,
            WasmSource::File(_, len) => *len,
        }
    }

    /// The wasm binary, read again from its file if it was not kept (and refused if it changed since).
    pub(crate) fn wasm(&self) -> Result<std::borrow::Cow<'_, [u8]>> {
        match &self.source {
            WasmSource::Bytes(bytes) => Ok(std::borrow::Cow::Borrowed(bytes)),
            WasmSource::File(path, _) => {
                let read =
                    std::fs::read(path).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
                let binary = to_binary(&read)?.into_owned();
                if blake3::hash(&binary) != self.hash {
                    return Err(Error::Compile(format!(
                        "{} changed since it was loaded; compile it again for a new module",
                        path.display()
                    )));
                }
                Ok(std::borrow::Cow::Owned(binary))
            }
        }
    }

    /// Whether function export `name` is *short*: its body has no loop and calls nothing, so it runs straight
    /// through and can stop only at its entry. Wasmtime's code checks the epoch deadline (and fuel) at
    /// function entries and loop headers only, so such a function cannot be suspended once it has begun: an
    /// async call of it gains nothing from a fiber, and runs as a synchronous one (no fiber: ~60 instead of
    /// ~300 ns). Found once per binary, on first use, by reading the export and code sections (function
    /// bodies are skipped by their sizes; only exported ones are read); `false` for every export of a
    /// remembered file over [`SHORT_SCAN_MAX_FILE`] or a binary that cannot be read.
    pub(crate) fn is_short(&self, name: &str) -> bool {
        self.short.get_or_init(|| self.find_short()).contains(name)
    }

    fn find_short(&self) -> FxHashSet<Box<str>> {
        if matches!(self.source, WasmSource::File(_, len) if len > SHORT_SCAN_MAX_FILE) {
            return FxHashSet::default();
        }
        match self.wasm() {
            Ok(binary) => short_exports(&binary).unwrap_or_default(),
            Err(_) => FxHashSet::default(),
        }
    }
}

/// The function exports of `binary` defined in it whose bodies have no loop and no call (see
/// [`ModuleBinary::is_short`]). `None` if the binary does not parse (it compiled, so it does; be safe anyway).
fn short_exports(binary: &[u8]) -> Option<FxHashSet<Box<str>>> {
    let mut imported = 0u32;
    // Function index → the names it is exported as.
    let mut exported: rustc_hash::FxHashMap<u32, Vec<&str>> = Default::default();
    let mut last_exported = 0u32;
    let mut defined = 0u32;
    let mut short = FxHashSet::default();
    for payload in Parser::new(0).parse_all(binary) {
        match payload.ok()? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if matches!(import.ok()?.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)) {
                        imported += 1;
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.ok()?;
                    if export.kind == ExternalKind::Func && export.index >= imported {
                        exported.entry(export.index).or_default().push(export.name);
                        last_exported = last_exported.max(export.index);
                    }
                }
            }
            Payload::CodeSectionStart { .. } if exported.is_empty() => break,
            Payload::CodeSectionEntry(body) => {
                let index = imported + defined;
                defined += 1;
                if let Some(names) = exported.get(&index) {
                    if runs_straight(&body)? {
                        short.extend(names.iter().map(|n| Box::<str>::from(*n)));
                    }
                }
                if index >= last_exported {
                    break;
                }
            }
            _ => {}
        }
    }
    Some(short)
}

/// Whether a function body has no loop and no call of any kind (`None`: it does not parse).
fn runs_straight(body: &wasmparser::FunctionBody<'_>) -> Option<bool> {
    let mut ops = body.get_operators_reader().ok()?;
    while !ops.eof() {
        match ops.read().ok()? {
            Operator::Loop { .. }
            | Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCallRef { .. }
            | Operator::Resume { .. }
            | Operator::ResumeThrow { .. }
            | Operator::ResumeThrowRef { .. }
            | Operator::Suspend { .. }
            | Operator::Switch { .. } => return Some(false),
            _ => {}
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(wat: &str) -> Vec<String> {
        let binary = wat::parse_str(wat).unwrap();
        let mut names: Vec<String> = short_exports(&binary).unwrap().into_iter().map(String::from).collect();
        names.sort();
        names
    }

    #[test]
    fn an_export_without_loops_or_calls_is_short() {
        let wat = r#"(module
            (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
            (func (export "branchy") (param i32) (result i32)
              (if (result i32) (local.get 0) (then (i32.const 1)) (else (block (result i32) (i32.const 2))))))"#;
        assert_eq!(short(wat), ["add", "branchy"]);
    }

    #[test]
    fn a_loop_or_any_call_makes_an_export_long() {
        let wat = r#"(module
            (type $t (func))
            (import "env" "f" (func $imported))
            (table 1 funcref)
            (func $leaf)
            (func (export "loops") (loop))
            (func (export "calls") (call $leaf))
            (func (export "calls_import") (call $imported))
            (func (export "calls_indirect") (call_indirect (type $t) (i32.const 0)))
            (func (export "tail_calls") (return_call $leaf))
            (func (export "leaf_too") (nop)))"#;
        assert_eq!(short(wat), ["leaf_too"]);
    }

    #[test]
    fn a_re_exported_import_is_never_short() {
        let wat = r#"(module (import "env" "f" (func $f)) (export "f" (func $f)) (func (export "g")))"#;
        assert_eq!(short(wat), ["g"]);
    }

    #[test]
    fn every_name_of_a_short_function_is_short() {
        let wat = r#"(module (func $f (export "a") (export "b")) (func (export "c") (loop)))"#;
        assert_eq!(short(wat), ["a", "b"]);
    }
}
