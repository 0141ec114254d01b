//! `hookgate serve` as a child process pinned to one CPU, and the pinning itself.
//!
//! One mechanism pins everything: `sched_setaffinity`, called by the load generator's thread
//! for itself and, in a `pre_exec`, by the server's child process before it runs `hookgate`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The CPU the server runs on.
pub const SERVER_CPU: usize = 0;
/// The CPU the load generator runs on.
pub const LOAD_CPU: usize = 1;

/// Pins the calling thread (in a `pre_exec`: the child about to run `hookgate`) to one CPU.
pub fn pin_to_cpu(cpu: usize) -> std::io::Result<()> {
    // SAFETY: sched_setaffinity reads a cpu_set_t built here; it allocates nothing and is
    // async-signal-safe, so it may run between fork and exec.
    let done = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The binary under test: `HOOKGATE_BIN`, else the one cargo built beside this bench.
pub fn binary_under_test() -> PathBuf {
    std::env::var_os("HOOKGATE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_hookgate").into())
}

/// A `hookgate serve` child process on a free port, killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    /// Starts `bin serve` pinned to [`SERVER_CPU`] and waits until it accepts connections.
    /// `bench_endpoints` sets `HOOKGATE_BENCH_ENDPOINTS` (a binary built without the
    /// `bench-endpoints` feature refuses to start with it).
    pub fn start(bin: &Path, env: &[(&str, String)], dir: &Path, bench_endpoints: bool) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .current_dir(dir)
            .env("HOOKGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("HOOKGATE_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if bench_endpoints {
            cmd.env("HOOKGATE_BENCH_ENDPOINTS", "true");
        }
        // SAFETY: the closure only makes one async-signal-safe system call.
        unsafe { cmd.pre_exec(|| pin_to_cpu(SERVER_CPU)) };
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let mut server = Server { child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "{} exited at start-up ({status}); its error is above",
                    bin.display()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "hookgate did not start within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
