//! The processes that git dependencies start (`git clone`, a preparation's `sh` and the nested
//! `npm install` it runs) must not outlive the install that started them.
//!
//! When one package fails, the install returns its error while other checkouts and
//! preparations may still be running on blocking threads. Left alone they would go on as
//! orphans after tack exits, and their scratch directories would stay in the temp dir. So
//! each command runs in a process group of its own, which [`GitJobs::cancel_and_wait`] can
//! signal whole (the shell and everything it started), and the install waits for the jobs to
//! end, which removes their scratch directories, before it reports the error.
//!
//! A group of its own is out of reach of the terminal's Ctrl-C, so while a command runs, tack
//! forwards `SIGINT`, `SIGTERM` and `SIGHUP` to its group before dying of the signal itself,
//! as it would have without a handler.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// How long cancelled jobs get to end after `SIGTERM`, then after `SIGKILL`.
const TERM_GRACE: Duration = Duration::from_secs(3);
const KILL_GRACE: Duration = Duration::from_secs(5);

/// The git jobs of one install: whether it was cancelled, the process groups running, and
/// how many jobs have not ended.
#[derive(Default)]
pub struct GitJobs {
    cancelled: AtomicBool,
    groups: Mutex<Vec<i32>>,
    running: Mutex<usize>,
    ended: Condvar,
}

/// One job's claim on [`GitJobs`]: the install's cancellation waits until it is dropped.
pub struct JobGuard<'a> {
    jobs: &'a GitJobs,
}

impl Drop for JobGuard<'_> {
    fn drop(&mut self) {
        let mut running = self.jobs.running.lock();
        *running = running.saturating_sub(1);
        self.jobs.ended.notify_all();
    }
}

impl GitJobs {
    /// Starts a job, or gives `None` once the install has been cancelled.
    pub fn start(&self) -> Option<JobGuard<'_>> {
        let mut running = self.running.lock();
        if self.cancelled.load(Ordering::Acquire) {
            return None;
        }
        *running += 1;
        Some(JobGuard { jobs: self })
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Runs `command` to its end in a process group of its own and collects its output, as
    /// `Command::output` does; a cancellation signals the whole group.
    pub fn output(&self, command: &mut Command) -> std::io::Result<Output> {
        command
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn()?;
        let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
        let readers = [
            child.stdout.take().map(|out| read_all(Box::new(out))),
            child.stderr.take().map(|err| read_all(Box::new(err))),
        ];
        let slot = {
            let mut groups = self.groups.lock();
            groups.push(pid);
            if self.is_cancelled() {
                signal_group(pid, libc::SIGKILL);
            }
            forwarded::add(pid)
        };
        // The child is not reaped until its group is forgotten, so that no signal can reach
        // a process that got its number afterwards.
        wait_unreaped(pid);
        {
            let mut groups = self.groups.lock();
            groups.retain(|&g| g != pid);
            forwarded::remove(slot);
        }
        let status = child.wait()?;
        let [stdout, stderr] = readers.map(|reader| {
            reader
                .and_then(|handle| handle.join().ok())
                .unwrap_or_default()
        });
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// Cancels the install's jobs: commands not started yet are not started, running ones
    /// get `SIGTERM` (then `SIGKILL`), and this returns once every job has ended or the
    /// grace periods are over.
    pub fn cancel_and_wait(&self) {
        {
            let _running = self.running.lock();
            self.cancelled.store(true, Ordering::Release);
        }
        for (signal, grace) in [(libc::SIGTERM, TERM_GRACE), (libc::SIGKILL, KILL_GRACE)] {
            for &pid in self.groups.lock().iter() {
                signal_group(pid, signal);
            }
            let deadline = Instant::now() + grace;
            let mut running = self.running.lock();
            while *running > 0 {
                if self.ended.wait_until(&mut running, deadline).timed_out() {
                    break;
                }
            }
            if *running == 0 {
                return;
            }
        }
    }
}

fn signal_group(pid: i32, signal: i32) {
    // SAFETY: `kill` has no memory-safety preconditions; a negative pid names a group.
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// Waits until `pid` has exited, leaving it a zombie for `Child::wait` to reap.
fn wait_unreaped(pid: i32) {
    loop {
        // SAFETY: `info` is a valid, writable `siginfo_t`; `waitid` writes nothing else.
        let rc = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

fn read_all(mut from: Box<dyn Read + Send>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        bytes
    })
}

/// The process groups a fatal signal to tack is passed on to. A signal handler may only
/// touch atomics, so this is a fixed table; the install runs at most two git jobs at a time.
mod forwarded {
    use super::*;

    const SLOTS: usize = 16;
    static GROUPS: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
    static HANDLER: Once = Once::new();
    const SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    /// Remembers `pid`'s group; gives its slot, or `None` when the table is full.
    pub(super) fn add(pid: i32) -> Option<usize> {
        HANDLER.call_once(install_handler);
        (0..SLOTS).find(|&slot| {
            GROUPS[slot]
                .compare_exchange(0, pid, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })
    }

    pub(super) fn remove(slot: Option<usize>) {
        if let Some(slot) = slot {
            GROUPS[slot].store(0, Ordering::Release);
        }
    }

    fn install_handler() {
        for signal in SIGNALS {
            // SAFETY: the handler only reads atomics and calls async-signal-safe functions
            // (`kill`, `signal`, `raise`).
            // A signal tack was started ignoring (`nohup`, a background job) stays ignored.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = forward as extern "C" fn(i32) as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(signal, &action, &mut old);
                if old.sa_sigaction == libc::SIG_IGN {
                    libc::sigaction(signal, &old, std::ptr::null_mut());
                }
            }
        }
    }

    extern "C" fn forward(signal: i32) {
        for group in &GROUPS {
            let pid = group.load(Ordering::Acquire);
            if pid > 0 {
                signal_group(pid, signal);
            }
        }
        // SAFETY: async-signal-safe calls; tack then ends as the signal's default action
        // would have ended it.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
}
