//! Keeps glibc's allocator from holding on to memory the server no longer uses.
//!
//! glibc raises its mmap threshold (and its trim threshold, to twice that) each time a freed
//! mmapped block is bigger than the current threshold. sled frees large log buffers all the
//! time, so after a few seconds of load every allocation up to 32 MiB comes from the arenas,
//! and each arena keeps up to 64 MiB of free memory at its top instead of giving it back.
//! Resident memory then grows with uptime rather than with live data: the job store's
//! `examples/ingest_rss` ends at 126–149 MiB after 750,000 deliveries with glibc's defaults,
//! and at 68–69 MiB once a threshold is set (setting one turns the adjustment off).
//!
//! glibc reads that setting at process start only (the `mallopt` call would be `unsafe` FFI,
//! which this workspace forbids), so `serve` starts itself again once, in place (same pid),
//! with the tunable added to `GLIBC_TUNABLES`. An operator's own malloc settings
//! (`GLIBC_TUNABLES` naming `glibc.malloc.*`, or any `MALLOC_*` variable such as
//! `MALLOC_ARENA_MAX`) are left alone.

/// The setting `serve` runs with: trim an arena's top once 1 MiB of it is free.
pub(crate) const TUNABLE: &str = "glibc.malloc.trim_threshold=1048576";

/// Replaces this process with itself, same arguments, `TUNABLE` added, unless the
/// environment already sets malloc tunables. Returns only when nothing was done (already
/// tuned, or not glibc) or when the exec failed; the caller then runs untuned, which is
/// slower to give memory back but otherwise the same.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn restart_tuned() -> Option<std::io::Error> {
    use std::ffi::OsString;
    use std::os::unix::process::CommandExt;

    let tunables = std::env::var_os("GLIBC_TUNABLES");
    let already = tunables
        .as_ref()
        .is_some_and(|t| t.to_string_lossy().contains("glibc.malloc."))
        || std::env::vars_os().any(|(name, _)| name.to_string_lossy().starts_with("MALLOC_"));
    if already {
        return None;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return Some(e),
    };
    let mut value = OsString::from(TUNABLE);
    if let Some(existing) = tunables.filter(|t| !t.is_empty()) {
        value.push(":");
        value.push(existing);
    }
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        command.arg0(arg0);
    }
    // `exec` returns only if it failed.
    Some(command.args(args).env("GLIBC_TUNABLES", value).exec())
}

/// Other platforms' allocators have no such adjustment to turn off.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn restart_tuned() -> Option<std::io::Error> {
    None
}
