//! [`ModuleBinary`]: a module's wasm binary (or where to read it) and what its code shows, shared by the
//! module's compiled variants.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustc_hash::FxHashMap;
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
    /// See [`Self::straight`] and [`Self::may_run_at_start`].
    facts: OnceLock<CodeFacts>,
}

/// What a scan of the binary found (once, on first need).
#[derive(Default)]
struct CodeFacts {
    /// The straight function exports, by name.
    straight: FxHashMap<Box<str>, Straight>,
    /// Whether the module has a start function.
    has_start: bool,
}

/// How a function export's body runs once it has begun, when it has no loop (see [`ModuleBinary::straight`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Straight {
    /// It calls nothing: it runs straight through.
    CallsNothing,
    /// Its only calls are direct calls of imported functions: straight through unless an import is itself
    /// wasm (an export of a linked instance) or may suspend the call (the instance then knows).
    CallsImports,
}

/// A remembered file larger than this is not read to find its straight exports: its exports take the fiber
/// path (reading and hashing a file this size costs a few milliseconds, once per process).
const SHORT_SCAN_MAX_FILE: u64 = 8 << 20;

impl ModuleBinary {
    pub(crate) fn new(hash: blake3::Hash, source: WasmSource) -> Self {
        Self {
            hash,
            source,
            facts: OnceLock::new(),
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

    /// How function export `name` runs once begun, if its body has no loop ([`Straight`]); `None` when it has
    /// a loop or calls wasm code (another function of the module, any indirect or reference call). Wasmtime's
    /// code checks the epoch deadline (and fuel) at wasm function entries and loop headers only, so an export
    /// that is straight, and whose imports (if it calls any) are host functions that do not suspend, cannot
    /// be suspended once it has begun: an async call of it gains nothing from a fiber and runs as a
    /// synchronous one (*short*: ~70 instead of ~290 ns). Found once per binary, on first use, by reading the
    /// export and code sections (function bodies are skipped by their sizes; only exported ones are read);
    /// `None` for every export of a remembered file over [`SHORT_SCAN_MAX_FILE`] or a binary that cannot be
    /// read.
    pub(crate) fn straight(&self, name: &str) -> Option<Straight> {
        self.facts().straight.get(name).copied()
    }

    /// Whether instantiating the module may run its code: it has a start function (or its binary could not be
    /// scanned, as for [`Self::straight`]). An instance whose imports may suspend is instantiated on a fiber only
    /// then; otherwise synchronously, which saves the fiber (~0.3 µs of an instantiation).
    pub(crate) fn may_run_at_start(&self) -> bool {
        self.facts().has_start
    }

    fn facts(&self) -> &CodeFacts {
        self.facts.get_or_init(|| self.scan())
    }

    fn scan(&self) -> CodeFacts {
        let unknown = CodeFacts {
            straight: FxHashMap::default(),
            has_start: true,
        };
        if matches!(self.source, WasmSource::File(_, len) if len > SHORT_SCAN_MAX_FILE) {
            return unknown;
        }
        match self.wasm() {
            Ok(binary) => scan_code(&binary).unwrap_or(unknown),
            Err(_) => unknown,
        }
    }
}

/// The function exports of `binary` defined in it whose bodies are straight (see [`ModuleBinary::straight`]),
/// and whether it has a start function. `None` if the binary does not parse (it compiled, so it does; be safe
/// anyway).
fn scan_code(binary: &[u8]) -> Option<CodeFacts> {
    let mut has_start = false;
    let mut imported = 0u32;
    // Function index → the names it is exported as.
    let mut exported: FxHashMap<u32, Vec<&str>> = Default::default();
    let mut last_exported = 0u32;
    let mut defined = 0u32;
    let mut straight = FxHashMap::default();
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
            // The start section comes before the code section.
            Payload::StartSection { .. } => has_start = true,
            Payload::CodeSectionStart { .. } if exported.is_empty() => break,
            Payload::CodeSectionEntry(body) => {
                let index = imported + defined;
                defined += 1;
                if let Some(names) = exported.get(&index) {
                    if let Some(how) = runs_straight(&body, imported)? {
                        straight.extend(names.iter().map(|n| (Box::<str>::from(*n), how)));
                    }
                }
                if index >= last_exported {
                    break;
                }
            }
            _ => {}
        }
    }
    Some(CodeFacts { straight, has_start })
}

/// How a function body runs ([`Straight`]), `Some(None)` when it has a loop or calls wasm code, `None` when it
/// does not parse. Functions below `imported` are the module's imports.
fn runs_straight(body: &wasmparser::FunctionBody<'_>, imported: u32) -> Option<Option<Straight>> {
    let mut ops = body.get_operators_reader().ok()?;
    let mut how = Straight::CallsNothing;
    while !ops.eof() {
        match ops.read().ok()? {
            Operator::Call { function_index } if function_index < imported => how = Straight::CallsImports,
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
            | Operator::Switch { .. } => return Some(None),
            _ => {}
        }
    }
    Some(Some(how))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straight exports of `wat` and how each runs, by name.
    fn straight(wat: &str) -> Vec<(String, Straight)> {
        let binary = wat::parse_str(wat).unwrap();
        let mut found: Vec<(String, Straight)> = scan_code(&binary)
            .unwrap()
            .straight
            .into_iter()
            .map(|(n, how)| (n.into(), how))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    fn names(found: &[(String, Straight)], how: Straight) -> Vec<&str> {
        found
            .iter()
            .filter(|(_, h)| *h == how)
            .map(|(n, _)| n.as_str())
            .collect()
    }

    #[test]
    fn an_export_without_loops_or_calls_calls_nothing() {
        let found = straight(
            r#"(module
            (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
            (func (export "branchy") (param i32) (result i32)
              (if (result i32) (local.get 0) (then (i32.const 1)) (else (block (result i32) (i32.const 2))))))"#,
        );
        assert_eq!(names(&found, Straight::CallsNothing), ["add", "branchy"]);
        assert_eq!(names(&found, Straight::CallsImports), Vec::<&str>::new());
    }

    #[test]
    fn a_loop_or_a_call_of_wasm_code_is_not_straight() {
        let found = straight(
            r#"(module
            (type $t (func))
            (import "env" "f" (func $imported))
            (table 1 funcref)
            (func $leaf)
            (func (export "loops") (loop))
            (func (export "calls") (call $leaf))
            (func (export "calls_import_then_loops") (call $imported) (loop))
            (func (export "calls_indirect") (call_indirect (type $t) (i32.const 0)))
            (func (export "tail_calls") (return_call $leaf))
            (func (export "calls_import") (call $imported) (call $imported))
            (func (export "leaf_too") (nop)))"#,
        );
        assert_eq!(names(&found, Straight::CallsNothing), ["leaf_too"]);
        assert_eq!(names(&found, Straight::CallsImports), ["calls_import"]);
    }

    #[test]
    fn a_re_exported_import_is_never_straight() {
        let found = straight(r#"(module (import "env" "f" (func $f)) (export "f" (func $f)) (func (export "g")))"#);
        assert_eq!(names(&found, Straight::CallsNothing), ["g"]);
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn a_start_section_is_found() {
        let has_start = |wat: &str| scan_code(&wat::parse_str(wat).unwrap()).unwrap().has_start;
        assert!(has_start(r#"(module (func $s) (start $s) (func (export "f") (loop)))"#));
        assert!(!has_start(r#"(module (func $s) (func (export "f") (loop)))"#));
        assert!(!has_start(r#"(module)"#));
    }

    #[test]
    fn every_name_of_a_straight_function_is_straight() {
        let found = straight(r#"(module (func $f (export "a") (export "b")) (func (export "c") (loop)))"#);
        assert_eq!(names(&found, Straight::CallsNothing), ["a", "b"]);
    }
}
