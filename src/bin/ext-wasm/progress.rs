//! A spinner for long compiles: on a terminal, a compile still running after [`DELAY`] shows the module's name,
//! size and the elapsed time on stderr until it ends (then the line is cleared). Quiet when stderr is not a
//! terminal, and for the fast loads (cache hits) that are almost all of them.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a load runs before the spinner appears.
const DELAY: Duration = Duration::from_millis(300);

/// Run `load` (compiling or loading the module at `path`), with the spinner if it takes long.
pub fn compiling<T>(path: &Path, load: impl FnOnce() -> T) -> T {
    let name = path
        .file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    let (done, wait) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            if wait.recv_timeout(DELAY) != Err(mpsc::RecvTimeoutError::Timeout) {
                return; // finished (or the sender is gone) before the delay
            }
            // Hidden unless stderr is a terminal.
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} compiling {msg} … {elapsed}") {
                bar.set_style(style);
            }
            bar.set_message(format!("{name} ({:.1} MB)", size as f64 / 1e6));
            bar.enable_steady_tick(Duration::from_millis(120));
            let _ = wait.recv();
            bar.finish_and_clear();
        });
        let result = load();
        let _ = done.send(());
        result
    })
}
