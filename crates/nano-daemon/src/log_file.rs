//! A log file rotated by size: `<dir>/<base>.log` is written; when a write would take it
//! over `max_size` bytes it becomes `<base>.1.log`, the previous `<base>.1.log` becomes
//! `<base>.2.log`, and so on, keeping at most `rotation_count` files in all (the current
//! one included). `max_size == 0` or `rotation_count == 0` disables rotation.
//!
//! Two ways in, both taking one whole record (one formatted event) under a mutex, so a
//! record is never split between two files: `Write::write` writes the record through to
//! the file at once (no buffer to lose on a crash), and [`RotatingFile::append`] keeps it
//! in a buffer of [`FILE_BUFFER_BYTES`] until the buffer fills, [`Write::flush`] is called
//! or the file rotates (the buffered bytes go into the file they were counted for before
//! it is renamed). The log writer thread ([`crate::log_writer`]) appends and flushes on
//! its own schedule. A file opened again at start is appended to. Rotation errors are
//! reported once on standard error and writing continues in the current file.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing_subscriber::fmt::writer::MakeWriter;

/// The file's write buffer for [`RotatingFile::append`]: large enough that a busy node's
/// lines (~100-500 bytes each) go out in a few writes per flush interval, small against
/// the node's memory.
pub const FILE_BUFFER_BYTES: usize = 64 * 1024;

/// A shared handle to a size-rotated log file; clones write to the same file.
#[derive(Clone, Debug)]
pub struct RotatingFile {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    base: String,
    max_size: u64,
    rotation_count: u32,
    file: Option<BufWriter<File>>,
    size: u64,
    reported: bool,
}

impl RotatingFile {
    /// Creates `dir` if needed and opens `<dir>/<base>.log` for appending; files beyond
    /// `rotation_count` left from an earlier run are deleted.
    pub fn open(
        dir: &Path,
        base: &str,
        max_size: u64,
        rotation_count: u32,
    ) -> io::Result<RotatingFile> {
        std::fs::create_dir_all(dir)?;
        let mut inner = Inner {
            dir: dir.to_path_buf(),
            base: base.to_string(),
            max_size,
            rotation_count,
            file: None,
            size: 0,
            reported: false,
        };
        inner.open_current()?;
        if inner.rotates() {
            for (n, path) in inner.rotated_files()? {
                if n >= u64::from(rotation_count) {
                    std::fs::remove_file(path)?;
                }
            }
        }
        Ok(RotatingFile {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    /// Adds one whole record to the file's buffer (rotating first if it would pass
    /// `max_size`); it reaches the file when the buffer fills, on [`Write::flush`] or
    /// at the next rotation.
    pub fn append(&self, record: &[u8]) -> io::Result<()> {
        self.lock().write_record(record)
    }

    /// The file being written.
    pub fn path(&self) -> PathBuf {
        let g = self.lock();
        g.path_of(0)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn rotates(&self) -> bool {
        self.max_size > 0 && self.rotation_count > 0
    }

    fn path_of(&self, n: u64) -> PathBuf {
        if n == 0 {
            self.dir.join(format!("{}.log", self.base))
        } else {
            self.dir.join(format!("{}.{n}.log", self.base))
        }
    }

    fn open_current(&mut self) -> io::Result<()> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path_of(0))?;
        self.size = f.metadata()?.len();
        self.file = Some(BufWriter::with_capacity(FILE_BUFFER_BYTES, f));
        Ok(())
    }

    /// The `<base>.<n>.log` files present, highest `n` first.
    fn rotated_files(&self) -> io::Result<Vec<(u64, PathBuf)>> {
        let prefix = format!("{}.", self.base);
        let mut found = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            let e = e?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let n = name
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(".log"))
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|n| *n > 0);
            if let Some(n) = n {
                found.push((n, e.path()));
            }
        }
        found.sort_by_key(|e| std::cmp::Reverse(e.0));
        Ok(found)
    }

    /// Shifts every file up by one (deleting those that would exceed the count) and
    /// starts an empty current file.
    fn rotate(&mut self) -> io::Result<()> {
        // The buffered records were counted for this file: they go into it before it
        // is renamed.
        if let Some(mut f) = self.file.take() {
            f.flush()?;
        }
        let keep = u64::from(self.rotation_count);
        for (n, path) in self.rotated_files()? {
            if n + 1 >= keep {
                std::fs::remove_file(&path)?;
            } else {
                std::fs::rename(&path, self.path_of(n + 1))?;
            }
        }
        if keep >= 2 {
            std::fs::rename(self.path_of(0), self.path_of(1))?;
        } else {
            std::fs::remove_file(self.path_of(0))?;
        }
        self.open_current()
    }

    fn write_record(&mut self, buf: &[u8]) -> io::Result<()> {
        let len = buf.len() as u64;
        if self.rotates() && self.size > 0 && self.size.saturating_add(len) > self.max_size {
            if let Err(e) = self.rotate() {
                if !self.reported {
                    self.reported = true;
                    eprintln!(
                        "Warning: cannot rotate the log file {}: {e}; writing on in the same file",
                        self.path_of(0).display()
                    );
                }
            }
        }
        if self.file.is_none() {
            self.open_current()?;
        }
        let f = self.file.as_mut().expect("opened above");
        f.write_all(buf)?;
        self.size = self.size.saturating_add(len);
        Ok(())
    }
}

impl Write for &RotatingFile {
    /// One whole record, written through to the file.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut g = self.lock();
        g.write_record(buf)?;
        g.file.as_mut().expect("opened by write_record").flush()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.lock().file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

impl<'a> MakeWriter<'a> for RotatingFile {
    type Writer = &'a RotatingFile;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    #[test]
    fn rotates_when_a_record_would_pass_max_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = RotatingFile::open(dir.path(), "node", 20, 3).unwrap();
        assert_eq!(f.path(), dir.path().join("node.log"));
        f.write_all(b"0123456789\n").unwrap(); // 11 bytes
        f.write_all(b"abcdefgh\n").unwrap(); // 20 in all: still fits
        assert_eq!(names(dir.path()), ["node.log"]);
        f.write_all(b"X\n").unwrap(); // would be 22: rotate first
        assert_eq!(names(dir.path()), ["node.1.log", "node.log"]);
        assert_eq!(read(dir.path(), "node.1.log"), "0123456789\nabcdefgh\n");
        assert_eq!(read(dir.path(), "node.log"), "X\n");
    }

    #[test]
    fn keeps_at_most_rotation_count_files_and_loses_nothing_in_between() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = RotatingFile::open(dir.path(), "node", 30, 3).unwrap();
        let lines: Vec<String> = (0..40).map(|i| format!("line {i:04}\n")).collect(); // 10 bytes each
        for l in &lines {
            f.write_all(l.as_bytes()).unwrap();
            let n = names(dir.path());
            assert!(n.len() <= 3, "{n:?}");
            for name in &n {
                let len = std::fs::metadata(dir.path().join(name)).unwrap().len();
                assert!(len <= 30, "{name} has {len} bytes");
            }
        }
        assert_eq!(names(dir.path()), ["node.1.log", "node.2.log", "node.log"]);
        // The kept files hold the newest lines, in order, with no gap and no split line.
        let kept = read(dir.path(), "node.2.log")
            + &read(dir.path(), "node.1.log")
            + &read(dir.path(), "node.log");
        assert_eq!(kept, lines[33..].concat());
    }

    #[test]
    fn one_file_kept_means_the_file_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = RotatingFile::open(dir.path(), "rpc", 10, 1).unwrap();
        f.write_all(b"aaaaaaaa\n").unwrap();
        f.write_all(b"bbbbbbbb\n").unwrap();
        assert_eq!(names(dir.path()), ["rpc.log"]);
        assert_eq!(read(dir.path(), "rpc.log"), "bbbbbbbb\n");
    }

    #[test]
    fn a_record_larger_than_max_size_gets_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = RotatingFile::open(dir.path(), "node", 5, 4).unwrap();
        f.write_all(b"ab\n").unwrap();
        f.write_all(b"0123456789\n").unwrap();
        f.write_all(b"cd\n").unwrap();
        assert_eq!(read(dir.path(), "node.2.log"), "ab\n");
        assert_eq!(read(dir.path(), "node.1.log"), "0123456789\n");
        assert_eq!(read(dir.path(), "node.log"), "cd\n");
    }

    #[test]
    fn zero_disables_rotation() {
        for (max, count) in [(0, 4), (10, 0)] {
            let dir = tempfile::tempdir().unwrap();
            let mut f = RotatingFile::open(dir.path(), "node", max, count).unwrap();
            for _ in 0..10 {
                f.write_all(b"0123456789\n").unwrap();
            }
            assert_eq!(names(dir.path()), ["node.log"]);
            assert_eq!(read(dir.path(), "node.log").len(), 110);
        }
    }

    #[test]
    fn reopening_appends_and_trims_old_files() {
        let dir = tempfile::tempdir().unwrap();
        for n in 1..=5 {
            std::fs::write(dir.path().join(format!("node.{n}.log")), "old\n").unwrap();
        }
        std::fs::write(dir.path().join("node.log"), "before\n").unwrap();
        std::fs::write(dir.path().join("other.log"), "not ours\n").unwrap();
        let mut f = RotatingFile::open(dir.path(), "node", 1000, 3).unwrap();
        f.write_all(b"after\n").unwrap();
        assert_eq!(
            names(dir.path()),
            ["node.1.log", "node.2.log", "node.log", "other.log"]
        );
        assert_eq!(read(dir.path(), "node.log"), "before\nafter\n");
        // The size of the appended file counts towards the next rotation.
        let mut f = RotatingFile::open(dir.path(), "node", 15, 3).unwrap();
        f.write_all(b"next\n").unwrap();
        assert_eq!(read(dir.path(), "node.1.log"), "before\nafter\n");
        assert_eq!(read(dir.path(), "node.log"), "next\n");
    }

    #[test]
    fn appended_records_wait_for_a_flush_or_a_rotation_and_land_in_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = RotatingFile::open(dir.path(), "node", 20, 3).unwrap();
        f.append(b"0123456789\n").unwrap();
        f.append(b"abcdefgh\n").unwrap();
        // Buffered: not in the file yet.
        assert_eq!(read(dir.path(), "node.log"), "");
        // The next record rotates: the buffered two go into the file they were counted
        // for, which becomes node.1.log; the new one waits in the new file's buffer.
        f.append(b"X\n").unwrap();
        assert_eq!(names(dir.path()), ["node.1.log", "node.log"]);
        assert_eq!(read(dir.path(), "node.1.log"), "0123456789\nabcdefgh\n");
        assert_eq!(read(dir.path(), "node.log"), "");
        f.flush().unwrap();
        assert_eq!(read(dir.path(), "node.log"), "X\n");
        // A write-through record after buffered ones keeps their order.
        f.append(b"Y\n").unwrap();
        f.write_all(b"Z\n").unwrap();
        assert_eq!(read(dir.path(), "node.log"), "X\nY\nZ\n");
    }

    #[test]
    fn a_bad_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("log");
        std::fs::write(&blocker, "a file where the directory should be").unwrap();
        assert!(RotatingFile::open(&blocker, "node", 10, 2).is_err());
    }

    #[test]
    fn concurrent_writers_do_not_split_records() {
        let dir = tempfile::tempdir().unwrap();
        let f = RotatingFile::open(dir.path(), "node", 200, 100).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut f = f.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        f.write_all(format!("thread {t} line {i:03}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut total = 0;
        for name in names(dir.path()) {
            let text = read(dir.path(), &name);
            assert!(text.len() <= 200);
            for line in text.lines() {
                assert!(line.starts_with("thread ") && line.len() == 17, "{line:?}");
                total += 1;
            }
        }
        assert_eq!(total, 200);
    }
}
