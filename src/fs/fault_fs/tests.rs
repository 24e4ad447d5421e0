use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::fs::MemFs;

fn p(s: &str) -> &Path {
    Path::new(s)
}

fn setup() -> (MemFs, FaultFs) {
    let mem = MemFs::new();
    mem.create_dir(p("/d")).unwrap();
    (mem.clone(), FaultFs::new(Arc::new(mem)))
}

fn size(fs: &dyn Fs, path: &str) -> u64 {
    fs.open(p(path)).unwrap().size_bytes().unwrap()
}

#[test]
fn fault_fs_is_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<FaultFs>();
}

#[test]
fn no_space_fails_the_nth_call_once_without_effect() {
    let (mem, fs) = setup();
    fs.fail(FaultOp::Create, 2, Fault::NoSpace);
    fs.create(p("/d/a")).unwrap();
    let err = fs.create(p("/d/b")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StorageFull);
    #[cfg(unix)]
    assert_eq!(err.raw_os_error(), Some(28));
    assert!(!mem.exists(p("/d/b")).unwrap());
    fs.create(p("/d/c")).unwrap();
    assert_eq!(fs.calls(FaultOp::Create), 3);
    assert_eq!(fs.faults_fired(), 1);
}

#[test]
fn io_error_fails_a_sync_and_the_data_stays_unsynced() {
    let (mem, fs) = setup();
    let mut file = fs.create(p("/d/f")).unwrap();
    fs.sync_dir(p("/d")).unwrap();
    file.append(b"data").unwrap();
    fs.fail(FaultOp::Sync, 1, Fault::Io);
    let err = file.sync().unwrap_err();
    #[cfg(unix)]
    assert_eq!(err.raw_os_error(), Some(5));
    let _ = err;
    mem.crash(crate::fs::CrashMode::DropUnsynced, 0);
    assert_eq!(size(&mem, "/d/f"), 0);
}

#[test]
fn a_short_write_leaves_exactly_half_the_bytes() {
    let (mem, fs) = setup();
    let mut file = fs.create(p("/d/f")).unwrap();
    file.append(b"head").unwrap();
    fs.fail(FaultOp::Append, 1, Fault::ShortWrite);
    let err = file.append(b"0123456789").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WriteZero);
    let reader = mem.open(p("/d/f")).unwrap();
    let mut buf = vec![0u8; usize::try_from(reader.size_bytes().unwrap()).unwrap()];
    reader.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(buf, b"head01234");
    file.append(b"!").unwrap();
    assert_eq!(size(&mem, "/d/f"), 10);
}

#[test]
fn a_short_write_on_another_call_fails_it_without_effect() {
    let (mem, fs) = setup();
    mem.create(p("/d/f")).unwrap();
    fs.fail(FaultOp::Rename, 1, Fault::ShortWrite);
    assert!(fs.rename(p("/d/f"), p("/d/g")).is_err());
    assert!(mem.exists(p("/d/f")).unwrap());
}

#[test]
fn fail_from_fails_every_call_from_the_nth_on() {
    let (_, fs) = setup();
    let mut file = fs.create(p("/d/f")).unwrap();
    fs.fail_from(FaultOp::Append, 2, Fault::NoSpace);
    file.append(b"a").unwrap();
    for _ in 0..3 {
        assert_eq!(
            file.append(b"b").unwrap_err().kind(),
            ErrorKind::StorageFull
        );
    }
    assert_eq!(size(&fs, "/d/f"), 1);
    fs.clear();
    file.append(b"c").unwrap();
    assert_eq!(fs.faults_fired(), 3);
}

#[test]
fn nth_counts_from_the_time_the_fault_is_planned() {
    let (_, fs) = setup();
    for name in ["/d/a", "/d/b", "/d/c"] {
        fs.create(p(name)).unwrap();
    }
    fs.fail(FaultOp::Remove, 1, Fault::Io);
    fs.fail(FaultOp::Open, 0, Fault::Io);
    assert!(fs.remove(p("/d/a")).is_err());
    assert!(fs.open(p("/d/b")).is_err());
    fs.remove(p("/d/a")).unwrap();
    fs.open(p("/d/b")).unwrap();
}

#[test]
fn every_kind_is_counted_and_can_fail() {
    let (_, fs) = setup();
    let mut file = fs.create(p("/d/f")).unwrap();
    file.append(b"abc").unwrap();
    file.sync().unwrap();
    let calls = |fs: &FaultFs| FaultOp::ALL.map(|op| fs.calls(op));
    let before = calls(&fs);
    for op in FaultOp::ALL {
        fs.fail(op, 1, Fault::Io);
    }
    let mut buf = [0u8; 1];
    let reader = fs.open(p("/d/f")); // Open fails
    assert!(reader.is_err());
    let reader = fs.open(p("/d/f")).unwrap();
    let results = [
        fs.create(p("/d/g")).map(drop),
        file.append(b"x"),
        file.sync(),
        fs.rename(p("/d/f"), p("/d/h")),
        fs.remove(p("/d/f")),
        fs.sync_dir(p("/d")),
        fs.create_dir(p("/d/e")),
        reader.read_at(&mut buf, 0).map(drop),
        fs.list(p("/d")).map(drop),
    ];
    assert!(results.iter().all(Result::is_err), "{results:?}");
    let after = calls(&fs);
    let open = FaultOp::ALL
        .iter()
        .position(|op| *op == FaultOp::Open)
        .unwrap();
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        assert_eq!(
            a - b,
            if i == open { 2 } else { 1 },
            "{:?}",
            FaultOp::ALL[i]
        );
    }
    assert_eq!(fs.faults_fired(), 10);
    // After the faults, everything works again and took no effect before.
    reader.read_exact_at(&mut buf, 2).unwrap();
    assert_eq!(&buf, b"c");
    assert!(fs.exists(p("/d/f")).unwrap());
    assert!(!fs.exists(p("/d/e")).unwrap());
    assert_eq!(fs.list(p("/d")).unwrap().len(), 1);
}
