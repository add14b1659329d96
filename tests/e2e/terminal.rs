//! What a person sees in the terminal when they press Ctrl-C during `canary`'s live view.
//!
//! The real binary runs on a pseudo-terminal set up as a shell leaves it (ECHO, ECHOCTL, ISIG,
//! ICANON, 120x30). It is the session leader and the terminal's foreground group, so the 0x03
//! this test types becomes a SIGINT, and the terminal echoes it as a user's would. Everything the
//! binary writes is fed to an xterm-accurate emulator with scrollback (alacritty_terminal); the
//! checks read its screen and scrollback.
//!
//! Issue 15, item 4: the echo of `^C` landed in the last column, where indicatif leaves the cursor
//! after a redraw (it pads each bar line to the full width). The echo wrapped the cursor onto a
//! new line, the next redraw went up one line too few, and the top bar (`step [ ] step 1/3 …`)
//! was left in the scrollback. The fix turns ECHOCTL off while the view draws
//! (`src/ui/terminal.rs`).
//!
//! The colours are drawn (NO_COLOR is unset, TERM=xterm-256color), as on a user's terminal.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use alacritty_terminal::event::VoidListener;
use alacritty_terminal::grid::Dimensions;
use alacritty_terminal::index::{Column, Line};
use alacritty_terminal::term::cell::Flags;
use alacritty_terminal::term::{Config, Term};
use alacritty_terminal::vte::ansi::Processor;

use crate::canary::{CANARY, Env, FAST, LENIENT, healthy};
use crate::prom;

const COLS: u16 = 120;
const ROWS: u16 = 30;

struct Size {
    cols: usize,
    rows: usize,
}

impl Dimensions for Size {
    fn total_lines(&self) -> usize {
        self.rows
    }
    fn screen_lines(&self) -> usize {
        self.rows
    }
    fn columns(&self) -> usize {
        self.cols
    }
}

/// A terminal emulator with scrollback, fed bytes as a terminal receives them.
struct Screen {
    term: Term<VoidListener>,
    parser: Processor,
}

impl Screen {
    fn new(cols: u16, rows: u16) -> Screen {
        let size = Size {
            cols: cols.into(),
            rows: rows.into(),
        };
        Screen {
            term: Term::new(Config::default(), &size, VoidListener),
            parser: Processor::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.parser.advance(&mut self.term, bytes);
    }

    /// Every line, the scrollback first, trailing blanks trimmed.
    fn lines(&self) -> Vec<String> {
        let grid = self.term.grid();
        (grid.topmost_line().0..=grid.bottommost_line().0)
            .map(|line| {
                let row = &grid[Line(line)];
                let text: String = (0..grid.columns())
                    .map(|col| &row[Column(col)])
                    .filter(|cell| {
                        !cell
                            .flags
                            .intersects(Flags::WIDE_CHAR_SPACER | Flags::LEADING_WIDE_CHAR_SPACER)
                    })
                    .map(|cell| cell.c)
                    .collect();
                text.trim_end().to_string()
            })
            .collect()
    }

    /// The line on screen (0 = top), trailing blanks trimmed.
    fn row(&self, row: i32) -> String {
        let lines = self.lines();
        lines[lines.len() - usize::from(ROWS) + row as usize].clone()
    }
}

/// The emulator itself follows xterm at the last column: the cursor stays there with a pending
/// wrap; a cursor movement (CR, CUU, CUP) clears it, and only another glyph wraps. indicatif's
/// redraws and the `^C` defect both depend on this. (vt100 0.16 gets CUU wrong: it keeps the
/// wrap pending, so the next glyph lands on the line below.)
#[test]
fn the_emulator_wraps_at_the_last_column_as_xterm_does() {
    let full = "x".repeat(usize::from(COLS));
    // CR after the last column: back to the start of the same line.
    let mut s = Screen::new(COLS, ROWS);
    s.feed(format!("{full}\ra").as_bytes());
    assert_eq!(s.row(0), format!("a{}", &full[1..]));
    assert_eq!(s.row(1), "");
    // CUU after the last column: one line up, still in the last column, no wrap pending.
    let mut s = Screen::new(COLS, ROWS);
    s.feed(format!("\r\n{full}\x1b[1Ay").as_bytes());
    assert_eq!(s.row(0), format!("{}y", " ".repeat(usize::from(COLS) - 1)));
    assert_eq!(s.row(1), full);
    assert_eq!(s.row(2), "", "CUU cleared the pending wrap");
    // CUP after the last column: exactly where it says.
    let mut s = Screen::new(COLS, ROWS);
    s.feed(format!("{full}\x1b[5;120Hz").as_bytes());
    assert_eq!(s.row(4), format!("{}z", " ".repeat(usize::from(COLS) - 1)));
    assert_eq!(s.row(5), "");
    // Another glyph after the last column wraps: the echo of `^C` there starts a new line.
    let mut s = Screen::new(COLS, ROWS);
    s.feed(format!("{full}^C").as_bytes());
    assert_eq!(s.row(0), full);
    assert_eq!(s.row(1), "^C");
    // At the bottom of the screen that wrap scrolls the top line into the scrollback.
    let mut s = Screen::new(COLS, ROWS);
    s.feed(format!("top{}{full}^C", "\r\n".repeat(usize::from(ROWS) - 1)).as_bytes());
    assert_eq!(s.lines()[0], "top", "scrolled into the scrollback");
    assert_eq!(s.row(i32::from(ROWS) - 1), "^C");
}

/// A pseudo-terminal: the leader (the terminal's side) and the follower (the program's side).
struct Pty {
    leader: OwnedFd,
    follower: OwnedFd,
}

fn check(what: &str, rc: i32) {
    assert!(rc >= 0, "{what}: {}", std::io::Error::last_os_error());
}

/// A 120x30 pseudo-terminal with the settings a shell leaves: canonical input, echo, control
/// characters echoed as `^C`, signals from the keyboard.
fn open_pty() -> Pty {
    let (mut leader, mut follower) = (0, 0);
    let size = libc::winsize {
        ws_row: ROWS,
        ws_col: COLS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty fills in two fds; a null name and null settings are allowed.
    let opened = unsafe {
        libc::openpty(
            &mut leader,
            &mut follower,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    check("openpty", opened);
    // SAFETY: both fds were just opened by openpty and are owned here alone.
    let pty = unsafe {
        Pty {
            leader: OwnedFd::from_raw_fd(leader),
            follower: OwnedFd::from_raw_fd(follower),
        }
    };
    let fd = pty.follower.as_raw_fd();
    // SAFETY: fcntl, tcgetattr, tcsetattr and ioctl on fds owned here, with structs owned here.
    unsafe {
        // Other tests of this binary spawn processes at the same time: none may inherit the pty,
        // or its leader would never see the end of the output.
        for fd in [leader, follower] {
            check(
                "FD_CLOEXEC",
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC),
            );
        }
        let mut t: libc::termios = std::mem::zeroed();
        check("tcgetattr", libc::tcgetattr(fd, &mut t));
        t.c_iflag |= libc::ICRNL;
        t.c_oflag |= libc::OPOST | libc::ONLCR;
        t.c_lflag |= libc::ECHO
            | libc::ECHOE
            | libc::ECHOK
            | libc::ECHOCTL
            | libc::ECHOKE
            | libc::ISIG
            | libc::ICANON
            | libc::IEXTEN;
        t.c_cc[libc::VINTR] = 0x03;
        check("tcsetattr", libc::tcsetattr(fd, libc::TCSANOW, &t));
        check("TIOCSWINSZ", libc::ioctl(fd, libc::TIOCSWINSZ, &size));
    }
    pty
}

fn echoctl(fd: &OwnedFd) -> bool {
    // SAFETY: reads the settings of a pty this test opened into a struct it owns.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        check("tcgetattr", libc::tcgetattr(fd.as_raw_fd(), &mut t));
        t.c_lflag & libc::ECHOCTL != 0
    }
}

/// The binary running on a pseudo-terminal, its output read into a [`Screen`] on a thread.
struct Session {
    child: Child,
    pty: Pty,
    screen: Arc<Mutex<Screen>>,
    /// Told when the reader saw the end of the output (every follower closed).
    done: mpsc::Receiver<()>,
}

impl Session {
    fn start(mut cmd: Command) -> Session {
        let pty = open_pty();
        let io = || Stdio::from(pty.follower.try_clone().expect("a copy of the follower"));
        cmd.stdin(io())
            .stdout(io())
            .stderr(io())
            .env_remove("CI")
            .env_remove("GITHUB_ACTIONS")
            .env("TERM", "xterm-256color");
        // SAFETY: only async-signal-safe calls between fork and exec. A new session, and the
        // pty (already on fd 0) as its controlling terminal: the child is the foreground group.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("the binary starts");
        let screen = Arc::new(Mutex::new(Screen::new(COLS, ROWS)));
        let (tell, done) = mpsc::channel();
        let mut leader = std::fs::File::from(pty.leader.try_clone().expect("a copy of the leader"));
        let feed = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // EIO once every follower is closed.
            while let Ok(n @ 1..) = leader.read(&mut buf) {
                feed.lock().unwrap().feed(&buf[..n]);
            }
            let _ = tell.send(());
        });
        Session {
            child,
            pty,
            screen,
            done,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.screen.lock().unwrap().lines()
    }

    /// Polls the screen until `shown` holds; fails (killing the child) after `timeout`.
    fn wait_for(&mut self, timeout: Duration, what: &str, shown: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + timeout;
        while !shown(&self.lines()) {
            if Instant::now() > deadline || self.child.try_wait().ok().flatten().is_some() {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("never shown: {what}; the terminal:\n{}", self.dump());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types Ctrl-C.
    fn ctrl_c(&self) {
        let mut leader = std::fs::File::from(self.pty.leader.try_clone().expect("the leader"));
        leader.write_all(&[0x03]).expect("Ctrl-C typed");
    }

    /// The exit code, within `timeout` (the child is killed and the test fails after it).
    fn exit_code(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "still running {timeout:?} after Ctrl-C; the terminal:\n{}",
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Closes the program's side and returns every line once the reader has read the rest.
    fn close(self) -> Vec<String> {
        let Session {
            pty, screen, done, ..
        } = self;
        drop(pty.follower);
        // Bounded: a stray copy of the follower elsewhere would keep the reader waiting.
        let _ = done.recv_timeout(Duration::from_secs(5));
        screen.lock().unwrap().lines()
    }

    fn dump(&self) -> String {
        numbered(&self.lines())
    }
}

fn numbered(lines: &[String]) -> String {
    lines
        .iter()
        .enumerate()
        .skip_while(|(_, l)| l.is_empty())
        .map(|(i, l)| format!("{i:>4}|{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A line of the live view: one of its bars or its pods line.
fn is_view_line(line: &str) -> bool {
    let line = line.trim_start();
    ["step [", "pause [", "scaling [", "rollout [", "pods canary"]
        .iter()
        .any(|start| line.starts_with(start))
}

/// Runs a canary on the terminal, waits until `ready` is on screen, types Ctrl-C and checks
/// what is left: no line of the live view, no `^C`, the interrupt's lines and the report, the
/// terminal's settings as they were.
async fn ctrl_c_leaves_a_clean_terminal(
    ns: &str,
    canary: simcluster::PodBehavior,
    what: &str,
    ready: impl Fn(&[String]) -> bool,
) {
    let env = Env::start(ns, canary, true).await;
    let prom = &prom::shared().prometheus;
    let mut cmd = env.canary(
        &prom.url,
        &["deploy/web", "--image", CANARY, "--pause", "60s"],
    );
    cmd.args(FAST).args(LENIENT).args(["-o", "table"]);
    let mut session = Session::start(cmd);
    assert!(echoctl(&session.pty.follower), "ECHOCTL on to begin with");
    session.wait_for(Duration::from_secs(30), what, ready);
    session.ctrl_c();
    let code = session.exit_code(Duration::from_secs(20));
    let echoctl_after = echoctl(&session.pty.follower);
    let lines = session.close();
    let shown = numbered(&lines);
    let mut wrong = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if is_view_line(line) {
            wrong.push(format!("line {i} is left from the live view: {line:?}"));
        }
        if line.contains("^C") {
            wrong.push(format!("line {i} shows the echo of Ctrl-C: {line:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\nthe terminal:\n{shown}",
        wrong.join("\n")
    );
    assert_eq!(code, 130, "the terminal:\n{shown}");
    for expected in [
        "interrupted: restoring the stable and removing the canary",
        "aborted safely",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(expected)),
            "{expected:?} not shown; the terminal:\n{shown}"
        );
    }
    assert!(echoctl_after, "ECHOCTL is back on after the exit");
    env.assert_restored();
}

/// Ctrl-C while the step's canary pod is coming up: the view shows the step bar and `scaling`.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_the_step_scales_leaves_no_bar_in_the_scrollback() {
    let slow = simcluster::PodBehavior {
        ready_after: Duration::from_secs(20),
        ..healthy()
    };
    ctrl_c_leaves_a_clean_terminal(
        "term-scaling",
        slow,
        "the step bar and the canary's pods coming up",
        |lines| {
            lines
                .iter()
                .any(|l| l.contains("step [") && l.contains("step 1/"))
                && lines.iter().any(|l| l.contains("scaling ["))
        },
    )
    .await;
}

/// Ctrl-C while the pause counts down.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_the_pause_countdown_leaves_no_bar_in_the_scrollback() {
    ctrl_c_leaves_a_clean_terminal("term-pause", healthy(), "the pause countdown", |lines| {
        lines
            .iter()
            .any(|l| l.contains("pause [") && l.contains(" left of "))
    })
    .await;
}
