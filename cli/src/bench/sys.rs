//! Process figures from Linux's `/proc`: bytes written, resident memory and its peak. Elsewhere
//! they read as unknown.

/// Bytes this process passed to `write` calls so far (`wchar` of `/proc/self/io`).
pub(crate) fn bytes_written() -> Option<u64> {
    proc_field("/proc/self/io", "wchar:")
}

/// The peak resident set size since the last [`reset_peak_rss`], in bytes (`VmHWM`).
pub(crate) fn peak_rss() -> Option<u64> {
    proc_field("/proc/self/status", "VmHWM:").map(|kib| kib * 1024)
}

/// The resident set size now, in bytes (`VmRSS`).
pub(crate) fn rss() -> Option<u64> {
    proc_field("/proc/self/status", "VmRSS:").map(|kib| kib * 1024)
}

/// Resets the peak resident set size to the current one (Linux 4.0+: `5` to `clear_refs`).
#[expect(
    clippy::disallowed_methods,
    reason = "a procfs control file, not a database file"
)]
pub(crate) fn reset_peak_rss() {
    // NB: best effort; without it the peak covers the whole process.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[expect(clippy::disallowed_methods, reason = "procfs, not a database file")]
fn proc_field(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.get(field.len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_counted_and_the_peak_is_known_on_linux() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let before = bytes_written().unwrap();
        let dir = tempfile::tempdir().unwrap();
        #[expect(clippy::disallowed_methods, reason = "a test file")]
        std::fs::write(dir.path().join("f"), vec![0u8; 100_000]).unwrap();
        assert!(bytes_written().unwrap() >= before + 100_000);
        reset_peak_rss();
        assert!(peak_rss().unwrap() > 0);
        assert!(rss().unwrap() > 0);
    }
}
