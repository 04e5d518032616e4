//! What callers and guests may do: file compiles, WASI, and which host directories a guest may see.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};

/// A host-supplied policy consulted after the built-in [`Capabilities`] checks (Forge's permission system plugs
/// in here). Each method returns `Err(reason)` to deny.
pub trait CapabilityChecker: Send + Sync {
    /// May this file be read and compiled?
    fn check_compile_file(&self, _path: &Path) -> std::result::Result<(), String> {
        Ok(())
    }
    /// May a guest get a WASI context at all?
    fn check_wasi(&self) -> std::result::Result<(), String> {
        Ok(())
    }
    /// May a guest see this (canonical) host directory?
    fn check_preopen(&self, _host: &Path, _read_only: bool) -> std::result::Result<(), String> {
        Ok(())
    }
    /// May a guest import host function `module::name` (checked at instantiate, for every host import)?
    fn check_import(&self, _module: &str, _name: &str) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// The built-in policy. The default allows file compiles and WASI, and any preopen except the filesystem root.
#[derive(Clone, Default)]
pub struct Capabilities {
    /// Refuse `compile_file` when `true`. (Stored negated so `Default` allows.)
    pub deny_file_compile: bool,
    /// Refuse WASI instances when `true`.
    pub deny_wasi: bool,
    /// When set, every preopen must resolve inside one of these directories (after canonicalization).
    pub preopen_roots: Option<Vec<PathBuf>>,
    /// Allow preopening `/` itself. Off by default: the docs' own pitfall.
    pub allow_root_preopen: bool,
    /// Extra policy from the embedder.
    pub checker: Option<Arc<dyn CapabilityChecker>>,
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capabilities")
            .field("deny_file_compile", &self.deny_file_compile)
            .field("deny_wasi", &self.deny_wasi)
            .field("preopen_roots", &self.preopen_roots)
            .field("allow_root_preopen", &self.allow_root_preopen)
            .field("checker", &self.checker.is_some())
            .finish()
    }
}

impl Capabilities {
    /// Check that a guest may import host function `module::name` (only the embedder's checker decides).
    pub fn check_import(&self, module: &str, name: &str) -> Result<()> {
        match &self.checker {
            Some(c) => c
                .check_import(module, name)
                .map_err(|why| Error::PermissionDenied(format!("importing {module}::{name} is not allowed: {why}"))),
            None => Ok(()),
        }
    }

    /// Check that `path` may be compiled from disk.
    pub fn check_compile_file(&self, path: &Path) -> Result<()> {
        if self.deny_file_compile {
            return Err(Error::PermissionDenied(format!(
                "compiling from files is not allowed ({})",
                path.display()
            )));
        }
        self.ask(|c| c.check_compile_file(path))
    }

    /// Check that a guest may have WASI.
    pub fn check_wasi(&self) -> Result<()> {
        if self.deny_wasi {
            return Err(Error::PermissionDenied("WASI is not allowed".into()));
        }
        self.ask(|c| c.check_wasi())
    }

    /// Canonicalize a preopen's host path and check it against the policy. Returns the canonical path, which is
    /// what gets opened, so a symlink swapped in afterwards cannot redirect it.
    pub fn check_preopen(&self, host: &Path, read_only: bool) -> Result<PathBuf> {
        let canonical = host.canonicalize().map_err(|e| {
            Error::Wasi(format!(
                "preopen host directory {} cannot be opened: {e}",
                host.display()
            ))
        })?;
        if !canonical.is_dir() {
            return Err(Error::Wasi(format!(
                "preopen host path {} is not a directory",
                host.display()
            )));
        }
        if canonical.parent().is_none() && !self.allow_root_preopen {
            return Err(Error::PermissionDenied(format!(
                "preopening the filesystem root ({}) is not allowed",
                host.display()
            )));
        }
        if let Some(roots) = &self.preopen_roots {
            let inside = roots
                .iter()
                .filter_map(|r| r.canonicalize().ok())
                .any(|root| canonical.starts_with(&root));
            if !inside {
                return Err(Error::PermissionDenied(format!(
                    "preopen {} resolves to {}, outside the allowed roots",
                    host.display(),
                    canonical.display()
                )));
            }
        }
        self.ask(|c| c.check_preopen(&canonical, read_only))?;
        Ok(canonical)
    }

    fn ask(&self, f: impl FnOnce(&dyn CapabilityChecker) -> std::result::Result<(), String>) -> Result<()> {
        match &self.checker {
            Some(c) => f(c.as_ref()).map_err(Error::PermissionDenied),
            None => Ok(()),
        }
    }
}
