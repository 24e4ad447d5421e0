//! The directory lock across processes: the test re-runs itself as a child that tries to open a
//! tree the parent holds. It lives alone in this test binary: a child forked while another test of
//! the same process held a lock would briefly inherit that lock's descriptor.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use strata::{Config, Error, SequenceNumberCounter};

const LOCK_CHILD_ENV: &str = "STRATA_LOCK_CHILD_DIR";

/// Another process opening a locked directory gets `Error::Locked` (the child exits with 3).
#[test]
fn a_second_process_cannot_open_a_locked_tree() {
    if let Ok(dir) = std::env::var(LOCK_CHILD_ENV) {
        let code = match Config::new(
            &dir,
            SequenceNumberCounter::default(),
            SequenceNumberCounter::default(),
        )
        .open()
        {
            Err(Error::Locked) => 3,
            Ok(_) => 4,
            Err(_) => 5,
        };
        std::process::exit(code);
    }
    let dir = tempfile::tempdir().unwrap();
    let run_child = || {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_second_process_cannot_open_a_locked_tree",
                "--nocapture",
            ])
            .env(LOCK_CHILD_ENV, dir.path())
            .status()
            .unwrap()
            .code()
    };
    let tree = Config::new(
        dir.path(),
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .open()
    .unwrap();
    assert_eq!(run_child(), Some(3), "the child must see the lock");
    drop(tree);
    assert_eq!(
        run_child(),
        Some(4),
        "after the close the child opens the tree"
    );
}
