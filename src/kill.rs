//! Running `tack` as a child the test can interrupt: spawn an install against a chosen store,
//! kill it with SIGKILL or send it SIGINT/SIGTERM after a delay, and wait for any run with a
//! deadline so a hang fails the test instead of stalling the suite.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::project::TestProject;

/// `tack install --frozen-lockfile --store-dir <store> <extra>` in `project`, not started.
pub fn install_command(project: &TestProject, store: &Path, extra: &[&str]) -> Command {
    let mut cmd = project.command(&crate::tack_bin());
    cmd.args(["install", "--frozen-lockfile"])
        .arg("--store-dir")
        .arg(store)
        .args(extra);
    cmd
}

/// `tack store <sub> --store-dir <store>` in `project`, not started.
pub fn store_command(project: &TestProject, store: &Path, sub: &str) -> Command {
    let mut cmd = project.command(&crate::tack_bin());
    cmd.args(["store", sub]).arg("--store-dir").arg(store);
    cmd
}

/// What a run with a deadline produced.
#[derive(Debug)]
pub struct Finished {
    /// `None` when the deadline passed and the child was killed.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }

    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Both streams, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status {:?} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// A started child whose output is drained on threads (so a full pipe never blocks it).
pub struct Running {
    child: Child,
    started: Instant,
    out: Option<JoinHandle<String>>,
    err: Option<JoinHandle<String>>,
}

fn drain(stream: Option<impl Read + Send + 'static>) -> Option<JoinHandle<String>> {
    stream.map(|mut s| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = s.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    })
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Running {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn tack");
        let out = drain(child.stdout.take());
        let err = drain(child.stderr.take());
        Running {
            child,
            started: Instant::now(),
            out,
            err,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// True when the child has already exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Sends `signal` (e.g. `libc::SIGINT`) unless the child already exited.
    pub fn signal(&mut self, signal: i32) {
        if !self.exited() {
            // SAFETY: kill(2) on our own child's pid; the child is not reaped yet, so the pid
            // cannot have been reused.
            unsafe {
                libc::kill(self.pid(), signal);
            }
        }
    }

    /// Waits until the child exits or `timeout` passes (then SIGKILLs it).
    pub fn wait(mut self, timeout: Duration) -> Finished {
        let deadline = self.started + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("wait for tack: {e}"),
            }
        };
        let elapsed = self.started.elapsed();
        let join = |h: Option<JoinHandle<String>>| {
            h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
        };
        Finished {
            status,
            stdout: join(self.out.take()),
            stderr: join(self.err.take()),
            elapsed,
        }
    }
}

/// Runs `cmd` to completion with a deadline.
pub fn run(cmd: Command, timeout: Duration) -> Finished {
    Running::spawn(cmd).wait(timeout)
}

/// Starts `cmd`, SIGKILLs it after `delay` (if still running), and reaps it. Returns true when
/// the kill landed (the child was still running).
pub fn kill_after(cmd: Command, delay: Duration) -> bool {
    let mut running = Running::spawn(cmd);
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if running.exited() {
            running.wait(Duration::from_secs(1));
            return false;
        }
        std::thread::sleep(
            Duration::from_millis(1).min(deadline.saturating_duration_since(Instant::now())),
        );
    }
    let landed = !running.exited();
    running.signal(libc::SIGKILL);
    running.wait(Duration::from_secs(10));
    landed
}
