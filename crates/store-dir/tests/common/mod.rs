//! Shared test helpers: find (or install) real pnpm 12, build local `.tgz` packages, run
//! pnpm with an isolated home.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Real pnpm 12: `$TACK_TEST_PNPM`, else `<repo>/.tools/pnpm12/node_modules/.bin/pnpm`,
/// installed there with npm when missing (tests never skip for a missing tool).
pub fn pnpm() -> PathBuf {
    if let Ok(p) = std::env::var("TACK_TEST_PNPM") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let prefix = root.join(".tools/pnpm12");
    let bin = prefix.join("node_modules/.bin/pnpm");
    if !bin.exists() {
        let status = Command::new("npm")
            .arg("install")
            .arg("--prefix")
            .arg(&prefix)
            .arg("pnpm@12.21.0")
            .status()
            .expect("run npm to install pnpm 12");
        assert!(status.success(), "npm install pnpm@12.21.0 failed");
    }
    bin
}

/// A package to pack: `package.json` text and files `(path, content, executable)`.
pub struct Pkg<'a> {
    pub manifest: &'a str,
    pub files: &'a [(&'a str, &'a [u8], bool)],
}

/// Write `pkg` under a `package/` dir and `tar czf` it to `out`.
pub fn pack(pkg: &Pkg<'_>, out: &Path) {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("package");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("package.json"), pkg.manifest).unwrap();
    for (path, content, exec) in pkg.files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = if *exec { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let status = Command::new("tar")
        .arg("czf")
        .arg(out)
        .arg("package")
        .current_dir(work.path())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Run pnpm in `project` with an isolated home and the given store; panics with its
/// output on failure.
pub fn run_pnpm(home: &Path, project: &Path, store: &Path, args: &[&str]) -> String {
    let out = Command::new(pnpm())
        .args(args)
        .arg("--store-dir")
        .arg(store)
        .current_dir(project)
        .env("HOME", home)
        .env_remove("PNPM_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        .env("npm_config_update_notifier", "false")
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pnpm {args:?} failed:\n{text}");
    text
}

/// Two sample packages: one with an executable bin, one scoped with nested files.
pub fn sample_packages(dir: &Path) {
    pack(
        &Pkg {
            manifest: r#"{"name":"local-a","version":"1.2.3","bin":{"local-a":"bin/cli.js"},"license":"MIT"}"#,
            files: &[
                (
                    "bin/cli.js",
                    b"#!/usr/bin/env node\nconsole.log('a')\n",
                    true,
                ),
                ("index.js", b"module.exports = 'a'\n", false),
                ("LICENSE", b"MIT shared license text\n", false),
            ],
        },
        &dir.join("local-a-1.2.3.tgz"),
    );
    pack(
        &Pkg {
            manifest: r#"{"name":"@scope/local-b","version":"0.1.0","main":"lib/main.js"}"#,
            files: &[
                ("lib/main.js", b"module.exports = 'b'\n", false),
                ("lib/data/big.bin", &[9u8; 200_000], false),
                ("LICENSE", b"MIT shared license text\n", false),
            ],
        },
        &dir.join("local-b.tgz"),
    );
}

pub const SAMPLE_DEPS: &str = r#"{"name":"proj","version":"1.0.0","dependencies":{"local-a":"file:../pkgs/local-a-1.2.3.tgz","@scope/local-b":"file:../pkgs/local-b.tgz"}}"#;

/// A minimal HTTP/1.1 file server on 127.0.0.1 for tarball URLs; stops when dropped.
pub struct FileServer {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl FileServer {
    pub fn start(dir: &Path) -> Self {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let dir = dir.to_owned();
        let stop2 = stop.clone();
        let handle = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/");
                let file = dir.join(path.trim_start_matches('/'));
                let response = match std::fs::read(&file) {
                    Ok(body) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(&body);
                        r
                    }
                    Err(_) => {
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = conn.write_all(&response);
            }
        });
        FileServer {
            addr,
            stop,
            handle: Some(handle),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop.
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
