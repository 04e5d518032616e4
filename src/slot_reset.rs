//! How a freed pool slot's linear memory is reset for its next instance, chosen per machine: zero the first
//! `linear_memory_keep_resident` bytes whatever the guest touched (a `memset`), or ask the kernel which of those
//! pages the guest wrote (Linux 6.7+'s `PAGEMAP_SCAN`, one system call) and zero only those.
//!
//! Neither is cheaper everywhere. The `memset` costs memory bandwidth (64 KiB for the default pool); the scan
//! costs a system call and a page-table walk. On this project's VMs each won by 15–30% of a churn iteration on
//! different days (2026-12-03: the `memset`; 2026-12-06 and 12-07: the scan). So [`scan_is_cheaper`] times both
//! once per process, the first time a pool is built, and the pool takes the cheaper one unless its
//! [`crate::PoolConfig::scan_dirty_pages`] says otherwise. The timing costs about 80 µs, once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Rounds of each reset timed; the fastest round of each counts (the least disturbed by the rest of the
/// machine).
const ROUNDS: usize = 24;
/// Untimed rounds first: they fault the pages in, as a slot's first use does.
const WARM_UP: usize = 2;

/// Whether resetting a freed slot by scanning for the pages written is cheaper on this machine than zeroing its
/// first `keep_resident` bytes: timed once per process and size (see the module docs). `false` where the scan
/// is unavailable (not Linux, a kernel before 6.7, no `/proc`).
pub(crate) fn scan_is_cheaper(keep_resident: usize) -> bool {
    static CHOSEN: Mutex<Vec<(usize, bool)>> = Mutex::new(Vec::new());
    let mut chosen = CHOSEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&(_, scan)) = chosen.iter().find(|(size, _)| *size == keep_resident) {
        return scan;
    }
    let scan = match time_resets(keep_resident) {
        Some(times) => {
            tracing::debug!(memset = ?times.memset, scan = ?times.scan, keep_resident, "pool slot reset timed");
            times.scan < times.memset
        }
        None => false,
    };
    chosen.push((keep_resident, scan));
    scan
}

/// The fastest of [`ROUNDS`] resets of each kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResetTimes {
    /// Zeroing all `keep_resident` bytes.
    pub(crate) memset: Duration,
    /// `PAGEMAP_SCAN` over the same bytes, then zeroing the pages it reports (two written per round, as by a
    /// small guest's stack and data).
    pub(crate) scan: Duration,
}

/// Time both resets of a `keep_resident`-byte region; `None` where the scan is unavailable.
#[cfg(target_os = "linux")]
pub(crate) fn time_resets(keep_resident: usize) -> Option<ResetTimes> {
    // SAFETY: `sysconf` reads a configuration value; `_SC_PAGESIZE` is always defined on Linux.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
    if keep_resident < 2 * page {
        return None; // Wasmtime does not scan a region this small either
    }
    let pagemap = std::fs::File::open("/proc/self/pagemap").ok()?;
    let mut zeroed = memmap2::MmapMut::map_anon(keep_resident).ok()?;
    let mut scanned = memmap2::MmapMut::map_anon(keep_resident).ok()?;
    let mut times = ResetTimes {
        memset: Duration::MAX,
        scan: Duration::MAX,
    };
    for round in 0..WARM_UP + ROUNDS {
        for region in [&mut zeroed, &mut scanned] {
            region[0] = 1; // what the guest wrote
            region[page] = 1;
        }
        let start = Instant::now();
        zero(&mut zeroed);
        let memset = start.elapsed();
        let start = Instant::now();
        scan::reset_written(&pagemap, &mut scanned, page).ok()?;
        let scan = start.elapsed();
        if round >= WARM_UP {
            times.memset = times.memset.min(memset);
            times.scan = times.scan.min(scan);
        }
    }
    debug_assert!(zeroed.iter().chain(scanned.iter()).all(|&b| b == 0));
    Some(times)
}

/// Not Linux: there is no scan to choose.
#[cfg(not(target_os = "linux"))]
pub(crate) fn time_resets(_keep_resident: usize) -> Option<ResetTimes> {
    None
}

/// Zero `bytes` in a way the optimizer cannot drop (as Wasmtime's reset does).
fn zero(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

#[cfg(target_os = "linux")]
mod scan {
    use std::os::fd::AsRawFd;

    /// `struct pm_scan_arg` of `<linux/fs.h>` (Linux 6.7+).
    #[repr(C)]
    struct PmScanArg {
        size: u64,
        flags: u64,
        start: u64,
        end: u64,
        walk_end: u64,
        vec: u64,
        vec_len: u64,
        max_pages: u64,
        category_inverted: u64,
        category_mask: u64,
        category_anyof_mask: u64,
        return_mask: u64,
    }

    /// `struct page_region` of `<linux/fs.h>`: one run of pages the scan reports.
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct PageRegion {
        start: u64,
        end: u64,
        categories: u64,
    }

    /// `_IOWR('f', 16, struct pm_scan_arg)`.
    const PAGEMAP_SCAN: u64 = (3 << 30) | ((std::mem::size_of::<PmScanArg>() as u64) << 16) | (0x66 << 8) | 16;
    const PAGE_IS_WRITTEN: u64 = 1 << 1;
    const PAGE_IS_FILE: u64 = 1 << 2;
    const PAGE_IS_PRESENT: u64 = 1 << 3;
    const PAGE_IS_PFNZERO: u64 = 1 << 5;

    /// Ask the kernel which `page`-byte pages of `region` were written (present, written, neither the zero page nor a file's:
    /// the query Wasmtime's reset makes) and zero those.
    pub(super) fn reset_written(pagemap: &std::fs::File, region: &mut [u8], page: usize) -> std::io::Result<()> {
        let mut found = [PageRegion::default(); 32];
        let start = region.as_mut_ptr() as u64;
        let mut arg = PmScanArg {
            size: std::mem::size_of::<PmScanArg>() as u64,
            flags: 0,
            start,
            end: start + region.len() as u64,
            walk_end: 0,
            vec: found.as_mut_ptr() as u64,
            vec_len: found.len() as u64,
            max_pages: (region.len() / page) as u64,
            category_inverted: PAGE_IS_PFNZERO | PAGE_IS_FILE,
            category_mask: PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_PFNZERO | PAGE_IS_FILE,
            category_anyof_mask: 0,
            return_mask: 0,
        };
        // SAFETY: `PAGEMAP_SCAN` on an open `/proc/self/pagemap` reads `arg` (its `size` field states the layout
        // above, `<linux/fs.h>`'s), walks this process's page tables over `start..end` (a live mapping we own)
        // without changing them, and writes at most `vec_len` `PageRegion`s to `vec` (`found`, live and of that
        // length) and `walk_end` into `arg`. Kernels without it fail with an error and write nothing.
        let count = unsafe { libc::ioctl(pagemap.as_raw_fd(), PAGEMAP_SCAN as _, &mut arg as *mut PmScanArg) };
        if count < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let len = region.len();
        for run in &found[..count as usize] {
            let (from, to) = ((run.start - start) as usize, (run.end - start) as usize);
            super::zero(&mut region[from..to.min(len)]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_choice_is_made_once_per_size() {
        let start = Instant::now();
        let first = scan_is_cheaper(64 << 10);
        println!("choosing took {:?} (scan: {first})", start.elapsed()); // shown with --nocapture
        assert_eq!(scan_is_cheaper(64 << 10), first);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn both_resets_are_timed_where_the_kernel_scans() {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut version = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let (major, minor) = (version.next().unwrap(), version.next().unwrap());
        let times = time_resets(64 << 10);
        if (major, minor) < (6, 7) {
            assert!(times.is_none(), "no PAGEMAP_SCAN before Linux 6.7: {release}");
            return;
        }
        // The times are real and not absurd (shown with --nocapture).
        let times = times.expect("PAGEMAP_SCAN since Linux 6.7");
        println!("{times:?}");
        assert!(
            times.memset > Duration::ZERO && times.memset < Duration::from_millis(10),
            "{times:?}"
        );
        assert!(
            times.scan > Duration::ZERO && times.scan < Duration::from_millis(10),
            "{times:?}"
        );
    }

    #[test]
    fn a_region_too_small_to_scan_is_not_timed() {
        assert!(time_resets(4096).is_none());
    }
}
