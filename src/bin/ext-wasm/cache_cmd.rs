//! `ext-wasm cache …`: where the cache is, what is in it, and keeping it small and sound.

use std::process::ExitCode;

use clap::Subcommand;
use ext_wasm::{ArtifactCache, Error};

use crate::CacheArgs;

#[derive(Subcommand)]
pub enum CacheAction {
    /// Print the cache directory.
    Dir,
    /// Print entry count and bytes on disk (JSON).
    Stats,
    /// List entries, least recently used first.
    List,
    /// Check every entry's MAC; delete the ones that fail, and stale temp files of killed writers.
    Verify,
    /// Delete every entry.
    Clear,
    /// Evict least recently used entries until the cache fits.
    Prune {
        /// Size to shrink to.
        #[arg(long, value_name = "N")]
        max_bytes: u64,
    },
}

pub fn cache(action: CacheAction, args: &CacheArgs) -> Result<ExitCode, Error> {
    let config = args.config();
    let dir = config
        .cache
        .resolve_dir()
        .ok_or_else(|| Error::Io("the disk cache is disabled or has no location".into()))?;
    if let CacheAction::Dir = action {
        println!("{}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let cache = ArtifactCache::open(&dir, u64::MAX);
    match action {
        CacheAction::Dir => unreachable!("handled above"),
        CacheAction::Stats => println!("{}", json(&cache.stats())),
        CacheAction::List => {
            for e in cache.list() {
                println!("{}/{}  {} bytes", e.fingerprint, e.hash, e.bytes);
            }
        }
        CacheAction::Verify => {
            let report = cache.verify();
            for r in &report.removed {
                println!("removed {r}");
            }
            println!(
                "{} ok, {} removed, {} stale temp files or orphaned MACs swept",
                report.ok,
                report.removed.len(),
                report.swept
            );
        }
        CacheAction::Clear => println!("removed {} entries", cache.clear()),
        CacheAction::Prune { max_bytes } => println!("evicted {} entries", cache.prune(max_bytes)),
    }
    Ok(ExitCode::SUCCESS)
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("stats serialize")
}
