//! One run per board: an advisory lock on a file named after the board, so two `mcubench run`s
//! never flash and measure the same board at once.
//!
//! The lock is `flock` on `<dir>/<board>.lock`, taken the way the results store takes its lock
//! (std's `File::try_lock`, polled so the wait is bounded). The kernel drops it when the
//! holding process exits, however it exits, so a killed run leaves no stale lock behind. The
//! holder writes its PID, run id and host into the file, which is how a refused run can say
//! who has the board.
//!
//! Where it plugs in: the runner's per-board task (`runner::run_board`) takes
//! `BoardLock::acquire_for_run(&board.name, dir, &run_id, wait)` before the board's first job,
//! under `spawn_blocking` (the wait blocks), holds it for all of the board's jobs, and drops it
//! when the board is done. `mcubench run --wait-for-boards SECONDS` is `wait` and `--lock-dir`
//! (default [`default_lock_dir`]) is `dir`. QEMU boards are locked too: it costs nothing, and
//! the farm path runs (and is tested) on the emulated farm.
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Errors of taking a board's lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("board '{board}' is in use by {holder}{}; wait for it, or stop that run", waited_for(*waited))]
    Held { board: String, holder: Holder, waited: Duration },
    #[error("board name '{board}' cannot name a lock file (use letters, digits, '-', '_' or '.', not only dots)")]
    BadName { board: String },
    #[error("cannot use the lock file {path} of board '{board}'")]
    Io {
        board: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn waited_for(waited: Duration) -> String {
    if waited.is_zero() {
        String::new()
    } else {
        format!(" (waited {:.1} s)", waited.as_secs_f64())
    }
}

/// Who holds a board, as the holder wrote it into the lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    pub run_id: Option<String>,
    pub host: Option<String>,
}

impl Holder {
    fn parse(text: &str) -> Holder {
        let mut h = Holder::default();
        for line in text.lines() {
            match line.split_once('=') {
                Some(("pid", v)) => h.pid = v.trim().parse().ok(),
                Some(("run", v)) if !v.trim().is_empty() => h.run_id = Some(v.trim().to_string()),
                Some(("host", v)) if !v.trim().is_empty() => h.host = Some(v.trim().to_string()),
                _ => {}
            }
        }
        h
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            // The holder takes the lock, then writes: between the two the file is empty.
            None => f.write_str("another process (it has not written its PID yet)")?,
            Some(pid) => write!(f, "process {pid}")?,
        }
        if let Some(run) = &self.run_id {
            write!(f, ", run {run}")?;
        }
        if let Some(host) = &self.host {
            write!(f, " on {host}")?;
        }
        Ok(())
    }
}

/// The default lock directory: `$XDG_RUNTIME_DIR/mcubench/locks` (per user, emptied at
/// logout), else the user's cache directory, else the system's temporary directory.
///
/// Runs of different users on one machine only see each other's locks when they share the
/// directory; a shared farm host sets one (e.g. `/var/lock/mcubench`) for everybody.
pub fn default_lock_dir() -> PathBuf {
    lock_dir_from(|name| std::env::var_os(name).map(PathBuf::from))
}

/// [`default_lock_dir`] with the environment given (empty variables count as unset).
fn lock_dir_from(env: impl Fn(&str) -> Option<PathBuf>) -> PathBuf {
    let var = |name: &str| env(name).filter(|v| !v.as_os_str().is_empty());
    if let Some(run) = var("XDG_RUNTIME_DIR") {
        return run.join("mcubench").join("locks");
    }
    if let Some(cache) = var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|h| h.join(".cache"))) {
        return cache.join("mcubench").join("locks");
    }
    std::env::temp_dir().join("mcubench-locks")
}

/// A held board. Dropping it releases the board.
#[derive(Debug)]
pub struct BoardLock {
    board: String,
    path: PathBuf,
    file: File,
}

impl BoardLock {
    /// Takes the board's lock in `dir` (created if missing), waiting up to `wait` for another
    /// holder to let go (`Duration::ZERO`: try once). Blocks: call it from `spawn_blocking` in
    /// async code.
    pub fn acquire(board_name: &str, dir: &Path, wait: Duration) -> Result<BoardLock, LockError> {
        Self::acquire_for_run(board_name, dir, "", wait)
    }

    /// [`BoardLock::acquire`], recording `run_id` in the lock file for whoever is refused.
    pub fn acquire_for_run(board_name: &str, dir: &Path, run_id: &str, wait: Duration) -> Result<BoardLock, LockError> {
        if board_name.is_empty()
            || board_name.chars().all(|c| c == '.')
            || !board_name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(LockError::BadName { board: board_name.to_string() });
        }
        let path = dir.join(format!("{board_name}.lock"));
        let io = |source| LockError::Io { board: board_name.to_string(), path: path.clone(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        // Not truncated on open: the holder's PID must stay readable for the refused.
        let file = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(io)?;
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if started.elapsed() < wait => {
                    std::thread::sleep(pause.min(wait.saturating_sub(started.elapsed())));
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(TryLockError::WouldBlock) => {
                    let holder = read_holder(&file).map_err(io)?;
                    let waited = if wait.is_zero() { Duration::ZERO } else { started.elapsed() };
                    return Err(LockError::Held { board: board_name.to_string(), holder, waited });
                }
                Err(TryLockError::Error(source)) => return Err(io(source)),
            }
        }
        let mut lock = BoardLock { board: board_name.to_string(), path: path.clone(), file };
        lock.write_holder(run_id).map_err(io)?;
        Ok(lock)
    }

    fn write_holder(&mut self, run_id: &str) -> std::io::Result<()> {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let text = format!("pid={}\nrun={run_id}\nhost={}\n", std::process::id(), host.trim());
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(text.as_bytes())?;
        self.file.sync_data()
    }

    pub fn board(&self) -> &str {
        &self.board
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_holder(mut file: &File) -> std::io::Result<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_string(&mut text)?;
    Ok(Holder::parse(&text))
}

impl Drop for BoardLock {
    fn drop(&mut self) {
        // Emptied first, so a reader never names a holder that has let go; the file stays
        // (removing it would race with a process that just opened it).
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    const CHILD_DIR: &str = "MCUBENCH_LOCK_TEST_DIR";

    /// Not a test of its own: the body of the second process of
    /// `a_board_held_by_another_process_is_refused_naming_its_pid_and_run`. Run with
    /// `MCUBENCH_LOCK_TEST_DIR` set, it takes the board's lock, says so on stdout and holds it
    /// until its stdin is closed; without it (a normal test run) it does nothing.
    #[test]
    fn lock_holder_child_process() {
        let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
        let lock = BoardLock::acquire_for_run("nucleo-l4r5zi", Path::new(&dir), "run-of-the-child", Duration::ZERO).unwrap();
        println!("mcubench-lock-held-by {}", std::process::id());
        std::io::stdout().flush().unwrap();
        let mut rest = String::new();
        let _ = std::io::stdin().read_to_string(&mut rest);
        drop(lock);
    }

    #[test]
    fn a_board_held_by_another_process_is_refused_naming_its_pid_and_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "session::lock::tests::lock_holder_child_process", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let child_pid: u32 = loop {
            let line = lines.next().expect("the child exited before taking the lock").unwrap();
            // libtest may print its own words on the same line.
            if let Some(pid) = line.split("mcubench-lock-held-by ").nth(1) {
                break pid.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        assert_eq!(child_pid, child.id());

        let err = BoardLock::acquire_for_run("nucleo-l4r5zi", dir.path(), "run-2", Duration::ZERO).unwrap_err();
        match &err {
            LockError::Held { board, holder, waited } => {
                assert_eq!(board, "nucleo-l4r5zi");
                assert_eq!(holder.pid, Some(child_pid));
                assert_eq!(holder.run_id.as_deref(), Some("run-of-the-child"));
                assert_eq!(*waited, Duration::ZERO);
            }
            other => panic!("{other:?}"),
        }
        let text = err.to_string();
        assert!(text.starts_with(&format!("board 'nucleo-l4r5zi' is in use by process {child_pid}, run run-of-the-child")), "{text}");
        assert!(text.ends_with("; wait for it, or stop that run"), "{text}");
        // Another board is free meanwhile.
        let other = BoardLock::acquire("nucleo-h743zi", dir.path(), Duration::ZERO).unwrap();
        assert_eq!(other.board(), "nucleo-h743zi");

        // A waiting acquire gets the board once the child lets go (closing its stdin).
        let waiter = {
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || BoardLock::acquire_for_run("nucleo-l4r5zi", &dir, "run-3", Duration::from_secs(120)))
        };
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
        let held = waiter.join().unwrap().unwrap();
        let written = std::fs::read_to_string(held.path()).unwrap();
        assert!(written.starts_with(&format!("pid={}\nrun=run-3\n", std::process::id())), "{written}");
    }

    #[test]
    fn two_descriptors_of_one_process_exclude_each_other_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = BoardLock::acquire_for_run("f7", dir.path(), "run-1", Duration::ZERO).unwrap();
        let err = BoardLock::acquire("f7", dir.path(), Duration::ZERO).unwrap_err();
        assert!(matches!(&err, LockError::Held { holder, .. } if holder.pid == Some(std::process::id()) && holder.run_id.as_deref() == Some("run-1")), "{err:?}");
        drop(first);
        assert_eq!(std::fs::read_to_string(dir.path().join("f7.lock")).unwrap(), "", "a released lock names nobody");
        let again = BoardLock::acquire("f7", dir.path(), Duration::ZERO).unwrap();
        let holder = Holder::parse(&std::fs::read_to_string(again.path()).unwrap());
        assert_eq!((holder.pid, holder.run_id), (Some(std::process::id()), None));
    }

    #[test]
    fn board_names_that_are_not_file_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "..", ".", "a/b", "../etc", "a b"] {
            let err = BoardLock::acquire(bad, dir.path(), Duration::ZERO).unwrap_err();
            assert!(matches!(&err, LockError::BadName { board } if board == bad), "{bad}: {err:?}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was created");
    }

    #[test]
    fn a_lock_directory_that_cannot_be_made_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let err = BoardLock::acquire("f7", &file.join("locks"), Duration::ZERO).unwrap_err();
        assert!(matches!(err, LockError::Io { .. }), "{err:?}");
        assert!(err.to_string().starts_with("cannot use the lock file ") && err.to_string().contains("of board 'f7'"), "{err}");
    }

    #[test]
    fn the_lock_directory_is_the_runtime_dir_then_the_cache() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| PathBuf::from(v))
        };
        let all: &'static [(&str, &str)] = &[("XDG_RUNTIME_DIR", "/run/user/1000"), ("XDG_CACHE_HOME", "/c"), ("HOME", "/home/u")];
        assert_eq!(lock_dir_from(env(all)), Path::new("/run/user/1000/mcubench/locks"));
        assert_eq!(lock_dir_from(env(&[("XDG_RUNTIME_DIR", ""), ("XDG_CACHE_HOME", "/c")])), Path::new("/c/mcubench/locks"));
        assert_eq!(lock_dir_from(env(&[("HOME", "/home/u")])), Path::new("/home/u/.cache/mcubench/locks"));
        assert_eq!(lock_dir_from(env(&[])), std::env::temp_dir().join("mcubench-locks"));
    }

    #[test]
    fn holder_text_reads_back_and_an_empty_file_says_so() {
        let h = Holder::parse("pid=42\nrun=20260101-abc\nhost=farm1\n");
        assert_eq!(h.to_string(), "process 42, run 20260101-abc on farm1");
        assert_eq!(Holder::parse("").to_string(), "another process (it has not written its PID yet)");
        assert_eq!(Holder::parse("pid=7\nrun=\n").to_string(), "process 7");
    }
}
