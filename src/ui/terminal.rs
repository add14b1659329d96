//! The terminal's echo of control characters, turned off while a live view draws.
//!
//! indicatif pads every bar line to the terminal's width, so the cursor rests in the last column
//! of the last bar. A Ctrl-C there is echoed as `^C`, which wraps the cursor onto a new line;
//! the next redraw then moves up one line too few and leaves the top bar (`step [ ] step 1/3 …`)
//! behind in the scrollback. With `ECHOCTL` off the terminal still sends SIGINT but prints
//! nothing. The setting is put back when the view ends and on every way out of the process
//! ([`restore`]), so the shell is left as it was.

use std::sync::Mutex;

/// The terminal (its fd) and its settings before [`quiet_control_echo`] changed them.
#[cfg(unix)]
static SAVED: Mutex<Option<(i32, libc::termios)>> = Mutex::new(None);

/// Turns off the echo of control characters on stderr's terminal (nothing when stderr is not
/// a terminal, or when the echo is already off).
pub fn quiet_control_echo() {
    #[cfg(unix)]
    quiet_control_echo_on(libc::STDERR_FILENO);
}

#[cfg(unix)]
fn quiet_control_echo_on(fd: i32) {
    {
        let Ok(mut saved) = SAVED.lock() else {
            return;
        };
        if saved.is_some() {
            return;
        }
        // SAFETY: tcgetattr/tcsetattr read and write a plain C struct we own, on fd 2.
        unsafe {
            if libc::isatty(fd) != 1 {
                return;
            }
            let mut current: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut current) != 0 || current.c_lflag & libc::ECHOCTL == 0 {
                return;
            }
            let mut quiet = current;
            quiet.c_lflag &= !libc::ECHOCTL;
            if libc::tcsetattr(fd, libc::TCSANOW, &quiet) == 0 {
                *saved = Some((fd, current));
            }
        }
    }
}

/// Puts the terminal back as [`quiet_control_echo`] found it (a no-op when it changed nothing).
pub fn restore() {
    #[cfg(unix)]
    {
        let Ok(mut saved) = SAVED.lock() else {
            return;
        };
        if let Some((fd, settings)) = saved.take() {
            // SAFETY: writes back the struct tcgetattr filled in.
            unsafe {
                libc::tcsetattr(fd, libc::TCSANOW, &settings);
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn echoctl(fd: i32) -> bool {
        // SAFETY: reads the settings of a pty this test opened.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            assert_eq!(libc::tcgetattr(fd, &mut t), 0);
            t.c_lflag & libc::ECHOCTL != 0
        }
    }

    /// On a pseudo-terminal with the usual settings (ECHOCTL on): off while the view draws,
    /// back on afterwards; a second call changes nothing.
    #[test]
    fn control_echo_is_off_while_drawing_and_restored_after() {
        let (mut leader, mut follower) = (0, 0);
        // SAFETY: openpty fills in two fds; null names, settings and size are allowed.
        let opened = unsafe {
            libc::openpty(
                &mut leader,
                &mut follower,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(opened, 0, "a pty");
        // SAFETY: sets ECHOCTL on the pty this test owns.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            libc::tcgetattr(follower, &mut t);
            t.c_lflag |= libc::ECHOCTL | libc::ECHO;
            libc::tcsetattr(follower, libc::TCSANOW, &t);
        }
        assert!(echoctl(follower));
        quiet_control_echo_on(follower);
        assert!(!echoctl(follower), "off while drawing");
        quiet_control_echo_on(follower);
        restore();
        assert!(echoctl(follower), "restored");
        restore();
        assert!(echoctl(follower), "a second restore changes nothing");
        // SAFETY: closes the fds openpty gave.
        unsafe {
            libc::close(follower);
            libc::close(leader);
        }
    }
}
